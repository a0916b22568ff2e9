"""Property-based tests: no line makes the Postfix/amavis parsers or the classifier raise, and
what they return is always a record of known kinds; every delivery is counted exactly once
however the log is cut into runs (appends that end mid-line, any block size)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from isp_plugins.sources.postfix_log import automaton, lines, providers, tally
from tests.conftest import FUZZ_SEED, POSTFIX_COUNTERS, ROOT, postfix_counter

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIXTURES = ROOT / "fixtures" / "postfix_log"
LOG = b"".join((FIXTURES / name).read_bytes() for name in ("syslog.log", "maillog_file.log"))
FIXTURE_LINES = [
    line for path in sorted(FIXTURES.glob("*.log")) for line in path.read_text().splitlines()
]
fixture_lines = st.sampled_from(FIXTURE_LINES)
STATUSES = {"deferred", "bounced", "expired"}


def every_rule(reply: str) -> providers.Reply:
    """The classifier without its shortcut: every rule's regular expression, in order."""
    lowered = reply[: providers.READ_LIMIT].lower()
    return next((r for r, p in providers.REPLY_RULES if p.search(lowered)), providers.UNMATCHED)


def checked(line: str) -> None:
    """Parse a line every way; whatever comes back is a record of known kinds."""
    delivery = lines.parse_delivery(line)
    if delivery is not None:
        assert delivery.status in STATUSES
        assert delivery.rule.cause in providers.CAUSES
        assert delivery.provider in providers.BY_KEY
        assert len(delivery.reply) <= len(line)  # a part of the line, never more
    reject = lines.parse_reject(line)
    if reject is not None:
        assert reject.kind in providers.REJECT_KINDS
    verdict = lines.parse_verdict(line)
    if verdict is not None:
        assert verdict.category and verdict.category == verdict.category.upper()
    rule, reason = providers.classify(providers.clean_reply(line))
    assert rule is every_rule(providers.clean_reply(line))  # the plain-text shortcut is exact
    assert len(reason) <= providers.REASON_LIMIT


@seed(FUZZ_SEED)
@fuzz
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    checked(text)


@seed(FUZZ_SEED)
@fuzz
@given(fixture_lines, st.integers(min_value=0, max_value=900), st.text(max_size=30))
def test_cut_and_spliced_fixture_lines(line: str, cut: int, junk: str) -> None:
    checked(line[:cut])
    checked(line[:cut] + junk + line[cut:])
    checked(line.replace("<", junk).replace("[", junk).replace("(", junk))


@seed(FUZZ_SEED)
@fuzz
@given(
    st.lists(
        st.sampled_from([r.sample for r in providers.REPLIES] + [" ", "5.1.1", "10.5.1.3", "."]),
        max_size=4,
    ),
    st.text(max_size=40),
)
def test_replies_spliced_from_the_samples(parts: list[str], junk: str) -> None:
    """Texts of several rules at once: the first rule in order still wins."""
    checked(junk.join(parts))
    checked("".join(parts).upper())


@seed(FUZZ_SEED)
@fuzz
@given(
    st.sampled_from(
        [
            "postfix/smtp[1]: A: to=<{a}>, relay={b}, dsn={a}, status=deferred ({b})",
            "postfix/smtp[1]: A: to=<{a}>, relay={b}[{a}]:25, status=bounced "
            "(host {b}[{a}] said: {b})",
            "postfix/qmgr[1]: A: from=<{a}>, status=expired, {b}",
            "postfix/smtpd[1]: NOQUEUE: reject: RCPT from {a}[{b}]: {a}; from=<{b}>",
            "amavis[1]: (1-2) Passed {a} {{{b}}}, {a} [{b}]:1 [{a}] <{b}> -> <{a}>",
            "amavis[1]: (1-2) Blocked {a} ({b}) {{{a}}}, {b}",
        ]
    ),
    st.text(max_size=60),
    st.text(max_size=60),
)
def test_templates_with_hostile_fields(template: str, a: str, b: str) -> None:
    checked(template.format(a=a, b=b))


def counts(found: tally.Scan) -> tuple[object, ...]:
    t = found.tally
    return (
        t.sent,
        t.deferred,
        t.bounced,
        t.expired,
        dict(t.rejected),
        dict(t.outbound),
        dict(t.spam_clients),
        dict(t.deferred_by_provider),
        {k: (r.deferred, r.bounced) for k, r in t.refusals.items()},
    )


