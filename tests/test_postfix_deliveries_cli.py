"""check_postfix_deliveries as Nagios runs it: the exact status line and exit code for each
fixture log, thresholds and state, and one UNKNOWN line for every bad option or log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PluginRun, run_script

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "postfix_log"
SCRIPT = "check_postfix_deliveries"
PROVIDER_KEYS = [
    "apple",
    "comcast",
    "gmx",
    "google",
    "mailru",
    "microsoft",
    "orange",
    "other",
    "tonline",
    "yahoo",
    "yandex",
]


def perfdata(**values: str) -> str:
    """The status line's perfdata: every label, sorted, 0 unless given ('3;2;;0' style)."""
    labels = {
        "bounced": "0;;;0",
        "bounced_rate": "0.0;;;0",
        "deferred": "0;;;0",
        **{f"deferred_{key}": "0;;;0" for key in PROVIDER_KEYS},
        "deferred_rate": "0.0;;;0",
        "deferred_ratio": "0.0%;10;;0",
        "expired": "0;;;0",
        "outbound": "0;;;0",
        "refused_reputation": "0;;;0",
        "rejected": "0;;;0",
        "rejected_blocklist": "0;;;0",
        "rejected_other": "0;;;0",
        "rejected_policy": "0;;;0",
        "rejected_rate": "0.0;;;0",
        "rejected_unknown_user": "0;;;0",
        "sent": "0;;;0",
        "sent_rate": "0.0;;;0",
        "spam": "0;;;0",
        "spam_ratio": "0.0%;2;5;0",
        "throttled": "0;;;0",
    }
    labels.update(values)
    return " ".join(f"{label}={labels[label]}" for label in sorted(labels))


SYSLOG_PERF = perfdata(
    bounced="3;;;0",
    bounced_rate="0.3;;;0",
    deferred="6;;;0",
    deferred_google="3;;;0",
    deferred_other="1;;;0",
    deferred_yahoo="2;;;0",
    deferred_rate="0.6;;;0",
    deferred_ratio="37.5%;10;;0",
    expired="1;;;0",
    outbound="5;;;0",
    refused_reputation="7;;;0",
    rejected="4;;;0",
    rejected_blocklist="2;;;0",
    rejected_policy="1;;;0",
    rejected_rate="0.4;;;0",
    rejected_unknown_user="1;;;0",
    sent="7;;;0",
    sent_rate="0.7;;;0",
    spam="3;;;0",
    spam_ratio="60.0%;2;5;0",
)
GOOGLE = (
    'Google refuses the relay (4.7.28, 3 deferred: "Our system has detected an unusual rate of '
    'unsolicited mail originating from your IP address")'
)
MICROSOFT = (
    'Microsoft refuses the relay (5.7.1, 2 bounced: "Unfortunately, messages from [192.0.2.25] '
    "weren't sent\")"
)
YAHOO = (
    'Yahoo/AOL refuses the relay (4.7.0, 2 deferred: "[TSS04] Messages from 192.0.2.25 '
    'temporarily deferred due to unexpected volume or user complaints...")'
)


def run(tmp_path: Path, *args: str) -> PluginRun:
    return run_script(SCRIPT, "--state-dir", str(tmp_path / "state"), *args)


def test_the_big_receivers_refusing_the_relay_are_critical(tmp_path: Path) -> None:
    done = run(tmp_path, "--log", str(FIXTURES / "syslog.log"), "--top", "1")
    assert done.status == (
        f"POSTFIX_DELIVERIES CRITICAL - {GOOGLE} - {MICROSOFT} - {YAHOO} - 60% of outbound mail "
        f"is spam | {SYSLOG_PERF}"
    )
    assert (done.code, done.stderr) == (2, "")
    assert done.lines[1:] == [
        "Google:",
        '  reputation or block: 3 deferred (4.7.28) e.g. "421-4.7.28 [192.0.2.25 15] Our system '
        "has detected an unusual rate of unsolicited mail originating from your IP address. To "
        'protect our users from spam, mail sent from your IP address has been temp..."',
        '  recipient: 1 bounced (5.1.1) e.g. "550-5.1.1 The email account that you tried to '
        "reach does not exist. Please try double-checking the recipient's email address for "
        'typos or unnecessary spaces. For more information, go to https://sup..."',
        "Microsoft:",
        '  reputation or block: 2 bounced (5.7.1) e.g. "550 5.7.1 Unfortunately, messages from '
        "[192.0.2.25] weren't sent. Please contact your Internet service provider since part of "
        'their network is on our block list (S3150). You can also refer your pro..."',
        "Yahoo/AOL:",
        '  reputation or block: 2 deferred (4.7.0) e.g. "421 4.7.0 [TSS04] Messages from '
        "192.0.2.25 temporarily deferred due to unexpected volume or user complaints - "
        '4.16.55.1; see https://postmaster.yahooinc.com/error-codes"',
        "other:",
        '  connection: 1 deferred (4.4.1) e.g. "connect to mx.shop.example[198.51.100.25]:25: '
        'Connection timed out"',
        "top deferral reasons (of 3 reasons):",
        "        3  421-4.7.28 [192.0.2.25 15] Our system has detected an unusual rate of "
        "unsolicited mail originating from your IP address. To protect our users from spam, "
        "mail sent from your IP address has been temp...",
        "rejected incoming: blocklist 2, unknown user 1, policy 1",
        "outbound mail scanned by amavis: 5 (CLEAN 1, INFECTED 1, SPAM 2, SPAMMY 1)",
        "top spam senders (of 2 client addresses):",
        "        2  192.0.2.66",
        "first run: whole log read, position saved",
    ]
    again = run(tmp_path, "--log", str(FIXTURES / "syslog.log"))
    assert again.stdout == (
        "POSTFIX_DELIVERIES OK - 0 sent, 0 deferred, 0 bounced, 0 expired, 0 rejected since the "
        f"last run (0% of attempts deferred) | {perfdata()}\n"
    )
    assert again.code == 0


