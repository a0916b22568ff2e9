"""dahdi show status parser: every fixture of every version, the four layouts, alarm words
cut to the column width, and what it rejects."""

from __future__ import annotations

import pytest

from asterisk_ami.errors import ParseError
from asterisk_ami.parsers.dahdi_status import parse_dahdi_show_status
from tests.conftest import FIXTURES, VERSIONS

LAYOUT = {
    "1.4": "1.4",
    "1.6": "1.6",
    "1.8": "1.8",
    "11": "1.8",
    "13": "1.8",
    "14": "1.8",
    "16": "1.8",
    "18": "span",
    "20": "span",
    "22": "span",
}
# scenario -> [(span, severity)] in every version
EXPECTED = {
    "dahdi_all_ok": [(n, "ok") for n in range(1, 6)],
    "dahdi_red_alarm": [(1, "ok"), (2, "ok"), (3, "critical"), (4, "ok"), (5, "ok")],
    "dahdi_yel_rec": [(1, "ok"), (2, "warning"), (3, "ok"), (4, "warning"), (5, "ok")],
    "dahdi_multi_alarm": [(1, "ok"), (2, "ok"), (3, "critical"), (4, "ok"), (5, "ok")],
    "dahdi_unconfigured": [
        (1, "ok"),
        (2, "ok"),
        (3, "unconfigured"),
        (4, "unconfigured"),
        (5, "ok"),
    ],
    "dahdi_no_spans": [],
    "dahdi_no_dahdi": [],
}

E1 = "T4XXP (PCI) Card 0 Span 1"
LBO = "0 db (CSU)/0-133 feet (DSX-1)"
HEAD_14 = "Description                              Alarms     IRQ        bpviol     CRC4      "
HEAD_16 = (
    "Description                              Alarms  IRQ    bpviol CRC4   Fra Codi Options  LBO"
)
HEAD_18 = HEAD_16.replace("CRC4  ", "CRC   ")
HEAD_SPAN = "Span " + HEAD_18


def row_16(alarms: str, counters: str = "0      0      0     ", tail: str = "") -> str:
    return f"{E1:<40} {alarms:<7} {counters} CCS HDB3 CRC4     {tail or LBO}"


def fixture_files() -> list[tuple[str, str]]:
    found = sorted(
        (path.parent.parent.name, path.parent.name)
        for path in FIXTURES.glob("*/dahdi_*/dahdi_show_status.txt")
    )
    assert found, "no dahdi_show_status fixtures"
    return found


def test_every_version_has_every_scenario() -> None:
    for version in VERSIONS:
        scenarios = {p.name for p in (FIXTURES / version).iterdir()}
        assert {*EXPECTED, "dahdi_not_loaded"} <= scenarios, version
        assert not (FIXTURES / version / "dahdi_not_loaded" / "dahdi_show_status.txt").exists()


@pytest.mark.parametrize(("version", "scenario"), fixture_files())
def test_fixture(version: str, scenario: str) -> None:
    text = (FIXTURES / version / scenario / "dahdi_show_status.txt").read_text()
    status = parse_dahdi_show_status(text.splitlines())
    assert [(s.number, s.severity) for s in status.spans] == EXPECTED[scenario]
    if scenario == "dahdi_no_dahdi":
        assert status.layout == "none" and status.missing
        return
    assert status.layout == LAYOUT[version] and not status.missing
    for span in status.spans:
        assert span.description.startswith(("T4XXP (PCI) Card 0 Span", "Wildcard TDM400P"))
        assert bool(span.framing) == (version != "1.4")


@pytest.mark.parametrize(
    ("version", "alarms", "cut"), [("1.4", "BLU/YEL/RE", True), ("1.6", "BLU/YEL", True)]
)
def test_alarms_cut_to_the_column(version: str, alarms: str, cut: bool) -> None:
    text = (FIXTURES / version / "dahdi_multi_alarm" / "dahdi_show_status.txt").read_text()
    span1, _, span3, *_ = parse_dahdi_show_status(text.splitlines()).spans
    assert (span3.alarms, span3.cut, span3.severity) == (alarms, cut, "critical")
    assert (span1.irq_misses, span1.bpv, span1.crc) == (2, 1234567, 98765)  # pushed columns


