"""Property-based tests: parsers and framing return records or our own errors, nothing else;
the records have the properties every parse must have (each span and line once, the state a
function of the D-channels), and whole lines read the same in a cut text."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from asterisk_ami.errors import AmiError, ParseError
from asterisk_ami.parsers.dahdi_channels import (
    parse_channel_events,
    parse_show_channel,
    parse_show_channels,
)
from asterisk_ami.parsers.pri import parse_pri_show_spans
from asterisk_ami.parsers.pri_channels import parse_pri_show_channels
from asterisk_ami.protocol import OneShotManager, OneShotProtocol
from asterisk_ami.replies import command_output
from asterisk_ami.simulator import Simulator
from tests.conftest import FIXTURES, FUZZ_SEED

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PRI_FIXTURES = sorted(FIXTURES.glob("*/*/pri_show_spans.txt"))
fixture_texts = st.sampled_from([p.read_text() for p in PRI_FIXTURES])
line_ends = st.sampled_from(["\n", "\r\n", "\r\n\r\n", "\n\r"])


def parse_or_parse_error(lines: list[str]) -> list[Any]:
    """The spans, checked against the properties every parse must have; [] on ParseError."""
    try:
        spans = parse_pri_show_spans(lines)
    except ParseError:
        return []
    check_spans(spans, lines)
    return spans


def check_spans(spans: list[Any], lines: list[str]) -> None:
    numbers = [span.number for span in spans]
    assert numbers == sorted(set(numbers))  # each span once, in order
    channels = [(d.span, d.dchan) for span in spans for d in span.dchannels]
    assert len(channels) == len(set(channels))  # each D-channel once
    assert all(
        d.span == span.number >= 0 and d.dchan >= 0 for span in spans for d in span.dchannels
    )
    # every line is read: a blank one is skipped, any other is one D-channel (or ParseError)
    assert len(channels) == sum(1 for line in lines if line.strip())
    for span in spans:
        assert span.dchannels  # a span is listed for its D-channels only
        for d in span.dchannels:
            words = d.status.split(", ")
            assert (d.in_alarm, d.up, d.active) == (
                "In Alarm" in words,
                "Up" in words,
                words[-1] == "Active",
            )
        # the state is a function of the D-channels' flags
        usable = any(d.up and not d.in_alarm for d in span.dchannels)
        alarm = any(d.in_alarm for d in span.dchannels)
        assert span.state == ("up" if usable else "alarm" if alarm else "down")


# -- pri show spans -----------------------------------------------------------------------
@seed(FUZZ_SEED)
@fuzz
@given(st.lists(st.text(), max_size=20))
def test_pri_parser_on_arbitrary_text(lines: list[str]) -> None:
    parse_or_parse_error(lines)


@seed(FUZZ_SEED)
@fuzz
@given(st.binary(max_size=400))
def test_pri_parser_on_arbitrary_bytes(raw: bytes) -> None:
    parse_or_parse_error(raw.decode("utf-8", "replace").splitlines())
    parse_or_parse_error(raw.decode("latin-1").split("\n"))


@seed(FUZZ_SEED)
@fuzz
@given(fixture_texts, st.integers(min_value=0, max_value=400))
def test_pri_parser_on_truncated_fixtures(text: str, cut: int) -> None:
    """The whole lines before the cut read as they do in the whole text."""
    parse_or_parse_error(text[:cut].splitlines())
    whole_lines = text[:cut].splitlines()[: text[:cut].count("\n")]
    full = {
        (d.span, d.dchan): d for s in parse_or_parse_error(text.splitlines()) for d in s.dchannels
    }
    for span in parse_or_parse_error(whole_lines):
        for d in span.dchannels:
            assert full[(d.span, d.dchan)] == d


@seed(FUZZ_SEED)
@fuzz
@given(fixture_texts, st.lists(st.tuples(st.integers(0, 10), st.text(max_size=60)), max_size=4))
def test_pri_parser_with_lines_inserted(text: str, inserts: list[tuple[int, str]]) -> None:
    lines = text.splitlines()
    for position, line in inserts:
        lines.insert(min(position, len(lines)), line)
    if parse_or_parse_error(lines) and all(not line.strip() for _, line in inserts):
        # blank lines inserted change nothing
        assert parse_pri_show_spans(lines) == parse_pri_show_spans(text.splitlines())


@seed(FUZZ_SEED)
@fuzz
@given(fixture_texts, st.data())
def test_pri_parser_ignores_line_end_style(text: str, data: st.DataObject) -> None:
    lines = text.splitlines()
    mixed = "".join(line + data.draw(line_ends) for line in lines)
    expected = parse_pri_show_spans(lines)
    assert parse_pri_show_spans(mixed.split("\n")) == expected


statuses = st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans())


@seed(FUZZ_SEED)
@fuzz
@given(
    st.lists(
        st.tuples(st.integers(1, 64), st.integers(0, 3), statuses),
        max_size=12,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_pri_parser_reads_every_valid_line(channels: list[Any]) -> None:
    lines = []
    for span, index, (provisioned, alarm, up, active) in channels:
        status = ("Provisioned, " if provisioned else "") + ("In Alarm, " if alarm else "")
        status += ("Up" if up else "Down") + (", Active" if active else ", Standby")
        lines.append(f"PRI span {span}/{index}: {status}")
    parsed = {(d.span, d.dchan): d for s in parse_pri_show_spans(lines) for d in s.dchannels}
    assert len(parsed) == len(channels)
    for span, index, (_, alarm, up, active) in channels:
        channel = parsed[(span, index)]
        assert (channel.in_alarm, channel.up, channel.active) == (alarm, up, active)


# -- the Command reply, through the protocol's framing -----------------------------------
class _Transport:
    """Just enough transport for the protocol: collects writes, never closes for real."""

    def __init__(self) -> None:
        self.written = b""
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close


def deliver(version: str, cli_text: str, cuts: list[int]) -> tuple[Any, Any]:
    """Send a Command, feed its reply in pieces cut at ``cuts``; return (reply, failure)."""

    async def exchange() -> tuple[Any, Any]:
        failures: list[AmiError] = []
        manager = OneShotManager(failures.append)
        protocol = OneShotProtocol(manager, failures.append)
        protocol.connection_made(_Transport())
        reply = protocol.send({"Action": "Command", "Command": "pri show spans"})
        sim = Simulator(asterisk=version)
        action_id = protocol.transport.written.decode().split("ActionID: ")[1].split("\r\n")[0]
        wire = f"Asterisk Call Manager/{sim.profile.ami_version}\r\n"
        wire += sim.command_reply_text(action_id, cli_text, True)
        raw = wire.encode("utf-8", "surrogateescape")
        points = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
        for start, end in zip(points, points[1:]):
            protocol.data_received(raw[start:end])
        return (reply.result() if reply.done() else None), (failures[0] if failures else None)

    return asyncio.run(exchange())


cli_lines = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
        max_size=30,
    ),
    max_size=8,
)


@seed(FUZZ_SEED)
@settings(max_examples=max(50, EXAMPLES // 3), deadline=None)
@given(
    st.sampled_from(["1.4", "13", "14", "22"]),
    cli_lines,
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_framing_survives_any_split(version: str, lines: list[str], cuts: list[int]) -> None:
    text = "".join(line + "\n" for line in lines)
    reply, failure = deliver(version, text, cuts)
    if any(line.strip() == "--END COMMAND--" for line in lines) and version in ("1.4", "13"):
        return  # a CLI line that is the end marker itself cannot be framed by any client
    if failure is not None:
        assert isinstance(failure, AmiError)
        return
    assert reply is not None
    try:
        out = command_output("pri show spans", reply, reply.content)
    except AmiError:
        return
    expected = [line.rstrip() if version in ("1.4", "13") else line for line in lines]
    while expected and not expected[-1].strip():
        expected.pop()
    assert [line.rstrip() for line in out.lines] == [line.rstrip() for line in expected]


@seed(FUZZ_SEED)
@fuzz
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=8))
def test_protocol_never_raises_on_arbitrary_bytes(raw: bytes, cuts: list[int]) -> None:
    async def feed() -> None:
        failures: list[AmiError] = []
        protocol = OneShotProtocol(OneShotManager(failures.append), failures.append)
        protocol.connection_made(_Transport())
        protocol.send({"Action": "Command", "Command": "pri show spans"})
        data = b"Asterisk Call Manager/2.10.6\r\n" + raw
        points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
        for start, end in zip(points, points[1:]):
            protocol.data_received(data[start:end])
        assert all(isinstance(f, AmiError) for f in failures)

    asyncio.run(feed())


# -- DAHDI channels -----------------------------------------------------------------------
header_values = st.one_of(st.text(max_size=30), st.lists(st.text(max_size=10), max_size=3))


@seed(FUZZ_SEED)
@fuzz
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                ["Event", "Channel", "DAHDIChannel", "Signalling", "Alarm", "Description"]
            ),
            header_values,
        ),
        max_size=6,
    )
)
def test_dahdi_channel_events_on_arbitrary_headers(events: list[dict[str, Any]]) -> None:
    with contextlib.suppress(ParseError):
        parse_channel_events(events)


@seed(FUZZ_SEED)
@fuzz
@given(
    st.sampled_from(sorted(FIXTURES.glob("*/fxo_cli_only/dahdi_show_channel*.txt"))),
    st.integers(0, 3000),
    st.lists(st.tuples(st.integers(0, 40), st.text(max_size=80)), max_size=3),
    st.data(),
)
def test_dahdi_cli_parsers_on_damaged_fixtures(
    path: Any, cut: int, inserts: list[Any], data: st.DataObject
) -> None:
    lines = path.read_text()[:cut].splitlines()
    for position, line in inserts:
        lines.insert(min(position, len(lines)), line)
    mixed = "".join(line + data.draw(line_ends) for line in lines).split("\n")
    parser = parse_show_channels if path.name == "dahdi_show_channels.txt" else parse_show_channel
    with contextlib.suppress(ParseError):
        parser(mixed)


@seed(FUZZ_SEED)
@fuzz
@given(
    st.sampled_from(sorted(FIXTURES.glob("*/*/pri_show_channels.txt"))),
    st.integers(0, 8000),
    st.lists(st.tuples(st.integers(0, 130), st.text(max_size=60)), max_size=3),
)
def test_pri_channels_parser_on_damaged_fixtures(path: Any, cut: int, inserts: list[Any]) -> None:
    lines = path.read_text()[:cut].splitlines()
    for position, line in inserts:
        lines.insert(min(position, len(lines)), line)
    with contextlib.suppress(ParseError):
        parse_pri_show_channels(lines)
