"""Property-based tests: the dahdi show status, misdn show stacks and pri show span parsers
return records or ParseError, nothing else, the records have the properties every parse must
have (each listed once, counters not negative, the verdict a function of the alarm text), and
the parsers read every line Asterisk can print."""

# ruff: noqa: UP031  (rows are rendered with C printf formats, exactly as Asterisk writes them)
from __future__ import annotations

import os
from typing import Any, Callable

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from asterisk_ami.errors import ParseError
from asterisk_ami.parsers.dahdi_status import ALARMS, parse_dahdi_show_status
from asterisk_ami.parsers.misdn import parse_misdn_show_stacks
from asterisk_ami.parsers.pri_span import parse_pri_show_span
from tests.conftest import FIXTURES, FUZZ_SEED

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PARSERS: dict[str, Callable[[list[str]], Any]] = {
    "dahdi_show_status": parse_dahdi_show_status,
    "misdn_show_stacks": parse_misdn_show_stacks,
    "pri_show_span": lambda lines: parse_pri_show_span(lines, 1),
}
FIXTURE_TEXTS = {
    "dahdi_show_status": sorted(FIXTURES.glob("*/dahdi_*/dahdi_show_status.txt")),
    "misdn_show_stacks": sorted(FIXTURES.glob("*/bri_*/misdn_show_stacks.txt")),
    "pri_show_span": sorted(FIXTURES.glob("*/bri_*/pri_show_span_*.txt")),
}
fixtures = st.sampled_from(
    [(name, path.read_text()) for name, paths in FIXTURE_TEXTS.items() for path in paths]
)
parsers = st.sampled_from(sorted(PARSERS))
line_ends = st.sampled_from(["\n", "\r\n", "\r\n\r\n", "\n\r"])


def parse_or_parse_error(name: str, lines: list[str]) -> Any:
    """The records, checked against the properties every parse must have; None on
    ParseError."""
    try:
        found = PARSERS[name](lines)
    except ParseError:
        return None
    CHECKS[name](found, sum(1 for line in lines if line.strip()))
    return found


def check_dahdi(status: Any, written: int) -> None:
    spans = status.spans
    assert len(spans) <= written  # one row a span at most
    assert len({s.number for s in spans}) == len(spans)  # each span once
    for span in spans:
        assert min(span.number, span.irq_misses, span.bpv, span.crc) >= 0
        assert span.severity in ("ok", "unconfigured", "warning", "critical")
        # the verdict is a function of the alarm text
        assert span.severity == span._replace(description="x", irq_misses=0).severity
        assert (span.severity == "ok") == span.ok


def check_misdn(ports: Any, written: int) -> None:
    assert len(ports) < max(written, 1)  # the header line, then a port a line at most
    numbers = [p.number for p in ports if p.number is not None]
    assert len(numbers) == len(set(numbers)) and all(n >= 0 for n in numbers)


def check_pri_span(channels: Any, written: int) -> None:
    assert len(channels) <= written
    assert len({c.order for c in channels}) == len(channels)  # each D-channel once
    assert all(channel.channel >= 0 for channel in channels)


CHECKS: dict[str, Callable[[Any, int], None]] = {
    "dahdi_show_status": check_dahdi,
    "misdn_show_stacks": check_misdn,
    "pri_show_span": check_pri_span,
}


# -- any input ----------------------------------------------------------------------------
@seed(FUZZ_SEED)
@fuzz
@given(parsers, st.lists(st.text(), max_size=20))
def test_parsers_on_arbitrary_text(name: str, lines: list[str]) -> None:
    parse_or_parse_error(name, lines)


@seed(FUZZ_SEED)
@fuzz
@given(parsers, st.binary(max_size=600))
def test_parsers_on_arbitrary_bytes(name: str, raw: bytes) -> None:
    parse_or_parse_error(name, raw.decode("utf-8", "replace").splitlines())
    parse_or_parse_error(name, raw.decode("latin-1").split("\n"))


