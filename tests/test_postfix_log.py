"""The Postfix/amavis log source: each receiver's reply text classified by its rule, providers
by domain and MX host, every delivery agent's line, smtpd rejects, amavisd-new verdicts, and
the incremental scan (exactly once across runs, rotation, a log read in parts)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from isp_plugins.sources.postfix_log import automaton, lines, providers, tally
from isp_plugins.sources.postfix_log.automaton import AutomatonCounter
from isp_plugins.sources.postfix_log.providers import REJECT_CLASSES, REPLIES, classify
from tests.conftest import postfix_counter

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "postfix_log"


# -- the reply texts, one test each -------------------------------------------------------
@pytest.mark.parametrize("reply", REPLIES, ids=[r.name for r in REPLIES])
def test_each_reply_text_is_classified_by_its_own_rule(reply: providers.Reply) -> None:
    found, _ = classify(providers.clean_reply(reply.sample))
    assert (found.name, found.cause) == (reply.name, reply.cause)


def test_each_reply_text_says_where_it_was_seen() -> None:
    for reply in REPLIES:
        assert reply.source.startswith(
            ("https://", "seen in", "generic words", "Postfix's own", "unverified: ")
        ) or re.search(r"https://|public (?:code|test|bounce)", reply.source), reply.name
    # The wordings no real reply was found for are said to be unverified.
    assert [r.name for r in REPLIES if r.source.startswith("unverified")] == [
        "microsoft-hourly-limit"
    ]


def test_rule_names_are_unique_and_causes_known() -> None:
    names = [r.name for r in REPLIES]
    assert len(set(names)) == len(names)
    assert {r.cause for r in REPLIES} <= set(providers.CAUSES)
    assert set(providers.CAUSE_TEXT) == set(providers.CAUSES)


@pytest.mark.parametrize(
    ("reply", "name"),
    [
        # An address's digits are no code: 10.5.1.3 holds "5.1.3" (a recipient code).
        ("connect to mx.example.org[10.5.1.3]:25: Connection refused", "connection"),
        ("451 4.3.0 Temporary failure from [10.5.1.3]", "other"),
        # Gmail's 4.7.28 for the SPF domain names SPF, yet it is about spam, not SPF.
        (
            "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from "
            "your SPF domain. To protect our users from spam, mail sent from your domain has "
            "been temporarily rate limited.",
            "google-unsolicited-rate",
        ),
        (
            "421 4.7.0 [TS01] Messages from 192.0.2.25 temporarily deferred due to user complaints",
            "yahoo-complaints",
        ),
        (
            "550 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using bl.spamcop.net",
            "dnsbl",
        ),
        ("452 4.5.3 Too many recipients", "throttled"),
        ("552 5.2.2 Mailbox full", "no-such-recipient"),
        ("TLS is required, but was not offered by host mx.example.org[198.51.100.7]", "tls"),
        (
            "lost connection with mx.example.org[198.51.100.7] while receiving the initial "
            "server greeting",
            "connection",
        ),
        ("", "other"),
        # Real variants of the receivers' replies (where each was seen: providers.REPLIES).
        (
            "550 5.7.1 Unfortunately, messages from [192.0.2.25] weren't sent. Please contact "
            "your Internet service provider since part of their network is on our block list "
            "(S3150). You can also refer your provider to http://mail.live.com/mail/"
            "troubleshooting.aspx#errors. [Name=Protocol Filter Agent][AGT=PFA]"
            "[MxId=11BC54339C3FD8FF]",
            "microsoft-block-list",
        ),
        (
            "550 SC-001 (SNT004-MC3F21) Unfortunately, messages from 192.0.2.25 weren't sent. "
            "Please contact your Internet service provider since part of their network is on "
            "our block list.",
            "microsoft-block-list",
        ),
        (
            "550 DY-001 (BAY0-MC1-F3) Unfortunately, messages from 192.0.2.25 weren't sent. "
            "Please contact your Internet service provider. You can tell them that Hotmail does "
            "not relay dynamically-assigned IP ranges.",
            "microsoft-block-list",
        ),
        (
            "550 5.7.511 Access denied, banned sender[192.0.2.25]. To request removal from this "
            "list please forward this message to delist@messaging.microsoft.com.",
            "microsoft-banned-ip",
        ),
        (
            "451 4.7.651 The mail server [192.0.2.25] has been temporarily rate limited due to "
            "IP reputation. For e-mail delivery information, see https://postmaster.live.com "
            "(S3114)",
            "microsoft-ip-reputation",
        ),
        (
            "550-5.7.1 [192.0.2.25 1] Our system has detected an unusual rate of 550-5.7.1 "
            "unsolicited mail originating from your IP address. To protect our 550-5.7.1 users "
            "from spam, mail sent from your IP address has been blocked. 550-5.7.1 Please visit "
            "550-5.7.1 https://support.google.com/mail/?p=UnsolicitedIPError to review our 550 "
            "5.7.1 Bulk Email Senders Guidelines. s25si6573124wmj.54 - gsmtp",
            "google-unsolicited-rate",
        ),
        (
            "550-5.7.1 This message does not have authentication information or fails to pass "
            "550-5.7.1 authentication checks.",
            "google-unauthenticated",
        ),
        (
            "553 5.7.2 [TSS06] All messages from 192.0.2.25 will be permanently deferred; "
            "Retrying will NOT succeed. See https://help.yahoo.com/kb/postmaster/SLN3436.html",
            "yahoo-permanently-deferred",
        ),
        (
            "421 [IPTS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume "
            "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
            "yahoo-complaints",
        ),
        (
            "553 5.7.1 [TSS07] Connections will not be accepted from 192.0.2.25, because the ip "
            "is in Spamhaus's list; see https://postmaster.verizonmedia.com/error-codes",
            "dnsbl",
        ),
        (
            "550 5.7.1 [CS01] Message rejected due to local policy. Please visit "
            "https://support.apple.com/en-us/HT204137",
            "apple-blocked",
        ),
        ("554 5.7.1 [HM08] Message rejected due to local policy", "apple-blocked"),
        (
            "554-gmx.net (mxgmx017) Nemesis ESMTP Service not available 554-No SMTP service "
            "554-Bad DNS PTR resource record. 554 For explanation visit "
            "http://postmaster.gmx.com/en/error-messages?ip=192.0.2.25&c=rdns",
            "authentication",
        ),
        (
            "554 IP=192.0.2.25 - Dialup/transient IP not allowed. Use a mailgateway or contact "
            "toda@rx.t-online.de if obsolete. (DIAL)",
            "tonline-blocked",
        ),
        (
            "421 OFR004_105 Service refuse. Veuillez essayer plus tard / Service refused, please "
            "try later",
            "orange-refused",
        ),
        (
            "451 4.2.0 Throttled - https://postmaster.comcast.net/smtp-error-codes.php#RL000010",
            "comcast-rate",
        ),
        (
            "554 Message not allowed - [PH01] Email not accepted for policy reasons. Please "
            "visit https://postmaster.yahooinc.com/error-codes",
            "yahoo-policy",
        ),
    ],
)
def test_replies_beyond_the_samples(reply: str, name: str) -> None:
    assert classify(providers.clean_reply(reply))[0].name == name


def test_patterns_are_lower_case_and_their_plain_texts_are_read() -> None:
    for reply in REPLIES:
        text = re.sub(r"\\.", "", reply.pattern)  # escapes (\S, \d) may be upper case
        assert text == text.lower(), reply.name
    assert providers.literal_runs(r"\(s3140\)|part of (?:it|them)|\bsc-00[1-4]\b") == (
        "(s3140)",
        "part of ",
        "sc-00",
    )
    assert providers.literal_runs(r"black ?list|rate.?limit|mx records? x") == (
        "black",
        "limit",
        "mx record",
    )
    assert providers.literal_runs(r"(?<![\d.])(?:5\.1\.[0-6])(?!\.?\d)|ab") is None


def test_clean_reply_joins_a_multiline_reply() -> None:
    joined = "421-4.7.0 Try again 421-4.7.0 later, closing 421 4.7.0 connection."
    assert providers.clean_reply(joined) == "421-4.7.0 Try again later, closing connection."
    # Gmail's last line has two spaces before its link.
    gmail = "550-5.1.1 For more information, go to 550 5.1.1  https://support.google.com/x"
    assert providers.clean_reply(gmail) == (
        "550-5.1.1 For more information, go to https://support.google.com/x"
    )


@pytest.mark.parametrize(
    ("domain", "host", "key"),
    [
        ("gmail.com", "", "google"),
        ("GoogleMail.com", "", "google"),
        ("corp.example", "aspmx.l.google.com", "google"),
        ("corp.example", "alt1.aspmx.l.google.com", "google"),
        ("yahoo.co.uk", "", "yahoo"),
        ("aol.com", "", "yahoo"),
        ("corp.example", "mta5.am0.yahoodns.net", "yahoo"),
        ("hotmail.fr", "", "microsoft"),
        ("live.co.uk", "", "microsoft"),
        ("outlook.de", "", "microsoft"),
        ("msn.com", "", "microsoft"),
        ("contoso.example", "contoso-example.mail.protection.outlook.com", "microsoft"),
        ("icloud.com", "", "apple"),
        ("web.de", "", "gmx"),
        ("gmx.net", "", "gmx"),
        ("t-online.de", "", "tonline"),
        ("wanadoo.fr", "", "orange"),
        ("comcast.net", "", "comcast"),
        ("bk.ru", "", "mailru"),
        ("ya.ru", "", "yandex"),
        ("example.org", "mx.example.org", "other"),
        # A brand under a long name is somebody else's domain.
        ("hotmail.example.org", "", "other"),
        ("livefrom.example", "", "other"),
    ],
)
def test_providers_by_domain_and_mx(domain: str, host: str, key: str) -> None:
    assert providers.provider_of(domain, host).key == key


@pytest.mark.parametrize(
    ("kind", "pattern", "sample"), REJECT_CLASSES, ids=[c[0] for c in REJECT_CLASSES]
)
def test_each_reject_class_sample(kind: str, pattern: str, sample: str) -> None:
    assert providers.reject_class(sample) == kind


# -- lines ---------------------------------------------------------------------------------
PREFIXES = [
    "Dec  3 06:02:00 relay1 postfix/smtp[2210]: ",
    "Dec 03 06:02:00 relay1 postfix/smtp[2210]: ",  # maillog_file
    "2026-12-03T06:02:00.123456+01:00 relay1 postfix-out/smtp[2210]: ",  # rsyslog ISO
]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_deferral_with_its_remote_reply(prefix: str) -> None:
    line = (
        prefix + "4Nq1S0017: to=<carol2@yahoo.com>, relay=mta5.am0.yahoodns.net[67.195.204.73]:25, "
        "delay=0.5, delays=0.1/0/0.4/0, dsn=4.7.0, status=deferred (host "
        "mta5.am0.yahoodns.net[67.195.204.73] said: 421 4.7.0 [TSS04] Messages from 192.0.2.25 "
        "temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see "
        "https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command))"
    )
    found = lines.parse_delivery(line)
    assert found is not None
    assert (found.status, found.domain, found.host, found.dsn, found.provider) == (
        "deferred",
        "yahoo.com",
        "mta5.am0.yahoodns.net",
        "4.7.0",
        "yahoo",
    )
    assert found.reply.startswith("421 4.7.0 [TSS04] Messages from 192.0.2.25 ")
    assert found.reply.endswith("error-codes")
    assert found.rule.name == "yahoo-complaints"
    assert "192.0.2.25" not in found.reason  # the reason groups every relay address


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "postfix/error[2214]: 4Nq1T0018: to=<c@aol.com>, relay=none, delay=0.01, "
            "delays=0/0/0/0, dsn=4.7.0, status=deferred (delivery temporarily suspended: host "
            "mta5.am0.yahoodns.net[67.195.204.73] refused to talk to me: 421 4.7.0 [TSS09] All "
            "messages from 192.0.2.25 will be permanently deferred)",
            ("deferred", "aol.com", "mta5.am0.yahoodns.net", "yahoo", "yahoo-permanently-deferred"),
        ),
        (
            "postfix/smtp[1]: A1: to=<l@shop.example>, relay=none, delay=30, dsn=4.4.1, "
            "status=deferred (connect to mx.shop.example[198.51.100.25]:25: Connection timed out)",
            ("deferred", "shop.example", "mx.shop.example", "other", "connection"),
        ),
        (
            "postfix/smtp[1]: A1: to=<b@gmail.com>, relay=gmail-smtp-in.l.google.com"
            "[2a00:1450:4013:c00::1a]:25, delay=1, dsn=4.4.2, status=deferred (lost connection "
            "with gmail-smtp-in.l.google.com[2a00:1450:4013:c00::1a] while sending RCPT TO)",
            ("deferred", "gmail.com", "gmail-smtp-in.l.google.com", "google", "connection"),
        ),
        (
            "postfix/lmtp[9]: A2: to=<e@isp.example>, "
            "relay=mail.isp.example[private/dovecot-lmtp], "
            "delay=0.1, dsn=5.1.1, status=bounced (host mail.isp.example[private/dovecot-lmtp] "
            "said: 550 5.1.1 <e@isp.example> User doesn't exist: e@isp.example (in reply to RCPT "
            "TO command))",
            ("bounced", "isp.example", "mail.isp.example", "other", "no-such-recipient"),
        ),
        (
            "postfix/virtual[9]: A3: to=<g@hosted.example>, relay=virtual, delay=0.02, dsn=5.2.2, "
            "status=bounced (maildir delivery failed: mail quota exceeded)",
            ("bounced", "hosted.example", "virtual", "other", "no-such-recipient"),
        ),
        (
            "postfix/pipe[9]: A4: to=<f@isp.example>, relay=dovecot, delay=0.1, dsn=4.3.0, "
            "status=deferred (temporary failure. Command output: lda: Fatal: Internal error)",
            ("deferred", "isp.example", "dovecot", "other", "other"),
        ),
        (
            "postfix/qmgr[2001]: 4Nq0Z0099: from=<m@isp.example>, status=expired, returned to "
            "sender",
            ("expired", "", "", "other", "other"),
        ),
    ],
)
def test_every_delivery_agent(line: str, expected: tuple[str, ...]) -> None:
    found = lines.parse_delivery(line)
    assert found is not None
    assert (found.status, found.domain, found.host, found.provider, found.rule.name) == expected


@pytest.mark.parametrize(
    "line",
    [
        "postfix/smtp[1]: A1: to=<b@gmail.com>, relay=x[1.2.3.4]:25, dsn=2.0.0, "
        "status=sent (250 ok)",
        "postfix/qmgr[1]: A1: removed",
        "postfix/smtp[1]: A1: to=<b@gmail.com>, status=deferredX",
        "postfix/smtpd[1]: warning: status=deferred appears in a warning without a recipient",
        "",
    ],
)
def test_lines_that_are_no_failed_delivery(line: str) -> None:
    assert lines.parse_delivery(line) is None


def test_smtpd_and_postscreen_rejects() -> None:
    smtpd = (
        "postfix/smtpd[2120]: NOQUEUE: reject: RCPT from unknown[2001:db8:bad::5]: 554 5.7.1 "
        "Service unavailable; Client host [2001:db8:bad::5] blocked using zen.spamhaus.org; "
        "from=<x@spam.example> to=<e@isp.example> proto=ESMTP helo=<spam.example>"
    )
    assert lines.parse_reject(smtpd) == lines.Reject(
        "blocklist",
        "2001:db8:bad::5",
        "554 5.7.1 Service unavailable; Client host [2001:db8:bad::5] blocked using "
        "zen.spamhaus.org",
    )
    screen = (
        "postfix/postscreen[77]: NOQUEUE: reject: RCPT from [203.0.113.9]:40411: 550 5.7.1 "
        "Service unavailable; client [203.0.113.9] blocked using zen.spamhaus.org; "
        "from=<a@b.example>, to=<c@isp.example>, proto=ESMTP, helo=<x>"
    )
    found = lines.parse_reject(screen)
    assert found is not None and (found.kind, found.client) == ("blocklist", "203.0.113.9")
    policy = (
        "postfix/smtpd[9]: 4Nq1A: reject: RCPT from dsl-66.isp.example[192.0.2.66]: 450 4.7.1 "
        "<x@gmail.com>: Recipient address rejected: Policy Rejection- Quota Exceeded.; "
        "from=<p@isp.example> to=<x@gmail.com> proto=ESMTP helo=<pc66>"
    )
    assert lines.parse_reject(policy) is not None
    assert lines.parse_reject(policy).kind == "policy"  # type: ignore[union-attr]
    assert lines.parse_reject("postfix/cleanup[1]: A1: reject: header Subject: x") is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "amavis[2706]: (02706-17) Passed CLEAN {RelayedOutbound}, MYNETS LOCAL "
            "[192.0.2.10]:33121 [192.0.2.10] <s@isp.example> -> <r@other.example>, Queue-ID: "
            "14BA03C35EC, mail_id: Dly56icKMJQp, Hits: -2.107, size: 1140, 590 ms",
            ("CLEAN", False, True, "192.0.2.10"),
        ),
        (
            "amavis[1]: (11202-06) Passed CLEAN {RelayedOutbound}, ORIGINATING_POST/MYNETS LOCAL "
            "[127.0.0.1]:59654 [11.22.33.44] <s@isp.example> -> <r@other.example>, Hits: -2.7",
            ("CLEAN", False, True, "11.22.33.44"),
        ),
        (
            "amavis[1]: (00595-01) Passed CLEAN {RelayedOutbound}, LOCAL [172.18.0.1]:59942 "
            "<mk@isp.example> -> <g@qq.com>, Queue-ID: AE4A43A178F, Hits: -, size: 848",
            ("CLEAN", False, True, "172.18.0.1"),
        ),
        (
            "amavis[1]: (03003-01) Blocked INFECTED (Win.Trojan.Agent-1234) {DiscardedOutbound,"
            "Quarantined}, ORIGINATING LOCAL [127.0.0.1]:52011 [198.51.100.77] <i@isp.example> "
            "-> <x3@web.de>, quarantine: virus-Ij5Kl6Mn7Op8",
            ("INFECTED", True, True, "198.51.100.77"),
        ),
        (
            "amavis[1]: (03003-02) Blocked BANNED (multipart/mixed | application/x-msdownload,"
            ".exe,.exe-ms,invoice.exe) {DiscardedOutbound,Quarantined}, ORIGINATING LOCAL "
            "[192.0.2.14]:52012 [192.0.2.14] <j@isp.example> -> <x4@gmx.de>",
            ("BANNED", True, True, "192.0.2.14"),
        ),
        (
            "amavis[1]: (03002-02) Blocked SPAM, MYNETS LOCAL [192.0.2.66] [192.0.2.66] "
            "<p@isp.example> -> <x2@gmail.com>, quarantine: spam-Qw1Er2Ty3Ui4.gz",  # 2.5
            ("SPAM", True, True, "192.0.2.66"),
        ),
        (
            "amavis[1]: (03002-03) Passed SPAM {RelayedTaggedOutbound}, ORIGINATING/MYNETS LOCAL "
            "[2001:db8:66::1]:40212 [2001:db8:66::1] <p@v6.isp.example> -> <x3@gmail.com>",
            ("SPAM", False, True, "2001:db8:66::1"),
        ),
        (
            "amavis[1]: (03003-03) Blocked SPAM {RejectedInbound}, [209.85.128.41]:40212 "
            "[209.85.128.41] <s@elsewhere.example> -> <e@isp.example>, Hits: 30.0",
            ("SPAM", True, False, "209.85.128.41"),
        ),
        (
            "amavis[1]: (03003-04) Passed BAD-HEADER-0 {RelayedInbound}, [209.85.128.42]:40213 "
            "[209.85.128.42] <h@gmail.com> -> <e@isp.example>",
            ("BAD-HEADER-0", False, False, "209.85.128.42"),
        ),
    ],
)
def test_amavis_verdicts(line: str, expected: tuple[object, ...]) -> None:
    found = lines.parse_verdict(line)
    assert found is not None
    assert (found.category, found.blocked, found.originating, found.client) == expected


def test_amavis_lines_that_are_no_verdict() -> None:
    fwd = (
        "amavis[3004]: (03004-01) Z1y2X3w4V5u6 FWD from <k@isp.example> -> <v@gmail.com>, "
        "BODY=7BIT 250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 4Nq1B"
    )
    assert lines.parse_verdict(fwd) is None
    assert (
        lines.parse_verdict("postfix/cleanup[1]: A1: warning: header Subject: Passed CLEAN") is None
    )


# -- the scan --------------------------------------------------------------------------------
def scan(log: Path, state: Path, **kwargs: object) -> tally.Scan:
    return tally.scan_log(str(log), str(state), **kwargs)  # type: ignore[arg-type]


def totals(found: tally.Scan) -> tuple[int, ...]:
    t = found.tally
    return (
        t.sent,
        t.deferred,
        t.bounced,
        t.expired,
        t.rejected_total,
        sum(t.outbound.values()),
        t.spam,
    )


@pytest.mark.usefixtures("counter")
def test_the_syslog_fixture_counts(tmp_path: Path) -> None:
    found = scan(FIXTURES / "syslog.log", tmp_path)
    assert totals(found) == (7, 6, 3, 1, 4, 5, 3)
    assert found.window == 600.0
    t = found.tally
    assert dict(t.deferred_by_provider) == {"google": 3, "yahoo": 2, "other": 1}
    assert {k: (r.deferred, r.bounced) for k, r in t.refusals.items()} == {
        ("google", "reputation"): (3, 0),
        ("google", "recipient"): (0, 1),
        ("yahoo", "reputation"): (2, 0),
        ("microsoft", "reputation"): (0, 2),
        ("other", "connection"): (1, 0),
    }
    assert dict(t.rejected) == {"blocklist": 2, "policy": 1, "unknown_user": 1}
    assert dict(t.spam_clients) == {"192.0.2.66": 2, "198.51.100.77": 1}
    assert t.inbound == 1
    again = scan(FIXTURES / "syslog.log", tmp_path)
    assert totals(again) == (0,) * 7


@pytest.mark.usefixtures("counter")
def test_a_separate_amavis_log_is_read_for_verdicts_only(tmp_path: Path) -> None:
    found = scan(FIXTURES / "iso.log", tmp_path, amavis_log=str(FIXTURES / "amavis.log"))
    assert totals(found) == (2, 2, 3, 0, 0, 11, 4)
    assert dict(found.tally.outbound) == {"CLEAN": 6, "SPAM": 3, "INFECTED": 1, "BANNED": 1}
    assert found.window == pytest.approx(60.6066)  # the Postfix log's ISO stamps, fractions too
    # The Postfix log as amavis's log too: its delivery lines are not counted twice.
    other = tmp_path / "other"
    found = scan(FIXTURES / "syslog.log", other, amavis_log=str(FIXTURES / "syslog.log"))
    assert totals(found) == (7, 6, 3, 1, 4, 5, 3)


@pytest.mark.usefixtures("counter")
def test_rotation_half_written_line_and_truncation(tmp_path: Path) -> None:
    log, state = tmp_path / "mail.log", tmp_path / "state"
    text = (FIXTURES / "syslog.log").read_text()
    head, tail = text[:5000], text[5000:]
    log.write_text(head)  # ends inside a line: that line waits
    first = scan(log, state)
    log.rename(tmp_path / "mail.log.1")
    with open(tmp_path / "mail.log.1", "a") as old:
        old.write(tail)
    log.write_text(text)
    second = scan(log, state)
    assert [a + b for a, b in zip(totals(first), totals(second))] == [
        2 * n for n in (7, 6, 3, 1, 4, 5, 3)
    ]
    assert "log rotated: rest of" in second.notes[0]
    log.write_text(text[:3000].rsplit("\n", 1)[0] + "\n")  # truncated, then rewritten
    third = scan(log, state)
    assert "truncated" in third.notes[0]


@pytest.mark.usefixtures("counter")
def test_a_log_too_big_for_the_time_is_read_in_parts(tmp_path: Path) -> None:
    log, state = tmp_path / "mail.log", tmp_path / "state"
    log.write_bytes((FIXTURES / "syslog.log").read_bytes() * 20)
    runs = []
    for _ in range(200):
        found = scan(log, state, deadline=0.0, block=4096)  # the time is up at once
        runs.append(found)
        if not found.partial:
            break
    assert 10 < len(runs) < 200
    assert all(r.partial for r in runs[:-1]) and not runs[-1].partial
    assert [sum(c) for c in zip(*(totals(r) for r in runs))] == [
        20 * n for n in (7, 6, 3, 1, 4, 5, 3)
    ]
    assert "time limit:" in runs[0].notes[-1]


def test_counting_and_walking_the_deliveries_of_a_block_agree() -> None:
    """The two ways of a block: sent lines counted (the previous block had no failure), or every
    delivery walked (it had some); both find the same failed lines and the same sent count."""
    data = (FIXTURES / "syslog.log").read_bytes() + (FIXTURES / "maillog_file.log").read_bytes()
    end = data.rfind(b"\n") + 1
    results = []
    for failing in (False, True):
        counted = tally.Tally()
        counter = tally.BlockCounter(counted, data, postfix=True, amavis=True)
        counter.failing = failing
        counter.count(data, 0, end)
        results.append((counted.sent, counted.deferred, counted.bounced, counted.expired))
        assert counter.failing  # these lines hold failures: the next block is walked
    assert results[0] == results[1]
    assert results[0][0] > 0 and results[0][1] > 0
    # A block of sent lines only puts the counter back to counting.
    quiet = b"Dec  3 06:00:01 relay1 postfix/smtp[1]: 4Xyz: to=<a@b.example>, relay=x[192.0.2.1]:25"
    quiet += b", delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n"
    counter.count(quiet * 3, 0, len(quiet) * 3)
    assert not counter.failing


def test_the_automaton_is_used_where_installed_else_the_bytes_passes() -> None:
    sample = b"x status=sent y\n"
    with postfix_counter("automaton"):
        assert isinstance(tally.block_counter(tally.Tally(), sample, True, True), AutomatonCounter)
    with postfix_counter("bytes"):
        assert isinstance(
            tally.block_counter(tally.Tally(), sample, True, True), tally.BlockCounter
        )


def test_no_text_of_the_automaton_can_begin_inside_another() -> None:
    """What makes its non-overlapping matches find every text (automaton's module doc): no
    text, lead included, can be placed so that its searched part begins inside another's
    match, and where two searched parts begin at one place, their leads are the same and the
    longer is listed first (it is the one meant: a sent delivery, a CLEAN outbound verdict)."""
    texts = [text for text, _ in automaton.POSTFIX_TEXTS + automaton.AMAVIS_TEXTS]
    for a, whole in enumerate(texts):
        searched = whole[len(automaton.lead(whole)) :]
        lead = len(whole) - len(searched)
        for b, other in enumerate(texts):
            size = len(automaton.lead(other))
            for shift in range(1, len(searched)):  # other's searched part at searched[shift:]
                first = shift - size  # other's first byte, counted from searched's
                pairs = [
                    (other[i], whole[lead + first + i])
                    for i in range(len(other))
                    if -lead <= first + i < len(searched)
                ]
                assert any(x != y for x, y in pairs), (whole, other, shift)
            if a != b and searched.startswith(other[size:]):
                assert automaton.lead(whole) == automaton.lead(other) and a < b, (whole, other)


def test_an_unreadable_log_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(tally.logtail.StateError, match=r"cannot read .*missing\.log: No such file"):
        scan(tmp_path / "missing.log", tmp_path)
    if os.geteuid() != 0:
        locked = tmp_path / "locked.log"
        locked.write_text("x\n")
        locked.chmod(0)
        with pytest.raises(tally.logtail.StateError, match="Permission denied"):
            scan(locked, tmp_path)
