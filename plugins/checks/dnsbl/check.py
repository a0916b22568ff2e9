"""check_dnsbl's machinery: the lists' answers folded per list, the states, the output.

Loaded by the command (``command``) only after its options are parsed.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nagiosplugin

if TYPE_CHECKING:
    from isp_plugins.checks.dnsbl.command import Options

from isp_plugins.runtime.contexts import ReportSummary
from isp_plugins.runtime.deadline import session_deadline
from isp_plugins.runtime.failures import Failure, FailureContext, failure_metric
from isp_plugins.runtime.text import plural, sanitize
from isp_plugins.sources import logtail
from isp_plugins.sources.dnsbl import answers, lookup
from isp_plugins.sources.dnsbl.lists import WEIGHT, BlockList
from isp_plugins.sources.dnsbl.names import Target, parse_address
from isp_plugins.sources.logtail import default_state_dir

NAME = "dnsbl"
STATE_PREFIX = "check_dnsbl"
#: Characters of a TXT reason shown in the long output.
REASON_LIMIT = 200
#: Listed addresses named on the status line (Nagios 3 keeps 4 KB of a plugin's output).
STATUS_LISTED = 5
#: Listings named in the long output (a /24 on a wildcard list would be 256 lines).
LISTINGS_SHOWN = 50
LISTED, UNLISTED, TARGET = "listed-test", "unlisted-test", "target"


def test_target(point: str) -> Target:
    """A test point as a Target: an address (127.0.0.2) or a domain ('test', 'dbltest.com')."""
    try:
        return parse_address(point)[0]
    except ValueError:
        return Target(point, "domain", point)


@dataclass
class ListResult:
    """Everything one list answered this run."""

    blocklist: BlockList
    queries: int = 0  # questions about targets
    answered: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    error: str = ""  # the first error answer, in words
    #: ok, wildcard or broken (from the test points, answered now or kept), untested (no answer)
    health: str = ""
    health_reason: str = ""
    tested: dict[str, bool] = field(default_factory=dict)  # test point kind -> listed
    seconds: float = 0.0
    slowest: float = 0.0
    listings: list[tuple[Target, answers.Verdict, tuple[str, ...]]] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """Its answers count: it passed its test and answered no error."""
        return self.health == "ok" and not self.error

    @property
    def problem(self) -> str:
        """Why its answers are ignored ('' when they count): broken, lists everything, error."""
        if self.error:
            return self.error
        if self.health in ("wildcard", "broken"):
            return self.health_reason
        return ""

    @property
    def silent(self) -> bool:
        """It left questions without an answer (timeouts, SERVFAIL, the deadline)."""
        return bool(self.failures) or self.health == "untested"


class Tally:
    """Folds the replies into one ListResult per list as they come (memory flat in queries)."""

    def __init__(self, blocklists: tuple[BlockList, ...]) -> None:
        self.results = {b.zone: ListResult(b) for b in blocklists}
        self.any_answer = False

    def want_text(self, job: lookup.Job, codes: tuple[str, ...]) -> bool:
        """The TXT reason of a listing, unless the list is already known to list everything."""
        kind, _ = job.tag
        result = self.results[job.zone]
        if kind != TARGET or result.tested.get(UNLISTED) or result.error:
            return False
        return bool(answers.classify(result.blocklist, codes).listings)

    def add(self, reply: lookup.Reply) -> None:
        kind, target = reply.job.tag
        result = self.results[reply.job.zone]
        if reply.status == "answer":
            self.any_answer = True
            result.seconds += reply.seconds
            result.slowest = max(result.slowest, reply.seconds)
        if kind != TARGET:
            self._test(result, kind, target, reply)
            return
        result.queries += 1
        if reply.status != "answer":
            result.failures[reply.status] += 1
            return
        result.answered += 1
        verdict = answers.classify(result.blocklist, reply.codes)
        if verdict.error:
            result.error = result.error or verdict.error
        elif verdict.listings:
            result.listings.append((target, verdict, reply.texts))

    def _test(self, result: ListResult, kind: str, point: Target, reply: lookup.Reply) -> None:
        if reply.status != "answer":
            result.failures[reply.status] += 1
            return
        listed, error = answers.lists_test_point(result.blocklist, reply.codes)
        if error:
            result.error = result.error or error
        result.tested[kind] = listed

    def settle(self, cached: dict[str, Any]) -> None:
        """Each list's health from its test points answered now, else from ``cached``."""
        for result in self.results.values():
            listed_point, unlisted_point = result.blocklist.test_points()
            if LISTED in result.tested and UNLISTED in result.tested:
                if result.tested[UNLISTED]:
                    result.health = "wildcard"
                    result.health_reason = (
                        f"lists everything (its never-listed test point {unlisted_point} is listed)"
                    )
                elif not result.tested[LISTED]:
                    result.health = "broken"
                    result.health_reason = (
                        f"broken: does not list its test point {listed_point} (a dead list?)"
                    )
                else:
                    result.health = "ok"
            elif result.blocklist.zone in cached:
                saved = cached[result.blocklist.zone]
                result.health, result.health_reason = saved["health"], saved["reason"]
            else:
                result.health = "untested"