@seed(FUZZ_SEED)
@fuzz
@given(fixtures, st.integers(min_value=0, max_value=1500))
def test_parsers_on_truncated_fixtures(fixture: tuple[str, str], cut: int) -> None:
    name, text = fixture
    parse_or_parse_error(name, text[:cut].splitlines())


@seed(FUZZ_SEED)
@fuzz
@given(fixtures, st.lists(st.tuples(st.integers(0, 40), st.text(max_size=80)), max_size=4))
def test_parsers_with_lines_inserted(
    fixture: tuple[str, str], inserts: list[tuple[int, str]]
) -> None:
    name, text = fixture
    lines = text.splitlines()
    for position, line in inserts:
        lines.insert(min(position, len(lines)), line)
    parse_or_parse_error(name, lines)


@seed(FUZZ_SEED)
@fuzz
@given(fixtures, st.data())
def test_parsers_ignore_line_end_style(fixture: tuple[str, str], data: st.DataObject) -> None:
    name, text = fixture
    lines = text.splitlines()
    mixed = "".join(line + data.draw(line_ends) for line in lines)
    assert PARSERS[name](mixed.split("\n")) == PARSERS[name](lines)


# -- every valid line is read -----------------------------------------------------------
TOKENS = list(ALARMS)  # in chan_dahdi's order
alarm_sets = st.sets(st.sampled_from([t for t in TOKENS if t != "UUU"]), max_size=6)
counters = st.integers(min_value=0, max_value=10**9)
descriptions = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40
).filter(lambda text: text.strip() == text and text != "")


def alarm_string(tokens: set[str]) -> str:
    """As chan_dahdi builds it: tokens in fixed order joined by "/", UUU alone, OK if none."""
    if not tokens:
        return "OK"
    return "/".join(t for t in TOKENS if t in tokens)


@seed(FUZZ_SEED)
@fuzz
@given(
    st.sampled_from(["1.4", "1.8", "span"]),
    st.lists(st.tuples(descriptions, alarm_sets, counters, counters, counters), max_size=8),
)
def test_dahdi_parser_reads_every_valid_row(layout: str, rows: list[Any]) -> None:
    if layout == "1.4":
        words = ("Description", "Alarms", "IRQ", "bpviol", "CRC4")
        head = "%-40.40s %-10.10s %-10.10s %-10.10s %-10.10s" % words
        lines = [head]
        for desc, tokens, irq, bpv, crc in rows:
            lines.append(
                "%-40.40s %-10.10s %-10d %-10d %-10d" % (desc, alarm_string(tokens), irq, bpv, crc)
            )
    else:
        fmt2 = "%-40.40s %-7.7s %-6.6s %-6.6s %-6.6s %-3.3s %-4.4s %-8.8s %s"
        fmt = "%-40.40s %-7.7s %-6d %-6d %-6d %-3.3s %-4.4s %-8.8s %s"
        head = fmt2 % (
            "Description",
            "Alarms",
            "IRQ",
            "bpviol",
            "CRC",
            "Fra",
            "Codi",
            "Options",
            "LBO",
        )
        lines = [("%4s " % "Span" + head) if layout == "span" else head]
        for number, (desc, tokens, irq, bpv, crc) in enumerate(rows, 1):
            row = fmt % (
                desc,
                alarm_string(tokens),
                irq,
                bpv,
                crc,
                "CCS",
                "HDB3",
                "CRC4",
                "-7.5db (CSU)",
            )
            lines.append(("%4d " % number + row) if layout == "span" else row)
    status = parse_dahdi_show_status(lines)
    width = 10 if layout == "1.4" else 7
    assert len(status.spans) == len(rows)
    for span, (desc, tokens, irq, bpv, crc) in zip(status.spans, rows):
        assert (span.description, span.irq_misses, span.bpv, span.crc) == (desc, irq, bpv, crc)
        full = alarm_string(tokens)
        assert span.alarms == full[:width].rstrip()
        worst = "critical" if tokens & {"BLU", "RED", "LB", "NOP"} else "warning"
        shown = {t for t in span.tokens if t in ALARMS}
        if not tokens:
            assert span.severity == "ok"
        elif shown == tokens:  # nothing was cut off: the verdict is exact
            assert span.severity == worst
        elif span.severity == "warning":  # something was cut: never better than what is shown
            assert not (shown & {"BLU", "RED", "LB", "NOP"})