def test_span_column_and_unknown_coding() -> None:
    text = (FIXTURES / "22" / "dahdi_all_ok" / "dahdi_show_status.txt").read_text()
    status = parse_dahdi_show_status(text.splitlines())
    analog = status.spans[-1]
    assert (analog.number, analog.framing, analog.coding, analog.options) == (5, "CAS", "Unkn", "")
    assert analog.lbo == LBO


@pytest.mark.parametrize(
    ("alarms", "severity"),
    [
        ("OK", "ok"),
        ("RED", "critical"),
        ("BLU", "critical"),
        ("LB", "critical"),
        ("NOP", "critical"),
        ("UUU", "critical"),
        ("YEL", "warning"),
        ("REC", "warning"),
        ("YEL/REC", "warning"),
        ("RED/REC", "critical"),
        ("RED/LB/", "critical"),  # "RED/LB/REC" cut to 7: the slash stays
        ("UNCONFI", "unconfigured"),
    ],
)
def test_alarm_words(alarms: str, severity: str) -> None:
    status = parse_dahdi_show_status([HEAD_18, row_16(alarms)])
    assert status.spans[0].severity == severity


@pytest.mark.parametrize(
    ("alarms", "severity"),
    [("YEL/REC/NO", "critical"), ("BLU/YEL/RE", "critical"), ("UNCONFIGUR", "unconfigured")],
)
def test_cut_tokens_on_14_count_as_the_worst_they_can_be(alarms: str, severity: str) -> None:
    row = f"{E1:<40} {alarms:<10} {0:<10} {0:<10} {0:<10}"
    (span,) = parse_dahdi_show_status([HEAD_14, row]).spans
    assert (span.severity, span.cut) == (severity, severity != "unconfigured")


def test_span_numbers_come_from_the_span_column() -> None:
    rows = [HEAD_SPAN, f"   7 {row_16('OK')}", f"  12 {row_16('RED')}"]
    assert [s.number for s in parse_dahdi_show_status(rows).spans] == [7, 12]
    # the AMI Output header value may lose the leading blanks: still span 7
    assert parse_dahdi_show_status([HEAD_SPAN, f"7 {row_16('OK')}"]).spans[0].number == 7


def test_rows_without_span_column_are_numbered_by_position() -> None:
    status = parse_dahdi_show_status([HEAD_16, row_16("OK"), "", row_16("YEL")])
    assert [(s.number, s.alarms) for s in status.spans] == [(1, "OK"), (2, "YEL")]


@pytest.mark.parametrize(
    "lines",
    [
        ["No Zaptel interface found."],  # chan_zap 1.4.0-1.4.21
        ["No DAHDI interface found."],  # 1.4.22-1.4.44
        [
            "No DAHDI found. Unable to open /dev/dahdi/ctl: Permission denied",
            "Command 'dahdi show status' failed.",
        ],
    ],
)
def test_no_dahdi(lines: list[str]) -> None:
    status = parse_dahdi_show_status(lines)
    assert (status.layout, status.spans, status.missing) == ("none", (), tuple(lines))


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["Usage: dahdi show status"],
        [HEAD_16.replace("Alarms", "Alarm")],
        [HEAD_18, row_16("PURPLE")],
        [HEAD_18, row_16("RE")],  # not at full width: not a cut token
        [HEAD_18, row_16("UUU/RED")],
        [HEAD_18, row_16("RED//YEL")],
        [HEAD_18, row_16("OK", "x      0      0     ")],
        [HEAD_18, row_16("OK").replace("CCS", "XYZ")],
        [HEAD_18, "T4XXP (PCI) Card 0 Span 1"],  # cut short
        [HEAD_18, row_16("OK")[:60]],  # cut inside the counters
        [HEAD_SPAN, row_16("OK")],  # no span number
        [HEAD_SPAN, f"   1 {row_16('OK')}", f"   1 {row_16('OK')}"],  # listed twice
        [HEAD_14, row_16("OK")],  # a 1.6 row under a 1.4 header
        ["No DAHDI interface found.", "PRI span 1/0: Up, Active"],
    ],
)
def test_rejects_what_it_does_not_know(lines: list[str]) -> None:
    with pytest.raises(ParseError):
        parse_dahdi_show_status(lines)


def test_error_quotes_untrusted_text_safely() -> None:
    with pytest.raises(ParseError) as caught:
        parse_dahdi_show_status([HEAD_18, "\x00\x1b[31mDAHDI | span\ufffd" + " " * 40 + "OK"])
    message = str(caught.value)
    assert "|" not in message and "\x00" not in message and "\x1b" not in message
    assert message.isprintable()
