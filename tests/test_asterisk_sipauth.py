"""check_asterisk_sipauth: every log line form and version, the window, rotation, truncation,
a half-written last line, --ignore, the compromise check and every failure mode."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from isp_plugins.sources.logtail import stamps
from isp_plugins.sources.sip_security import lines, tally
from tests.conftest import ROOT, run_script

SCRIPT = "check_asterisk_sipauth"
FIXTURES = ROOT / "fixtures" / "asterisk_security"
#: 2024-12-24: a year-less stamp is read in 2024.
NOW = 1735000000.0

#: fixture -> (failures counted, sources, accounts, top source, its failures,
#: (NOTICE lines, security events, failures logged in both forms))
EXPECTED = {
    "chan_sip-1.4.log": (7, 3, 6, "203.0.113.5", 4, (7, 0, 0)),
    "chan_sip-1.6.log": (4, 2, 4, "203.0.113.5", 2, (4, 0, 0)),
    "chan_sip-1.8.log": (4, 2, 4, "203.0.113.5", 3, (4, 0, 0)),
    "chan_sip-11.log": (4, 2, 4, "203.0.113.5", 3, (4, 0, 0)),
    "chan_sip-20-syslog.log": (3, 1, 3, "203.0.113.9", 3, (3, 0, 0)),
    "pjsip-12.log": (3, 2, 3, "203.0.113.5", 2, (3, 0, 0)),
    "pjsip-13.10.log": (4, 2, 4, "203.0.113.5", 2, (4, 0, 0)),
    "pjsip-18.log": (4, 3, 4, "203.0.113.5", 2, (4, 0, 0)),
    "security-11.log": (3, 2, 3, "203.0.113.5", 2, (0, 3, 0)),
    "security-13.log": (3, 2, 3, "203.0.113.5", 2, (0, 3, 0)),
    "security-18-pjsip.log": (4, 1, 2, "203.0.113.5", 4, (0, 4, 0)),
    "full-mixed-13.log": (2, 1, 2, "203.0.113.5", 2, (2, 2, 2)),
}


def test_every_fixture_has_its_expectation() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.log")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_counts(name: str, tmp_path: Path) -> None:
    attempts, sources, accounts, top, top_count, form = EXPECTED[name]
    scan = tally.scan_log(str(FIXTURES / name), str(tmp_path), now=NOW, update=False)
    counts = scan.tally.counts
    assert counts.attempts == attempts
    assert len(counts.per_source) == sources
    assert len(counts.accounts) == accounts
    assert counts.per_source.most_common(1)[0] == (top, top_count)
    assert (scan.tally.notice_lines, scan.tally.security_events, scan.tally.pairs) == form


def event(line: str) -> lines.AuthEvent | None:
    return lines.parse_line(line, now=NOW)


def test_chan_sip_address_forms_by_version() -> None:
    prefix = "[Mar  1 10:00:00] NOTICE[1]: chan_sip.c:1 handle_request_register: "
    text = prefix + "Registration from '<sip:200@192.0.2.10>' failed for '{}' - Wrong password"
    # 1.4/1.6: the IP alone; 1.8+: IP:port, IPv6 bracketed
    for logged, ip in (
        ("203.0.113.5", "203.0.113.5"),
        ("203.0.113.5:5060", "203.0.113.5"),
        ("[2001:db8::1]:5060", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
    ):
        found = event(text.format(logged))
        assert found is not None
        assert (found.source, found.account, found.form) == (ip, "200", "chan_sip")
    assert found.when == time.mktime((2024, 3, 1, 10, 0, 0, 0, 0, -1))
    # reasons that are not an authentication failure
    for reason in ("RTP initialization failed", "Unknown failure", "Device not configured to use"):
        assert event(text.format("203.0.113.5").replace("Wrong password", reason)) is None


def test_pjsip_forms_and_after_tries_suffix() -> None:
    old = (
        "Request from '<sip:1@h>' failed for '2001:db8::9:5060' (callid: c) - "
        "No matching endpoint found"
    )
    mid = (
        "Request 'REGISTER' from '<sip:2@h>' failed for '203.0.113.5:5060' (callid: c) - "
        "Failed to authenticate"
    )
    new = (
        "Request 'INVITE' from '\"x\" <sip:3@h>' failed for '[2001:db8::9]:5061' (callid: c) - "
        "No matching endpoint found after 2 tries in 0.512 ms"
    )
    found = [event(text) for text in (old, mid, new)]
    assert [(e.source, e.account, e.reason) for e in found if e] == [
        ("2001:db8::9", "1", "No matching endpoint found"),
        ("203.0.113.5", "2", "Failed to authenticate"),
        ("2001:db8::9", "3", "No matching endpoint found"),
    ]
    assert all(e is not None and e.when is None for e in found)  # no stamp on these lines


def test_security_event_both_eventtv_forms_and_services() -> None:
    base = (
        'SecurityEvent="InvalidPassword",EventTV="{tv}",Severity="Error",Service="{service}",'
        'EventVersion="2",AccountID="1001",SessionID="0x1",LocalAddress="IPV4/UDP/192.0.2.10/5060",'
        'RemoteAddress="IPV4/UDP/203.0.113.5/5060"'
    )
    old = event(base.format(tv="1331373600-500000", service="SIP"))
    new = event(base.format(tv="2012-03-10T10:00:00.500+0000", service="PJSIP"))
    assert old is not None and new is not None
    assert old.when == new.when == 1331373600.5
    assert (new.source, new.account, new.ok) == ("203.0.113.5", "1001", False)
    assert event(base.format(tv="1331373600-500000", service="AMI")) is None
    assert (
        event(base.replace("InvalidPassword", "ChallengeSent").format(tv="1-1", service="SIP"))
        is None
    )


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("[Mar  1 10:00:00] x", (2024, 3, 1, 10, 0, 0)),
        ("[Dec 31 23:59:59] x", (2023, 12, 31, 23, 59, 59)),  # more than a day ahead: last year
        ("[2024-05-01 10:15:30] x", (2024, 5, 1, 10, 15, 30)),
        ("[2024-05-01 10:15:30.250] x", (2024, 5, 1, 10, 15, 30.25)),
        ("Mar  1 10:00:00 pbx asterisk[1]: x", (2024, 3, 1, 10, 0, 0)),
    ],
)
def test_log_date_formats(stamp: str, expected: tuple[float, ...]) -> None:
    *whole, second = expected
    want = time.mktime((*map(int, whole), int(second), 0, 0, -1)) + second % 1  # type: ignore[arg-type]
    assert stamps.line_stamp(stamp, now=time.mktime((2024, 12, 24, 0, 0, 0, 0, 0, -1))) == want


def test_nonsense_stamps_are_none() -> None:
    for text in ("[Foo  1 10:00:00] x", "[2024-13-45 99:00:00] x", "[] x", "no stamp"):
        assert stamps.line_stamp(text, now=NOW) is None


def test_ignore_networks_and_memory_between_runs(tmp_path: Path) -> None:
    log = tmp_path / "full"
    shutil.copy(FIXTURES / "pjsip-18.log", log)
    ignore = [ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::/32")]
    scan = tally.scan_log(str(log), str(tmp_path / "st"), ignore, now=NOW)
    assert scan.tally.counts.attempts == 2 and scan.tally.ignored == 2
    # the failed source is remembered: a success next run, from there, is a compromise
    with log.open("a") as handle:
        handle.write(
            'SecurityEvent="SuccessfulAuth",EventTV="2024-01-20T03:20:00.000+0000",'
            'Severity="Informational",Service="PJSIP",EventVersion="1",AccountID="7002",'
            'SessionID="s",LocalAddress="IPV4/UDP/192.0.2.10/5060",'
            'RemoteAddress="IPV4/UDP/203.0.113.5/5060",UsingPassword="1"\n'
        )
    scan = tally.scan_log(str(log), str(tmp_path / "st"), ignore, min_failures=2, now=NOW)
    assert [(c.account, c.source, c.failures) for c in scan.tally.compromises] == [
        ("7002", "203.0.113.5", 2)
    ]


# -- the command --------------------------------------------------------------------------
def run(log: Path, state: Path, *args: str) -> tuple[int, list[str]]:
    done = run_script(SCRIPT, "--log", str(log), "--state-dir", str(state), *args)
    assert done.stderr == ""
    return done.code, done.lines


def notice(second: int, account: str, address: str, day: str = "2024-03-10 10:00") -> str:
    return (
        f"[{day}:{second:02d}] NOTICE[4567]: chan_sip.c:28390 handle_request_register: "
        f"Registration from '<sip:{account}@192.0.2.10>' failed for '{address}:5060' - "
        "Wrong password\n"
    )


def test_counts_since_last_run_with_rotation_truncation_and_half_line(tmp_path: Path) -> None:
    log, state = tmp_path / "full", tmp_path / "state"
    log.write_text("".join(notice(s, str(200 + s), "203.0.113.5") for s in range(30)))
    code, out = run(log, state)
    assert out[0] == (
        "ASTERISK_SIPAUTH WARNING - 30 failed SIP authentications since the last run "
        "(30.0/min) from 1 source on 30 accounts - top 203.0.113.5 (30) | accounts=30;;;0 "
        "attempts=30;;;0 rate=30.0;10;100;0 sources=1;;;0 top_source=30;;;0"
    )
    assert out[1] == (
        "203.0.113.5: 30 failures on 30 accounts: 200, 201, 202, 203, 204, 205, 206, 207, "
        "208, 209, ... (+20)"
    )
    assert out[-1] == "first run: whole log read, position saved"
    assert code == 1  # 30 a minute: above the default --rate-warning 10
    # nothing new: OK, rate 0
    code, out = run(log, state)
    assert (code, out) == (
        0,
        [
            "ASTERISK_SIPAUTH OK - no failed SIP authentication since the last run | "
            "accounts=0;;;0 attempts=0;;;0 rate=0.0;10;100;0 sources=0;;;0 top_source=0;;;0"
        ],
    )
    # a half-written line waits; the window runs from the previous run's last stamp
    with log.open("a") as handle:
        handle.write(notice(0, "300", "198.51.100.7", day="2024-03-10 10:02").rstrip("\n"))
    assert run(log, state)[1][0].startswith("ASTERISK_SIPAUTH OK - no failed SIP")
    with log.open("a") as handle:
        handle.write("\n" + notice(0, "301", "198.51.100.7", day="2024-03-10 10:03"))
    code, out = run(log, state)
    # 10:00:29 -> 10:03:00: 2 failures in 151 s
    assert out[0].startswith(
        "ASTERISK_SIPAUTH OK - 2 failed SIP authentications since the last run (0.8/min) "
        "from 1 source on 2 accounts - top 198.51.100.7 (2) |"
    )
    # rotation: the rest of full.1, then the new file
    with log.open("a") as handle:
        handle.write(notice(1, "400", "203.0.113.77", day="2024-03-10 10:03"))
    os.rename(log, tmp_path / "full.1")
    log.write_text(notice(2, "401", "203.0.113.78", day="2024-03-10 10:03"))
    code, out = run(log, state, "--sources-warning", "1")
    assert code == 1
    assert out[0].startswith("ASTERISK_SIPAUTH WARNING - 2 failed SIP authentications")
    assert out[-1] == f"log rotated: rest of {tmp_path}/full.1 read, then the new log"
    # truncation: from the start
    log.write_text(notice(5, "500", "203.0.113.79", day="2024-03-10 10:04"))
    code, out = run(log, state)
    assert "1 failed SIP authentication since" in out[0]
    assert out[-1] == "log truncated since the last run: read from its start"


def test_compromise_is_critical_unless_turned_off(tmp_path: Path) -> None:
    log, state = tmp_path / "security", tmp_path / "state"
    shutil.copy(FIXTURES / "security-18-pjsip.log", log)
    code, out = run(log, state, "--top", "1")
    assert code == 2
    assert out[0] == (
        "ASTERISK_SIPAUTH CRITICAL - likely compromise: account 6001 authenticated from "
        "203.0.113.5 after 4 failures - 4 failed SIP authentications since the last run "
        "(4.0/min) from 1 source on 2 accounts - top 203.0.113.5 (4) | accounts=2;;;0 "
        "attempts=4;;;0 rate=4.0;10;100;0 sources=1;;;0 top_source=4;;;0"
    )
    assert out[1:] == [
        "likely compromise: account 6001 authenticated from 203.0.113.5 after 4 failures "
        "from that address",
        "203.0.113.5: 4 failures on 2 accounts: 6001, <unknown>",
        "first run: whole log read, position saved",
    ]
    code, out = run(log, tmp_path / "other", "--no-compromise-check")
    assert code == 0 and "compromise" not in "\n".join(out)
    code, out = run(log, tmp_path / "third", "--compromise-failures", "5")
    assert code == 0


def test_thresholds_on_every_metric(tmp_path: Path) -> None:
    log = tmp_path / "full"
    shutil.copy(FIXTURES / "chan_sip-1.4.log", log)
    for option, code in (
        ("--attempts-critical", 2),
        ("--sources-critical", 2),
        ("--accounts-warning", 1),
        ("--top-source-warning", 1),
        ("--rate-critical", 2),
    ):
        got, out = run(log, tmp_path / option, option, "2")
        assert got == code, (option, out)
    got, out = run(log, tmp_path / "v", "-v", "--ignore", "203.0.113.0/24")
    assert got == 0
    assert out[1].startswith(f"log: {log}, ")
    assert (
        "counted: 3 NOTICE lines + 0 security events - 0 logged in both forms, "
        "0 successful authentications"
    ) in out[1]
    assert "4 events from --ignore networks left out" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ignore", "300.1.1.1/8"], "'300.1.1.1/8' is not a network"),
        (["--rate-warning", "abc"], "'abc' is not a range"),
        (["--compromise-failures", "0"], "0 is not in the range x>=1"),
        (["--top", "-1"], "--top"),
    ],
)
def test_bad_options_are_unknown(tmp_path: Path, args: list[str], message: str) -> None:
    log = tmp_path / "full"
    log.write_text("")
    code, out = run(log, tmp_path / "st", *args)
    assert code == 3 and len(out) == 1
    assert out[0].startswith("ASTERISK_SIPAUTH UNKNOWN - ") and message in out[0]


def test_unreadable_log_and_state_are_unknown(tmp_path: Path) -> None:
    code, out = run(tmp_path / "absent", tmp_path / "st")
    assert (code, out) == (
        3,
        [f"ASTERISK_SIPAUTH UNKNOWN - cannot read {tmp_path}/absent: No such file or directory"],
    )
    log = tmp_path / "full"
    log.write_text(notice(1, "1", "203.0.113.5"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out = run(log, blocker)
    assert (code, out) == (
        3,
        [f"ASTERISK_SIPAUTH UNKNOWN - state directory {blocker} is not a directory"],
    )
    state = tmp_path / "state"
    assert run(log, state)[0] == 0
    (saved,) = state.glob("check_asterisk_sipauth.*.json")
    os.chown(saved, 65534, 65534)
    code, out = run(log, state)
    assert code == 3 and "belongs to uid 65534, not to us: refused" in out[0]
    code, out = run(tmp_path, state)
    assert code == 3 and out[0].endswith("is a directory. (see --help)")


def test_state_is_private_by_default(tmp_path: Path) -> None:
    log = tmp_path / "full"
    log.write_text("")
    done = run_script(SCRIPT, "--log", str(log), env={"XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert done.code == 0, done.stdout
    folder = tmp_path / "xdg" / "isp-plugins"
    assert len(list(folder.glob("check_asterisk_sipauth.*.json"))) == 1
    assert folder.stat().st_mode & 0o077 == 0


def test_corrupt_state_memory_is_ignored(tmp_path: Path) -> None:
    log, state = tmp_path / "full", tmp_path / "state"
    log.write_text(notice(1, "1", "203.0.113.5"))
    assert run(log, state)[0] == 0
    (saved,) = state.glob("check_asterisk_sipauth.*.json")
    text = saved.read_text().replace(
        '"failed": {',
        '"compromises": [1, ["a"], ["a", "b", 1, null, "x"], ["a", "b", 1, null, 1e99]], '
        '"failed": {"x": "y", "1.2.3.4": [1, "z"], ',
    )
    saved.write_text(text)
    log.write_text(log.read_text() + notice(2, "2", "203.0.113.5"))
    code, out = run(log, state)
    assert code == 0 and "1 failed SIP authentication since the last run" in out[0]


def test_hostile_account_names_stay_on_one_line(tmp_path: Path) -> None:
    log = tmp_path / "full"
    log.write_text(
        "[2024-03-10 10:00:00] NOTICE[1]: chan_sip.c:1 handle_request_register: Registration "
        "from '<sip:a|b\x1b[31m\x00" + "x" * 200 + "@192.0.2.10>' failed for '203.0.113.5:5060' "
        "- Wrong password\n"
    )
    code, out = run(log, tmp_path / "st")
    assert code == 0
    assert out[1] == "203.0.113.5: 1 failure on 1 account: a/b?[31m?" + "x" * 52 + "..."


def test_a_log_too_big_for_the_time_limit_is_read_over_several_runs(tmp_path: Path) -> None:
    """Out of time, the scan saves where it stopped; the next runs go on, nothing twice."""
    log, state = tmp_path / "full", tmp_path / "state"
    lines_ = [notice(n % 60, str(n), f"203.0.113.{n % 7}") for n in range(1000)]
    log.write_text("".join(lines_[:600]))
    counted, runs = 0, 0
    while True:
        runs += 1
        scan = tally.scan_log(str(log), str(state), now=NOW, deadline=0.0)  # always spent
        counted += scan.tally.counts.attempts
        if runs == 3:  # rotated in the middle of it: the rest of full.1, then the new file
            os.rename(log, tmp_path / "full.1")
            log.write_text("".join(lines_[600:]))
        if not any(note.startswith("time limit: ") for note in scan.notes) and runs > 3:
            break
        assert runs < 100
    assert counted == 1000
    assert runs >= 1000 // 64


def test_rotation_and_half_line_fixtures(tmp_path: Path) -> None:
    """fixtures/asterisk_security/rotation: lines before, lines appended to the old file just
    before logrotate moved it, the new file, then a write cut in the middle of a line."""
    rotation = FIXTURES / "rotation"
    log, state = tmp_path / "full", tmp_path / "state"
    shutil.copy(rotation / "full.before", log)
    code, out = run(log, state)
    assert code == 0
    assert "2 failed SIP authentications since the last run" in out[0]
    with log.open("a") as handle:
        handle.write((rotation / "full.appended").read_text())
    os.rename(log, tmp_path / "full.1")
    shutil.copy(rotation / "full.new", log)
    code, out = run(log, state)
    assert code == 0
    assert out[0].startswith(
        "ASTERISK_SIPAUTH OK - 3 failed SIP authentications since the last run (1.5/min) from "
        "2 sources on 3 accounts - top 203.0.113.5 (2) | "
    )  # 23:58:02 -> 00:00:01: 3 in 119 s, 1.5 a minute
    assert out[-1] == f"log rotated: rest of {tmp_path}/full.1 read, then the new log"
    with log.open("a") as handle:
        handle.write((rotation / "full.half").read_text())
    code, out = run(log, state)
    assert code == 0
    assert "1 failed SIP authentication since the last run" in out[0]  # 205; 206 waits
    with log.open("a") as handle:
        handle.write("5:5060' - Wrong password\n")
    code, out = run(log, state)
    assert code == 0
    assert "1 failed SIP authentication since the last run" in out[0]
    assert out[1] == "203.0.113.5: 1 failure on 1 account: 206"


def test_a_compromise_is_held_for_the_hold_time(tmp_path: Path) -> None:
    """One run's CRITICAL would stay a soft state in Nagios: the next runs report it again."""
    log, state = tmp_path / "security", tmp_path / "state"
    shutil.copy(FIXTURES / "security-18-pjsip.log", log)
    assert run(log, state)[0] == 2
    code, out = run(log, state)
    assert code == 2
    # the age is the suite's one format (runtime.text.human_age): seconds, as the runs are close
    ago = re.search(r"\(found (\d+)s ago\)", out[0])
    assert ago, out[0]
    assert out[0] == (
        "ASTERISK_SIPAUTH CRITICAL - likely compromise: account 6001 authenticated from "
        f"203.0.113.5 after 4 failures (found {ago[1]}s ago) - no failed SIP authentication "
        "since the last run | accounts=0;;;0 attempts=0;;;0 rate=0.0;10;100;0 sources=0;;;0 "
        "top_source=0;;;0"
    )
    assert out[1] == (
        "likely compromise: account 6001 authenticated from 203.0.113.5 after 4 failures from "
        f"that address (found {ago[1]}s ago)"
    )
    # the hold is over (0): OK again, and the memory of it is gone
    assert run(log, state, "--compromise-hold", "0")[0] == 0
    assert run(log, state)[0] == 0
    # once only
    other = tmp_path / "other"
    assert run(log, other, "--compromise-hold", "0")[0] == 2
    assert run(log, other, "--compromise-hold", "0")[0] == 0
    code, out = run(log, other, "--compromise-hold", "soon")
    assert code == 3 and "'soon' is not a duration" in out[0]