@dataclass
class Report:
    results: list[ListResult]
    targets: tuple[Target, ...]
    seconds: float
    nameservers: list[tuple[str, int]]
    tested_now: int
    any_answer: bool

    def entries(self) -> list[tuple[Target, ListResult, answers.Listing, tuple[str, ...]]]:
        """Every listing of the usable lists: target by target (in the order given), then list
        by list (in the order asked), whatever order the answers came in."""
        order = {(t.kind, t.key): index for index, t in enumerate(self.targets)}
        found = [
            (order.get((target.kind, target.key), -1), position, target, result, listing, texts)
            for position, result in enumerate(self.results)
            if result.usable
            for target, verdict, texts in result.listings
            for listing in verdict.listings
        ]
        found.sort(key=lambda entry: entry[:2])
        return [entry[2:] for entry in found]

    def listed(self, severities: tuple[str, ...]) -> dict[str, list[tuple[ListResult, Any]]]:
        """Target text -> [(list, listing)] of the usable lists' listings of those severities."""
        found: dict[str, list[tuple[ListResult, Any]]] = {}
        for target, result, listing, _ in self.entries():
            if listing.severity in severities:
                found.setdefault(target.text, []).append((result, listing))
        return found

    def count(self, severity: str) -> int:
        return sum(1 for _, _, listing, _ in self.entries() if listing.severity == severity)

    @property
    def weighted(self) -> int:
        return sum(WEIGHT[s] * self.count(s) for s in WEIGHT)

    @property
    def counted(self) -> list[ListResult]:
        """The lists whose answers count: usable, and they answered some of the questions."""
        return [r for r in self.results if r.usable and (r.answered or not r.queries)]

    @property
    def checked(self) -> list[ListResult]:
        return [r for r in self.results if r.usable and not r.silent]

    @property
    def failed(self) -> list[ListResult]:
        return [r for r in self.results if not (r.usable and not r.silent)]


