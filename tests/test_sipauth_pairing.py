"""check_asterisk_sipauth counts each failure once (issue 14, item 3): a NOTICE line and a
res_security_log event for the same failure (same source and account, within
tally.PAIR_SECONDS) are one; everything unmatched counts too. Logs with both forms for
every failure, only one form, and mixes (res_security_log loaded partway; one service
logging security events and another not), in either order, several in one second."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from isp_plugins.sources.sip_security import lines as line_forms
from isp_plugins.sources.sip_security import tally
from tests.conftest import run_script

SCRIPT = "check_asterisk_sipauth"
#: 2024-05-01 10:00:00 local time: every line below is stamped from there.
START = time.mktime((2024, 5, 1, 10, 0, 0, 0, 0, -1))
NOW = START + 86400


def stamp(second: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(START + second))


def with_port(address: str) -> str:
    """ADDR:5060, an IPv6 address in brackets (chan_sip 1.8+ and PJSIP 13.30+)."""
    return f"[{address}]:5060" if ":" in address else f"{address}:5060"


def chan_sip(second: float, account: str, address: str) -> str:
    return (
        f"[{stamp(second)}] NOTICE[4567][C-00000001]: chan_sip.c:28390 handle_request_register: "
        f"Registration from '<sip:{account}@192.0.2.10>' failed for '{with_port(address)}' - "
        "Wrong password\n"
    )


def pjsip(second: float, account: str, address: str, reason: str = "Failed to authenticate") -> str:
    return (
        f"[{stamp(second)}] NOTICE[2001] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from "
        f"'<sip:{account}@192.0.2.10>' failed for '{with_port(address)}' (callid: c-{second}) - "
        f"{reason}\n"
    )


def security(
    second: float, account: str, address: str, event: str = "InvalidPassword", service: str = "SIP"
) -> str:
    tail = {
        "InvalidPassword": ',Challenge="4f1a2b3c",ReceivedChallenge="4f1a2b3c",'
        'ReceivedHash="9e107d9d372bb6826bd81d3542a419d6"',
        "ChallengeResponseFailed": ',Challenge="1",Response="2",ExpectedResponse=""',
        "InvalidAccountID": "",
    }[event]
    return (
        f"[{stamp(second)}] SECURITY[4567][C-00000001]: res_security_log.c:96 "
        f'security_event_stasis_cb: SecurityEvent="{event}",EventTV="{stamp(second)}",'
        f'Severity="Error",Service="{service}",EventVersion="2",AccountID="{account}",'
        f'SessionID="0x7f3a1c012345",LocalAddress="IPV4/UDP/192.0.2.10/5060",'
        f'RemoteAddress="{"IPV6" if ":" in address else "IPV4"}/UDP/{address}/5060"{tail}\n'
    )


def counted(text: str, tmp_path: Path) -> tally.Tally:
    log = tmp_path / "full"
    log.write_text(text)
    return tally.scan_log(str(log), str(tmp_path / "st"), now=NOW, update=False).tally


def summary(found: tally.Tally) -> tuple[int, dict[str, int], int, int, int]:
    counts = found.counts
    return (
        counts.attempts,
        dict(counts.per_source),
        found.notice_lines,
        found.security_events,
        found.pairs,
    )


SOURCES = ["203.0.113.5", "203.0.113.6", "198.51.100.7", "2001:db8::bad"]


def attack(failures: int) -> list[tuple[float, str, str]]:
    """``failures`` failures, a quarter from each source, one every 3 seconds."""
    return [(n * 3.0, str(1000 + n), SOURCES[n % 4]) for n in range(failures)]


@pytest.mark.parametrize("security_first", [False, True])
def test_both_forms_for_every_failure_count_once(tmp_path: Path, security_first: bool) -> None:
    lines: list[str] = []
    for second, account, address in attack(100):
        pair = [chan_sip(second, account, address), security(second, account, address)]
        lines += reversed(pair) if security_first else pair
    assert summary(counted("".join(lines), tmp_path)) == (
        100,
        dict.fromkeys(SOURCES, 25),
        100,
        100,
        100,
    )


def test_only_one_form(tmp_path: Path) -> None:
    notices = "".join(chan_sip(s, a, ip) for s, a, ip in attack(40))
    events = "".join(security(s, a, ip) for s, a, ip in attack(40))
    assert summary(counted(notices, tmp_path)) == (40, dict.fromkeys(SOURCES, 10), 40, 0, 0)
    assert summary(counted(events, tmp_path)) == (40, dict.fromkeys(SOURCES, 10), 0, 40, 0)


def test_res_security_log_loaded_partway(tmp_path: Path) -> None:
    """The issue's case: 100 failures from 4 sources, res_security_log loaded for the last 10
    (two from the first source): 2 from 1 were reported."""
    lines = []
    for n, (second, account, address) in enumerate(attack(100)):
        lines.append(chan_sip(second, account, address))
        if n >= 90 and address == SOURCES[0]:
            lines.append(security(second + 0.5, account, address))
    found = counted("".join(lines), tmp_path)
    assert summary(found) == (100, dict.fromkeys(SOURCES, 25), 100, 2, 2)
    assert len(found.counts.accounts) == 100


def test_one_service_logs_security_events_and_the_other_not(tmp_path: Path) -> None:
    """chan_sip 1.8 sends no security events; PJSIP does, for every failure (its three
    reasons and their events); an unknown account's InvalidAccountID names the From user."""
    lines = []
    for n in range(30):
        lines.append(chan_sip(n, f"old{n}", "203.0.113.5"))
        reason, event = [
            ("Failed to authenticate", "ChallengeResponseFailed"),
            ("No matching endpoint found", "InvalidAccountID"),
        ][n % 2]
        lines.append(pjsip(n, f"new{n}", "198.51.100.7", reason))
        lines.append(security(n, f"new{n}", "198.51.100.7", event, service="PJSIP"))
    assert summary(counted("".join(lines), tmp_path)) == (
        60,
        {"203.0.113.5": 30, "198.51.100.7": 30},
        60,
        30,
        30,
    )