@seed(FUZZ_SEED)
@fuzz
@given(
    st.booleans(),
    st.lists(
        st.tuples(
            st.integers(1, 99),
            st.sampled_from(["NT", "TE"]),
            st.sampled_from(["PTP", "PMP"]),
            st.sampled_from(["UP", "DOWN", "UNKN"]),
            st.sampled_from(["UP", "DOWN"]),
            st.integers(0, 1),
            st.integers(0, 9),
            st.booleans(),
        ),
        max_size=8,
        unique_by=lambda t: t[0],
    ),
)
def test_misdn_parser_reads_every_valid_line(padded: bool, ports: list[Any]) -> None:
    lines = ["BEGIN STACK_LIST:"]
    for port, kind, prot, l2, l1, blocked, debug, only in ports:
        if padded:  # 1.8+: "%2d" and the link states padded to four
            fmt = "* Port %2d Type %s Prot. %s L2Link %-4s L1Link:%-4s Blocked:%d"
        else:
            fmt = "* Port %d Type %s Prot. %s L2Link %s L1Link:%s Blocked:%d"
        buf = fmt % (port, kind, prot, l2, l1, blocked)
        lines.append("  %s  Debug:%d%s" % (buf, debug, "(only)" if only else ""))
    parsed = parse_misdn_show_stacks(lines)
    assert [(p.number, p.l1, p.l2, p.blocked) for p in parsed] == [
        (port, l1, l2, bool(blocked)) for port, _, _, l2, l1, blocked, _, _ in ports
    ]
    for port, (_, kind, prot, l2, l1, blocked, _, _) in zip(parsed, ports):
        nt_pmp = kind == "NT" and prot == "PMP"
        assert port.up == (l1 == "UP" and not blocked and (l2 == "UP" or nt_pmp or l2 == "UNKN"))


# libpri's "  NAME: value" lines, never one the parser reads itself (Status, Type, D-channel)
field_names = st.from_regex(r"[A-Z][A-Za-z0-9 -]{0,20}[A-Za-z0-9]", fullmatch=True).filter(
    lambda name: not name.startswith(("Status", "Type", "Switchtype")) and "D-channel" not in name
)
field_values = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=20
)


@seed(FUZZ_SEED)
@fuzz
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Primary", "Secondary", "Tertiary", "Quaternary"]),
            st.integers(1, 4096),
            st.booleans(),
            st.booleans(),
            st.booleans(),
            st.sampled_from(["CPE", "Network", "BRI CPE", "BRI Network PTMP", "BRI CPE PTMP"]),
            st.lists(st.tuples(field_names, field_values), max_size=5),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_pri_span_parser_reads_every_valid_block(blocks: list[Any]) -> None:
    lines: list[str] = []
    for order, channel, provisioned, alarm, up, kind, fields in blocks:
        status = ("Provisioned, " if provisioned else "") + ("In Alarm, " if alarm else "")
        lines += [
            f"{order} D-channel: {channel}",
            f"Status: {status}{'Up' if up else 'Down'}, Active",
        ]
        lines += ["Switchtype: EuroISDN", f"Type: {kind}"]
        lines += [f"  {name}: {value}" for name, value in fields]
        lines += ["Overlap Recv: No", "", ""]
    parsed = parse_pri_show_span(lines, 1)
    assert [(d.order, d.channel, d.in_alarm, d.up, d.bri) for d in parsed] == [
        (order, channel, alarm, up, kind.startswith("BRI"))
        for order, channel, _, alarm, up, kind, _ in blocks
    ]