class Dnsbl(nagiosplugin.Resource):  # type: ignore[misc]
    def __init__(self, options: Options) -> None:
        self.options = options
        self.report: Report | None = None

    @property
    def name(self) -> str:
        return NAME.upper()

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        started = time.monotonic()
        options = self.options
        try:
            nameservers = list(options.resolvers) or lookup.system_nameservers()
            cached = self._cached() if options.retest > 0 else {}
        except lookup.ResolverError as exc:
            yield failure_metric(Failure(nagiosplugin.Unknown, str(exc)))
            return
        except logtail.StateError as exc:
            yield failure_metric(Failure(nagiosplugin.Unknown, sanitize(str(exc))))
            return
        tally = Tally(options.blocklists)
        untested = [b for b in options.blocklists if b.zone not in cached]
        budget = session_deadline(options.timeout) - (time.monotonic() - started)
        try:
            lookup.run_jobs(
                self._jobs(untested),
                nameservers,
                options.query_timeout,
                options.retries,
                budget,
                tally.want_text,
                tally.add,
            )
        except lookup.ResolverError as exc:
            yield failure_metric(Failure(nagiosplugin.Unknown, str(exc)))
            return
        tally.settle(cached)
        report = Report(
            list(tally.results.values()),
            options.targets,
            time.monotonic() - started,
            nameservers,
            len(untested),
            tally.any_answer,
        )
        self.report = report
        try:
            if options.retest > 0:
                self._save(report, cached)
        except logtail.StateError as exc:
            self.report = None
            yield failure_metric(Failure(nagiosplugin.Unknown, sanitize(str(exc))))
            return
        yield from self._metrics(report)

    def _jobs(self, untested: list[BlockList]) -> Iterator[lookup.Job]:
        """The test points of the lists to test first, then each target on each list that
        takes its kind, target by target: a dead list shows early and is given up on."""
        for blocklist in untested:
            listed, unlisted = blocklist.test_points()
            for kind, point in ((LISTED, listed), (UNLISTED, unlisted)):
                target = test_target(point)
                yield lookup.Job(blocklist.zone, target.query(blocklist.asked), (kind, target))
        for target in self.options.targets:
            for blocklist in self.options.blocklists:
                if target.kind in blocklist.kinds:
                    job = lookup.Job(
                        blocklist.zone, target.query(blocklist.asked), (TARGET, target)
                    )
                    yield job

    # -- test results kept between runs --------------------------------------------------
    def _state_path(self) -> str:
        directory = self.options.state_dir or default_state_dir()
        return os.path.join(directory, f"{STATE_PREFIX}.test-points.json")

    def _key(self, blocklist: BlockList) -> str:
        """A list's entry: its zone and the resolvers asked (a list may refuse one resolver and
        answer another). The DQS key never goes into the file: "(dqs)" stands for it."""
        via = ",".join(f"{host}:{port}" for host, port in self.options.resolvers) or "resolv.conf"
        return f"{blocklist.zone}{' (dqs)' if blocklist.query_zone else ''} via {via}"

    def _cached(self) -> dict[str, Any]:
        saved = logtail.read_json(self._state_path())
        lists = saved.get("lists") if isinstance(saved, dict) else None
        now = time.time()
        found = {}
        for blocklist in self.options.blocklists:
            entry = lists.get(self._key(blocklist)) if isinstance(lists, dict) else None
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("at"), (int, float))
                and 0 <= now - entry["at"] < self.options.retest
                and entry.get("health") in ("ok", "wildcard", "broken")
                and isinstance(entry.get("reason"), str)
            ):
                found[blocklist.zone] = entry
        return found

    def _save(self, report: Report, cached: dict[str, Any]) -> None:
        if not report.tested_now:
            return  # every list's test came from the file: nothing new to write
        path = self._state_path()
        saved = logtail.read_json(path)
        lists = (
            dict(saved["lists"])
            if isinstance(saved, dict) and isinstance(saved.get("lists"), dict)
            else {}
        )
        now = time.time()
        for result in report.results:
            if result.blocklist.zone in cached or result.health not in ("ok", "wildcard", "broken"):
                continue  # untested lists are tested again next run
            lists[self._key(result.blocklist)] = {
                "at": now,
                "health": result.health,
                "reason": result.health_reason,
            }
        logtail.write_json(path, {"lists": lists})

    # -- metrics and text ------------------------------------------------------------------
    def _metrics(self, report: Report) -> Iterator[nagiosplugin.Metric]:
        listed = report.listed(("critical", "warning"))
        yield nagiosplugin.Metric("listed_addresses", len(listed), min=0, context="counts")
        yield nagiosplugin.Metric("listings", report.weighted, min=0, context="listings")
        yield nagiosplugin.Metric("lists_checked", len(report.checked), min=0, context="counts")
        yield nagiosplugin.Metric("lists_failed", len(report.failed), min=0, context="counts")
        yield nagiosplugin.Metric("time", round(report.seconds, 3), "s", min=0, context="counts")
        yield nagiosplugin.Metric("critical_listings", report.count("critical"), context="critical")
        yield nagiosplugin.Metric("warning_listings", report.count("warning"), context="warning")
        problems = sum(1 for r in report.results if r.problem)
        yield nagiosplugin.Metric("list_problems", problems, context="problems")
        blind = not report.any_answer or not report.counted
        yield nagiosplugin.Metric("blind", int(blind), context="blind")

    def _noun(self) -> str:
        kinds = {t.kind for t in self.options.targets}
        if kinds == {"domain"}:
            return "domains"
        return "addresses and domains" if "domain" in kinds else "addresses"

    def summary_text(self) -> str:
        assert self.report is not None
        report = self.report
        total = len(report.targets)
        noun = self._noun()
        if not report.any_answer:
            where = ", ".join(f"{host}:{port}" for host, port in report.nameservers)
            failures: Counter[str] = Counter()
            for result in report.results:
                failures.update(result.failures)
            why = ", ".join(failure_text(status, n) for status, n in failures.most_common(2))
            return f"no answer from the resolver {where} ({why})"
        clauses = []
        listed = report.listed(("critical", "warning"))
        for target, found in list(listed.items())[:STATUS_LISTED]:
            names = []
            for result, listing in found:
                text = sanitize(result.blocklist.zone)
                if len(result.blocklist.codes) > 1:
                    text += f" ({listing.meaning})"
                if text not in names:
                    names.append(text)
            clauses.append(f"{sanitize(target)} listed on {', '.join(names)}")
        if len(listed) > STATUS_LISTED:
            clauses.append(f"... and {len(listed) - STATUS_LISTED} more (long output)")
        lists_total = len(report.results)
        if listed:
            if total == 1:
                noun = {"addresses": "address", "domains": "domain"}[noun]
            clauses.append(f"{len(listed)} of {total} {noun} listed")
        elif report.counted:
            what = sanitize(report.targets[0].text) if total == 1 else f"{total} {noun}"
            clauses.append(f"{what} not listed on {plural(len(report.counted), 'list')}")
        else:
            clauses.append(f"no list could be used: {len(report.failed)} of {lists_total} failed")
        weighted = report.weighted
        for flag, threshold in (("-c", self.options.critical), ("-w", self.options.warning)):
            if threshold is not None and not threshold.match(weighted):
                clauses.append(f"weighted listings {weighted} outside {flag} {threshold}")
                break
        for result in report.results:
            if result.problem:
                clauses.append(f"{sanitize(result.blocklist.zone)} {result.problem}: ignored")
        silent = [r for r in report.results if r.silent and not r.problem]
        if silent:
            clauses.append(f"{len(silent)} of {lists_total} lists did not answer")
        return " - ".join(clauses)

    def long_output(self, verbose: int) -> list[str]:
        assert self.report is not None
        report = self.report
        lines = []
        shown = 0
        for target, result, listing, texts in report.entries():
            shown += 1
            if shown > LISTINGS_SHOWN:
                continue
            blocklist = result.blocklist
            line = (
                f"{sanitize(target.text)} listed on {blocklist.zone} ({blocklist.name}): "
                f"{listing.code} {listing.meaning} [{listing.severity}]"
            )
            if texts:
                line += f"; reason: {sanitize(texts[0], REASON_LIMIT)}"
            if blocklist.delist:
                line += f"; delisting: {blocklist.delist}"
            lines.append(line)
        if shown > LISTINGS_SHOWN:
            lines.append(f"... and {shown - LISTINGS_SHOWN} more listings")
        for result in report.results:
            if result.problem:
                lines.append(f"{result.blocklist.zone}: {result.problem}: its answers are ignored")
            elif result.silent:
                lines.append(f"{result.blocklist.zone}: did not answer ({self._failures(result)})")
        if verbose >= 1:
            servers = ", ".join(f"{host}:{port}" for host, port in report.nameservers)
            cached = len(report.results) - report.tested_now
            lines.append(
                f"resolver: {servers}; {plural(len(report.targets), 'name')} on "
                f"{plural(len(report.results), 'list')}; test points asked now for "
                f"{report.tested_now}, from the last {self.options.retest:g}s for {cached}"
            )
            for result in report.results:
                answered = result.answered + len(result.tested)
                average = result.seconds / answered * 1000 if answered else 0.0
                via = " through Spamhaus DQS" if result.blocklist.query_zone else ""
                lines.append(
                    f"{result.blocklist.zone}{via}: {plural(answered, 'answer')}, "
                    f"{average:.1f} ms average, {result.slowest * 1000:.1f} ms slowest"
                )
        return lines

    @staticmethod
    def _failures(result: ListResult) -> str:
        if not result.failures:
            return "its test points got no answer"
        return ", ".join(
            failure_text(status, count) for status, count in sorted(result.failures.items())
        )


def failure_text(status: str, count: int) -> str:
    """``3 timeouts``, ``2 SERVFAIL``, ``5 cut off by -t``."""
    if status == "timeout":
        return plural(count, "timeout")
    if status == "late":
        return f"{count} cut off by -t"
    if status == "skipped":
        return f"{count} not asked (it stopped answering)"
    return f"{count} {status}"


class WhenAny(nagiosplugin.Context):
    """``state`` when the metric (a count) is not zero; no perfdata."""

    def __init__(self, name: str, state: nagiosplugin.state.ServiceState) -> None:
        super().__init__(name)
        self.state = state

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        if metric.value:
            return nagiosplugin.Result(self.state, metric=metric)
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)


def build_check(options: Options) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    resource = Dnsbl(options)
    return nagiosplugin.Check(
        resource,
        nagiosplugin.ScalarContext("listings", options.warning, options.critical),
        nagiosplugin.ScalarContext("counts"),
        WhenAny("critical", nagiosplugin.Critical),
        WhenAny("warning", nagiosplugin.Warn),
        WhenAny("problems", nagiosplugin.Warn),
        WhenAny("blind", nagiosplugin.Unknown),
        FailureContext(),
        ReportSummary(resource, options.verbose),
    )
