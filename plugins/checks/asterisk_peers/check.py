"""The peers check: nagiosplugin glue between the acquisition (acquire) and the rules (evaluate).

Loaded only when the check runs (see check_asterisk_peers for the command line).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import nagiosplugin

from isp_plugins.checks.asterisk_peers import evaluate
from isp_plugins.checks.asterisk_peers.acquire import (
    MODULES,
    PERMISSIONS,
    TECH_NAMES,
    PeersPermission,
    TechData,
    read_all,
)
from isp_plugins.runtime.ami import AmiResource
from isp_plugins.runtime.contexts import ReportSummary
from isp_plugins.runtime.failures import Failure, FailureContext, classify, failure_metric

if TYPE_CHECKING:
    from asterisk_ami.parsers.peers import Peer
    from asterisk_ami.session import Session, Target
    from isp_plugins.checks.asterisk_peers.command import Options

NAME = "asterisk_peers"
_STATES = (nagiosplugin.Ok, nagiosplugin.Warn, nagiosplugin.Critical)


def perf_label(tech: str, name: str) -> str:
    """``rtt_sip_carrier_1`` for SIP/carrier-1: lower_snake_case, nothing Nagios would split."""
    return "rtt_" + re.sub(r"[^a-z0-9]+", "_", f"{tech}_{name}".lower()).strip("_")


class Peers(AmiResource):
    """Logs in to AMI, reads each technology's peers and registrations, and measures them."""

    name = NAME

    def __init__(self, target: Target, timeout: float, options: Options) -> None:
        self.target = target
        self.timeout = timeout
        self.options = options
        self.explicit = bool(options.tech)
        self.techs = tuple(TECH_NAMES[t] for t in (options.tech or ("sip", "pjsip", "iax2")))
        self.rules = evaluate.Rules(
            options.peer,
            options.exclude,
            options.trunk,
            options.registration,
            options.rtt_warning,
            options.rtt_critical,
            options.warning is not None,
            options.critical is not None,
            options.expected,
        )
        self.report: evaluate.PeerReport | None = None
        self.data: list[TechData] = []

    def _failure(self, found: dict[str, TechData | None]) -> Failure | None:
        missing = [t for t, d in found.items() if d is None]
        if self.explicit and missing:
            names = ", ".join(MODULES[t] for t in missing)
            verb = "is" if len(missing) == 1 else "are"
            return Failure(nagiosplugin.Critical, f"{names} {verb} not loaded (--tech)")
        if len(missing) == len(found):
            return Failure(
                nagiosplugin.Critical,
                "no SIP, PJSIP or IAX2 channel driver is loaded "
                "(chan_sip, res_pjsip and chan_iax2 all missing)",
            )
        return None

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        from asterisk_ami.errors import AmiError  # noqa: PLC0415 (keeps asyncio out of --help)

        async def work(ami: Session) -> dict[str, TechData | None]:
            return await read_all(ami, self.techs)

        try:
            found = self.run_session(work)
        except PeersPermission as denied:
            text = (
                f"AMI user '{self.target.username}' may not read {denied.tech} peers: "
                f"Permission denied (manager.conf needs write = {PERMISSIONS[denied.tech]}, "
                "or command for the CLI)"
            )
            yield failure_metric(Failure(nagiosplugin.Unknown, text))
            return
        except AmiError as error:
            yield failure_metric(classify(error, self.target, self.timeout))
            return
        failure = self._failure(found)
        if failure is not None:  # the long output is framed by failure_output
            yield failure_metric(failure)
            return
        self.data = [d for d in found.values() if d is not None]
        peers = [p for d in self.data for p in d.peers]
        registrations = [r for d in self.data for r in d.registrations]
        rep = self.report = evaluate.report(peers, registrations, self.rules)
        total = len(rep.watched)
        yield nagiosplugin.Metric("peers_reachable", rep.reachable, min=0, max=total)
        yield nagiosplugin.Metric("peers_unreachable", rep.unreachable, min=0)
        yield nagiosplugin.Metric("peers_lagged", rep.lagged, min=0)
        yield nagiosplugin.Metric("peers_unmonitored", len(rep.unmonitored), min=0)
        yield nagiosplugin.Metric("registrations_ok", rep.registrations_ok, min=0)
        failed = len(rep.registrations) - rep.registrations_ok
        yield nagiosplugin.Metric("registrations_failed", failed, min=0)
        if rep.rtt_max is not None:
            yield nagiosplugin.Metric("rtt_max", rep.rtt_max, "ms", min=0, context="rtt")
        labels: set[str] = set()
        every, trunks = self.options.rtt_perfdata, rep.trunks
        for peer in rep.watched:  # rep.is_trunk(peer), written out: it runs once per peer
            if peer.rtt_ms is not None and (every or (peer.tech, peer.name) in trunks):
                label = perf_label(peer.tech, peer.name)
                # Names cut by 'iax2 show peers' (or folded to one label) may meet: number them.
                base, n = label, 1
                while label in labels:
                    n += 1
                    label = f"{base}_{n}"
                labels.add(label)
                yield nagiosplugin.Metric(label, peer.rtt_ms, "ms", min=0, context="rtt")
        yield nagiosplugin.Metric("verdict", rep.state, context="verdict")

    def summary_text(self) -> str:
        assert self.report is not None
        return evaluate.summarize(self.report)

    def long_output(self, verbose: int) -> list[str]:
        rep = self.report
        assert rep is not None
        trunks = rep.trunks  # rep.is_trunk(p), written out: it runs twice per peer

        def order(p: Peer) -> tuple[bool, str, str]:
            return (p.tech, p.name) not in trunks, p.tech, p.name

        lines = [
            evaluate.describe_peer(p, (p.tech, p.name) in trunks)
            for p in sorted(rep.watched, key=order)
        ]
        lines += [evaluate.describe_registration(r) for r in rep.registrations]
        if verbose >= 1:
            lines += [evaluate.describe_peer(p, False) for p in rep.unmonitored]
        return self.framed(lines, verbose)

    def greeting_line(self) -> str:
        if not self.data:
            return super().greeting_line()
        sources = "; ".join(f"{d.tech}: {', '.join(d.sources)}" for d in self.data)
        return f"{super().greeting_line()}; read with {sources}"