def test_thresholds_on_any_perfdata_value(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        "--log",
        str(FIXTURES / "syslog.log"),
        "--critical-providers",
        "none",
        "-w",
        "deferred_google=2",
        "-c",
        "rejected_blocklist=1",
        "--min-messages",
        "5",
    )
    perf = SYSLOG_PERF.replace("deferred_google=3;;;0", "deferred_google=3;2;;0").replace(
        "rejected_blocklist=2;;;0", "rejected_blocklist=2;;1;0"
    )
    assert done.status == (
        f"POSTFIX_DELIVERIES CRITICAL - {GOOGLE} - {MICROSOFT} - {YAHOO} - rejected_blocklist 2 "
        "(above 1) - 60% of outbound mail is spam (above 5) - 37.5% of delivery attempts "
        "deferred (above 10) - deferred_google 3 (above 2) | " + perf
    )
    assert done.code == 2


def test_a_provider_outside_the_critical_ones_and_a_throttle_warn(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        "--log",
        str(FIXTURES / "maillog_file.log"),
        "--critical-providers",
        "google",
        "--top",
        "0",
    )
    assert done.status == (
        'POSTFIX_DELIVERIES WARNING - Microsoft throttles the relay (4.7.500, 2 deferred: "Server '
        'busy. Please try again later from [192.0.2.26]") - Apple refuses the relay (5.7.0, 1 '
        'bounced: "Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=2001:db8:25::25")'
        ' - T-Online refuses the relay (5.0.0, 1 bounced: "IP=192.0.2.26 - A problem occurred") | '
        + perfdata(
            bounced="4;;;0",
            bounced_rate="0.8;;;0",
            deferred="3;;;0",
            deferred_microsoft="2;;;0",
            deferred_other="1;;;0",
            deferred_rate="0.6;;;0",
            deferred_ratio="37.5%;10;;0",
            refused_reputation="2;;;0",
            rejected="1;;;0",
            rejected_blocklist="1;;;0",
            rejected_rate="0.2;;;0",
            sent="1;;;0",
            sent_rate="0.2;;;0",
            throttled="2;;;0",
        )
    )
    assert done.code == 1
    assert done.lines[1:5] == [
        "Microsoft:",
        '  rate limited: 2 deferred (4.7.500) e.g. "451 4.7.500 Server busy. Please try again '
        'later from [192.0.2.26]. (S77714) [AM0EUR02FT012.eop-EUR02.prod.protection.outlook.com]"',
        "Apple:",
        '  reputation or block: 1 bounced (5.7.0) e.g. "550 5.7.0 Blocked - see '
        'https://support.proofpoint.com/dnsbl-lookup.cgi?ip=2001:db8:25::25"',
    ]