@pytest.mark.parametrize(
    ("notices", "events", "expected"),
    [(5, 3, 5), (3, 5, 5), (4, 4, 4), (0, 6, 6), (6, 0, 6)],
)
def test_several_in_one_second_pair_one_to_one(
    tmp_path: Path, notices: int, events: int, expected: int
) -> None:
    """count = NOTICE lines + events - pairs, pairs = min of the two per source, account and
    time window; interleaved either way."""
    lines = [chan_sip(7, "1001", "203.0.113.5")] * notices
    lines += [security(7, "1001", "203.0.113.5")] * events
    lines.sort(key=lambda line: "SECURITY" in line)
    found = counted("".join(lines), tmp_path)
    assert summary(found) == (
        expected,
        {"203.0.113.5": expected} if expected else {},
        notices,
        events,
        min(notices, events),
    )
    mixed = [line for pair in zip(lines[::2], lines[1::2]) for line in reversed(pair)]
    mixed += lines[len(mixed) :]
    assert counted("".join(mixed), tmp_path).counts.attempts == expected


def test_pairs_need_the_same_source_account_and_moment(tmp_path: Path) -> None:
    far = tally.PAIR_SECONDS + 3
    lines = [
        chan_sip(0, "1001", "203.0.113.5"),
        security(0, "1002", "203.0.113.5"),  # another account
        chan_sip(10, "1001", "203.0.113.5"),
        security(10, "1001", "203.0.113.6"),  # another source
        chan_sip(20, "1001", "203.0.113.5"),
        security(20 + far, "1001", "203.0.113.5"),  # too late to be the same failure
        chan_sip(40, "1001", "203.0.113.5"),
        security(40 + tally.PAIR_SECONDS, "1001", "203.0.113.5"),  # just in time: one
    ]
    assert summary(counted("".join(lines), tmp_path)) == (
        7,
        {"203.0.113.5": 6, "203.0.113.6": 1},
        4,
        4,
        1,
    )


def test_a_pair_split_across_two_runs_counts_in_each(tmp_path: Path) -> None:
    """The documented choice: each run counts what it read; a failure whose two lines fall
    on either side of the position saved counts in both runs (once each)."""
    log, state = tmp_path / "full", tmp_path / "st"
    log.write_text(chan_sip(0, "1001", "203.0.113.5"))
    first = tally.scan_log(str(log), str(state), now=NOW)
    with log.open("a") as handle:
        handle.write(security(0, "1001", "203.0.113.5"))
    second = tally.scan_log(str(log), str(state), now=NOW)
    assert (first.tally.counts.attempts, second.tally.counts.attempts) == (1, 1)


def test_command_line_on_a_partly_logged_attack(tmp_path: Path) -> None:
    lines = []
    for n, (second, account, address) in enumerate(attack(100)):
        lines.append(chan_sip(second, account, address))
        if n >= 90 and address == SOURCES[0]:
            lines.append(security(second, account, address))
    log = tmp_path / "full"
    log.write_text("".join(lines))
    done = run_script(SCRIPT, "--log", str(log), "--state-dir", str(tmp_path / "st"), "-v")
    assert done.lines[:2] == [
        "ASTERISK_SIPAUTH WARNING - 100 failed SIP authentications since the last run "
        "(20.2/min) from 4 sources on 100 accounts - top 203.0.113.5 (25) | accounts=100;;;0 "
        "attempts=100;;;0 rate=20.2;10;100;0 sources=4;;;0 top_source=25;;;0",
        f"log: {log}, {log.stat().st_size} bytes read in "
        + done.lines[1].split(" bytes read in ")[1].split("s,")[0]
        + "s, window 297s, counted: 100 NOTICE lines + 2 security events - 2 logged in both "
        "forms, 0 successful authentications",
    ]
    assert done.code == 1


def test_waiting_lines_stay_within_the_window() -> None:
    """Lines of one form only (a log without security events) are not kept for ever."""
    found = tally.Tally()
    total = tally.SWEEP_EVENTS + 1000
    for n in range(total):
        source = f"198.51.100.{n % 200}"
        found.add(
            line_forms.AuthEvent(
                False, source, "1001", "Wrong password", "chan_sip", START + n / 10
            )
        )
    assert found.counts.attempts == total
    assert found.pairs == 0
    # swept after SWEEP_EVENTS failures: what waits is the last 2 * PAIR_SECONDS of them (ten
    # a second) and the 1000 read since
    waiting = sum(len(entry[0]) + len(entry[2]) for entry in found.pairing.waiting.values())
    assert waiting <= 1000 + 2 * tally.PAIR_SECONDS * 10 + 1