class VerdictContext(nagiosplugin.Context):
    """The worst state of the peers and registrations, as the rules judged them (no perfdata)."""

    def __init__(self) -> None:
        super().__init__("verdict")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        return nagiosplugin.Result(_STATES[int(metric.value)], metric=metric)


def reachable_context(options: Options) -> nagiosplugin.ScalarContext:
    """-w/-c on the peers reachable; without -w, -n is the floor (WARNING below it)."""
    warning = options.warning
    if warning is None and options.expected is not None:
        warning = nagiosplugin.Range(f"{options.expected}:")
    return nagiosplugin.ScalarContext("peers_reachable", warning, options.critical)


def build_check(options: Options, target: Target) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    resource = Peers(target, options.ami.timeout, options)
    rtt_warn = f"{options.rtt_warning:g}" if options.rtt_warning is not None else None
    rtt_crit = f"{options.rtt_critical:g}" if options.rtt_critical is not None else None
    return nagiosplugin.Check(
        resource,
        reachable_context(options),
        nagiosplugin.ScalarContext("peers_unreachable"),
        nagiosplugin.ScalarContext("peers_lagged"),
        nagiosplugin.ScalarContext("peers_unmonitored"),
        nagiosplugin.ScalarContext("registrations_ok"),
        nagiosplugin.ScalarContext("registrations_failed"),
        nagiosplugin.ScalarContext("rtt", rtt_warn, rtt_crit),
        VerdictContext(),
        FailureContext(),
        ReportSummary(resource, options.ami.verbose),
        name=NAME,
    )