def test_iso_stamps_and_a_separate_amavis_log(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        "--log",
        str(FIXTURES / "iso.log"),
        "--amavis-log",
        str(FIXTURES / "amavis.log"),
        "--min-messages",
        "10",
        "-v",
    )
    assert done.status.startswith(
        'POSTFIX_DELIVERIES CRITICAL - GMX/WEB.DE refuses the relay (5.0.0, 1 bounced: "web.de '
        "(mxweb110) Nemesis ESMTP Service not available No SMTP service IP address is block "
        'listed") - Yahoo/AOL refuses the relay (4.7.0, 1 deferred: "[TSS09] All messages from '
        '192.0.2.27 will be permanently deferred; Retrying will NOT succeed") - Comcast throttles '
        'the relay (4.0.0, 1 deferred: "resimta-po-22v.sys.comcast.net comcast 192.0.2.27 Too '
        'many sessions opened") - 2 more in the long output - 36.36% of outbound mail is spam '
        "(above 5) | "
    )
    assert " outbound=11;;;0 " in done.status and " spam=4;;;0 " in done.status
    assert " sent_rate=1.98;;;0 " in done.status  # 2 in a window of 60.6 s
    assert done.lines[1].startswith(
        f"log: {FIXTURES / 'iso.log'} and {FIXTURES / 'amavis.log'}, 6637 bytes read in "
    )
    assert done.lines[1].endswith("s, window 61s")
    assert done.lines[2:4] == [
        'Mail.ru refuses the relay (5.0.0, 1 bounced: "spam message rejected")',
        'Yandex refuses the relay (5.7.1, 1 bounced: "Message rejected under suspicion of SPAM; '
        'https://ya.cc/1IrBc 1764745203-AbCdEf12")',
    ]
    assert "outbound mail scanned by amavis: 11 (BANNED 1, CLEAN 6, INFECTED 1, SPAM 3)" in (
        done.lines
    )
    assert done.lines[-2:] == [
        f"{FIXTURES / 'iso.log'}: first run: whole log read, position saved",
        f"{FIXTURES / 'amavis.log'}: first run: whole log read, position saved",
    ]
    assert done.code == 2


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("--critical-providers", "google,foo"),
            "Invalid value for '--critical-providers': 'foo' is not a provider; known: google, "
            "yahoo, microsoft, apple, gmx, tonline, orange, comcast, mailru, yandex, other",
        ),
        (
            ("-w", "nosuch=1"),
            "Invalid value for '-w' / '--warning': 'nosuch' is not a perfdata label",
        ),
        (
            ("-c", "sent"),
            "Invalid value for '-c' / '--critical': 'sent' is not LABEL=RANGE, like "
            "deferred_google=100",
        ),
        (
            ("-w", "sent=x"),
            "Invalid value for '-w' / '--warning': 'x' is not a range like 100, 10:, ~:10 or "
            "@10:20",
        ),
        (
            ("--deferred-warning", "abc"),
            "Invalid value for '--deferred-warning': 'abc' is not a range like 100, 10:, ~:10 or "
            "@10:20",
        ),
        (
            ("--min-messages", "0"),
            "Invalid value for '--min-messages': 0 is not in the range x>=1.",
        ),
    ],
)
def test_bad_options_are_one_unknown_line(tmp_path: Path, args: tuple[str, ...], line: str) -> None:
    done = run(tmp_path, *args)
    assert done.stdout == f"POSTFIX_DELIVERIES UNKNOWN - {line} (see --help)\n"
    assert (done.code, done.stderr) == (3, "")


def test_a_missing_or_unreadable_log_is_unknown(tmp_path: Path) -> None:
    missing = tmp_path / "missing.log"
    done = run(tmp_path, "--log", str(missing))
    assert done.stdout == (
        f"POSTFIX_DELIVERIES UNKNOWN - cannot read {missing}: No such file or directory\n"
    )
    assert done.code == 3
    done = run(tmp_path, "--log", str(FIXTURES / "syslog.log"), "--amavis-log", str(missing))
    assert done.status == (
        f"POSTFIX_DELIVERIES UNKNOWN - cannot read {missing}: No such file or directory"
    )
    assert done.code == 3
    blocked = tmp_path / "file"
    blocked.write_text("")
    done = run_script(SCRIPT, "--log", str(FIXTURES / "syslog.log"), "--state-dir", str(blocked))
    assert (
        done.status == f"POSTFIX_DELIVERIES UNKNOWN - state directory {blocked} is not a directory"
    )
    assert done.code == 3


def test_garbage_in_the_log_is_no_failure(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(
        b"\x00\xff garbage status=deferred ( said: \n"
        b"postfix/smtp[1]: A: to=<a@gmail.com>, relay=none, status=deferred (\xe9\xe9 | x)\n"
        + b"x" * 100000
        + b"\n"
        + b"postfix/smtp[1]: A: to=<b@gmail.com>, relay=none, status=bounced\n"
    )
    done = run(tmp_path, "--log", str(log))
    assert done.status.startswith(
        "POSTFIX_DELIVERIES OK - 0 sent, 1 deferred, 1 bounced, 0 expired, 0 rejected since the "
        "last run (50% of attempts deferred) | "
    )
    assert done.lines[1:4] == [
        "Google:",
        '  other: 1 deferred, 1 bounced (-) e.g. "\ufffd\ufffd / x"',  # bytes that are no UTF-8
        "top deferral reasons (of 1 reason):",
    ]
    assert done.code == 0


def test_the_command_line_knows_the_providers_of_the_data() -> None:
    """The command keeps the provider keys itself (--help must not compile the reply rules);
    this holds them to the data's."""
    from isp_plugins.checks.postfix_deliveries import command
    from isp_plugins.sources.postfix_log import providers

    assert (*(p.key for p in providers.PROVIDERS), "other") == command.PROVIDER_KEYS
    assert command.MAJOR_DEFAULT.split(",") == list(providers.MAJOR)
    assert sorted(PROVIDER_KEYS) == sorted(command.PROVIDER_KEYS)