def add(total: dict[int, object], found: tally.Scan) -> None:
    for index, value in enumerate(counts(found)):
        if isinstance(value, int):
            total[index] = int(total.get(index, 0)) + value  # type: ignore[call-overload]
        else:
            merged = dict(total.get(index, {}))  # type: ignore[call-overload]
            for key, item in value.items():  # type: ignore[attr-defined]
                if isinstance(item, tuple):
                    old = merged.get(key, (0, 0))
                    merged[key] = (old[0] + item[0], old[1] + item[1])
                else:
                    merged[key] = merged.get(key, 0) + item
            total[index] = merged


def whole() -> tuple[object, ...]:
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "mail.log"
        log.write_bytes(LOG)
        return counts(tally.scan_log(str(log), directory))


WHOLE = whole()


@seed(FUZZ_SEED)
@fuzz
@given(
    st.lists(st.integers(min_value=0, max_value=len(LOG)), max_size=8),
    st.sampled_from([64, 333, 4096, tally.BLOCK]),
)
def test_every_delivery_is_counted_once_across_any_split(cuts: list[int], block: int) -> None:
    total: dict[int, object] = {}
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "mail.log"
        log.write_bytes(b"")
        written = 0
        for cut in [*sorted(cuts), len(LOG)]:
            with open(log, "ab") as handle:
                handle.write(LOG[written:cut])
            written = max(written, cut)
            add(total, tally.scan_log(str(log), directory, block=block))
    assert tuple(total[i] for i in range(len(WHOLE))) == WHOLE


@seed(FUZZ_SEED)
@fuzz
@given(st.sampled_from([64, 333, 4096]))
def test_a_read_in_parts_counts_the_same(block: int) -> None:
    total: dict[int, object] = {}
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "mail.log"
        log.write_bytes(LOG)
        for _ in range(len(LOG)):
            found = tally.scan_log(str(log), directory, deadline=0.0, block=block)
            add(total, found)
            if not found.partial:
                break
    assert tuple(total[i] for i in range(len(WHOLE))) == WHOLE


@seed(FUZZ_SEED)
@fuzz
@pytest.mark.parametrize("counter", POSTFIX_COUNTERS)
@given(
    st.lists(st.integers(min_value=0, max_value=len(LOG)), max_size=8),
    st.sampled_from([64, 333, 4096, tally.BLOCK]),
)
def test_each_counter_counts_every_delivery_once_across_any_split(
    counter: str, cuts: list[int], block: int
) -> None:
    """Both ways of counting a block, against the whole log counted at once."""
    with postfix_counter(counter):
        test_every_delivery_is_counted_once_across_any_split.hypothesis.inner_test(cuts, block)  # type: ignore[attr-defined]


#: The texts the counters search for, and others like them, to put anywhere in a line.
TEXTS = [
    text.decode()
    for text in (*(t for t, _ in automaton.POSTFIX_TEXTS), *(t for t, _ in automaton.AMAVIS_TEXTS))
] + ["status=sent ", " status=sent", " Passed CLEAN {RelayedInbound}, ", "\n", " status=deferred "]


@seed(FUZZ_SEED)
@fuzz
@given(
    st.lists(
        st.tuples(
            fixture_lines,
            st.integers(min_value=0, max_value=900),
            st.lists(st.sampled_from(TEXTS), max_size=3),
            st.sampled_from(["", " ", "x", ":"]),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([automaton.SLICE, 40, 97, 333]),
)
def test_the_automaton_counts_what_the_bytes_passes_count(
    pieces: list[tuple[str, int, list[str], str]], size: int
) -> None:
    """Fixture lines with the searched texts put anywhere, glued to each other or not: the
    one-pass automaton and the BlockCounter's passes count the same and parse the same lines,
    whatever the size of the automaton's slices (a text may straddle two)."""
    data = "".join(
        line[:cut] + glue.join(texts) + line[cut:] + "\n" for line, cut, texts, glue in pieces
    ).encode()
    results = []
    default, automaton.SLICE = automaton.SLICE, size
    try:
        for name in POSTFIX_COUNTERS:
            with postfix_counter(name):
                counted = tally.Tally()
                tally.block_counter(counted, data[:4096], True, True).count(data, 0, len(data))
                results.append(counts(tally.Scan(tally=counted)))
    finally:
        automaton.SLICE = default
    assert results[0] == results[1]
