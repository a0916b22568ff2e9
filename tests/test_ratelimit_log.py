"""--log mode: reject lines since the last run, across rotation and truncation."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_script

SCRIPT = "check_ratelimit_offenders"
V1 = (
    "Jan  1 10:00:0{n} relay postfix/smtpd[42]: NOQUEUE: reject: RCPT from dsl-1.isp.example"
    "[192.0.2.7]: 450 4.7.1 <x@gmail.test>: Recipient address rejected: Policy Rejection- "
    "Quota Exceeded.; from=<{who}> to=<x@gmail.test> proto=ESMTP helo=<pc>\n"
)
PRL = (
    "Jan  1 10:00:01 relay postfix/smtpd[43]: NOQUEUE: reject: DATA from pc[198.51.100.9]: 450 "
    "4.7.1 <DATA>: Data command rejected: Rate limit reach, retry later; from=<m@example.net> "
    "to=<y@yahoo.test> proto=ESMTP helo=<pc> sasl_method=PLAIN sasl_username={who}\n"
)
CB = (
    "Jan  1 10:00:02 relay cbpolicyd[7]: module=Quotas, action=reject, host=192.0.2.9, helo=pc, "
    "from=a@b.example, to=c@d.example, reason=quota_match, policy=1, quota=1, limit=1, "
    "track=SASLUsername:{who}, counter=MessageCount, quota=11.00/10 (110.0%)\n"
)
NOISE = "Jan  1 10:00:03 relay postfix/smtpd[44]: connect from pc[192.0.2.1]\n"


def run(log: Path, state: Path, *args: str) -> tuple[int, list[str]]:
    done = run_script(SCRIPT, "--log", str(log), "--state-dir", str(state), *args)
    assert done.stderr == ""
    return done.code, done.lines


def test_counts_since_last_run_with_rotation_and_truncation(tmp_path: Path) -> None:
    log, state = tmp_path / "mail.log", tmp_path / "state"
    log.write_text(
        NOISE
        + V1.format(n=1, who="spam@dsl.example") * 3
        + PRL.format(who="bob")
        + CB.format(who="carol")
        + NOISE
    )
    code, lines = run(log, state)
    assert lines[0] == (
        "RATELIMIT_OFFENDERS CRITICAL - 3 senders refused since the last run (5 rejects): "
        "spam@dsl.example (3), bob (1), SASLUsername:carol (1) | offenders=3;0;0;0 rejects=5;;;0"
    )
    assert lines[1:] == [
        "refused spam@dsl.example: 3 rejects",
        "refused bob: 1 reject",
        "refused SASLUsername:carol: 1 reject",
        "first run: whole log read, position saved",
    ]
    assert code == 2
    # nothing new: OK
    assert run(log, state) == (
        0,
        ["RATELIMIT_OFFENDERS OK - no reject since the last run | offenders=0;0;0;0 rejects=0;;;0"],
    )
    # a half-written line waits for the next run
    with log.open("a") as handle:
        handle.write(PRL.format(who="dave").rstrip("\n"))
    assert run(log, state)[0] == 0
    with log.open("a") as handle:
        handle.write("\n")
    code, lines = run(log, state)
    assert lines[0].startswith(
        "RATELIMIT_OFFENDERS CRITICAL - 1 sender refused since the last run (1 reject): dave (1)"
    )
    # rotation: the rest of the old file (now mail.log.1), then the new file
    with log.open("a") as handle:
        handle.write(PRL.format(who="erin"))
    os.rename(log, tmp_path / "mail.log.1")
    log.write_text(PRL.format(who="frank"))
    code, lines = run(log, state)
    assert lines[0].startswith(
        "RATELIMIT_OFFENDERS CRITICAL - 2 senders refused since the last "
        "run (2 rejects): erin (1), frank (1)"
    )
    assert lines[-1] == f"log rotated: rest of {tmp_path}/mail.log.1 read, then the new log"
    # truncation: read again from the start
    log.write_text(V1.format(n=2, who="gina@x.example"))
    code, lines = run(log, state)
    assert lines[0].startswith(
        "RATELIMIT_OFFENDERS CRITICAL - 1 sender refused since the last "
        "run (1 reject): gina@x.example (1)"
    )
    assert lines[-1] == "log truncated since the last run: read from its start"


def test_rotation_without_old_file_exclude_pattern_and_thresholds(tmp_path: Path) -> None:
    log, state = tmp_path / "maillog", tmp_path / "state"
    log.write_text(NOISE)
    assert run(log, state)[0] == 0
    log.unlink()
    log.write_text(
        PRL.format(who="bulk") * 9
        + PRL.format(who="bob")
        + "Jan 1 relay postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.5]: 554 "
        "5.7.1 <z@q>: Recipient address rejected: Sending limit hit; from=<lim@x> "
        "to=<z@q>\n"
    )
    code, lines = run(
        log, state, "--exclude", "bulk", "--pattern", "Sending limit hit", "-w", "1", "-c", "5"
    )
    assert lines[0] == (
        "RATELIMIT_OFFENDERS WARNING - 2 senders refused since the last run (2 rejects): "
        "bob (1), lim@x (1) | offenders=2;1;5;0 rejects=2;;;0"
    )
    # the new file may get the old inode number back: then its first bytes tell it apart
    assert lines[-1] in {
        "log rotated: the old file was not found, new log read from its start",
        "log truncated since the last run: read from its start",
    }
    assert code == 1


def test_unreadable_log_and_state_dir_unknown(tmp_path: Path) -> None:
    code, lines = run(tmp_path / "absent.log", tmp_path / "state")
    assert (code, lines) == (
        3,
        [
            f"RATELIMIT_OFFENDERS UNKNOWN - cannot read {tmp_path}/absent.log: "
            "No such file or directory"
        ],
    )
    log = tmp_path / "mail.log"
    log.write_text(NOISE)
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, lines = run(log, blocker)
    assert (code, lines) == (  # a state directory that is a file
        3,
        [f"RATELIMIT_OFFENDERS UNKNOWN - state directory {blocker} is not a directory"],
    )


def test_state_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    # In a shared directory another user could plant a state file that skips our rejects.
    log, state = tmp_path / "mail.log", tmp_path / "state"
    log.write_text("")
    assert run(log, state)[0] == 0
    (saved,) = state.glob("check_ratelimit_offenders.*.json")
    os.chown(saved, 65534, 65534)  # nobody
    code, lines = run(log, state)
    assert code == 3
    assert lines[0].startswith("RATELIMIT_OFFENDERS UNKNOWN - ")
    assert "belongs to uid 65534, not to us: refused" in lines[0]


def test_default_state_dir_is_private(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    done = run_script(SCRIPT, "--log", str(log), env={"XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert done.code == 0, done.stdout
    folder = tmp_path / "xdg" / "isp-plugins"
    assert len(list(folder.glob("check_ratelimit_offenders.*.json"))) == 1
    assert folder.stat().st_mode & 0o077 == 0
