"""check_postfix_deliveries on the log a real Postfix writes while delivering to receivers that
answer like Gmail, Yahoo and Microsoft.

A private Postfix instance (its own config directory, queue, data directory and
``maillog_file``, no listener of its own; the system Postfix of .ci/setup.d/10-postfix.sh and
its configuration are not touched) delivers mail injected with ``sendmail -C``. Its
``transport_maps`` send gmail.com, yahoo.com, outlook.com and hotmail.com to scripted SMTP
receivers on loopback ports (tests/smtp_receivers.py) answering with the providers' real reply
texts: accept, Gmail's 4.7.28 deferral (a multi-line reply, for googlemail.com), an unknown
user, Yahoo's [TSS04], Microsoft's S3150 block and its 4.7.500 throttle; shop.example goes to a
closed port. Nothing leaves the machine. Skipped without Postfix or root, unless
ISP_PLUGINS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isp_plugins.sources.postfix_log import tally
from isp_plugins.sources.postfix_queue.runner import find_program
from tests.conftest import run_script
from tests.services import service_missing, services
from tests.smtp_receivers import Receivers, Script

pytestmark = services

GMAIL = Script(
    "gmail",
    rcpt={
        "nobody": (
            "550-5.1.1 The email account that you tried to reach does not exist. Please try",
            "550-5.1.1 double-checking the recipient's email address for typos or",
            "550-5.1.1 unnecessary spaces. For more information, go to",
            "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si123qkb.1 - gsmtp",
        )
    },
)
#: A 421 closes the session and makes Postfix suspend that destination for a while: the
#: deferral gets a receiver (and a domain) of its own, so the order in which the queue
#: manager delivers cannot change what the other messages meet.
GMAIL_THROTTLED = Script(
    "gmail-throttled",
    data={
        "": (
            "421-4.7.28 [127.0.0.1      15] Our system has detected an unusual rate of",
            "421-4.7.28 unsolicited mail originating from your IP address. To protect our",
            "421-4.7.28 users from spam, mail sent from your IP address has been temporarily",
            "421-4.7.28 rate limited. Please visit",
            "421-4.7.28  https://support.google.com/mail/?p=UnsolicitedRateLimitError to",
            "421 4.7.28 review our Bulk Email Senders Guidelines. b2si456qkb.2 - gsmtp",
        )
    },
)
YAHOO = Script(
    "yahoo",
    mail=(
        "421 4.7.0 [TSS04] Messages from 127.0.0.1 temporarily deferred due to unexpected "
        "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    ),
)
OUTLOOK = Script(
    "outlook",
    mail=(
        "550 5.7.1 Unfortunately, messages from [127.0.0.1] weren't sent. Please contact your "
        "Internet service provider since part of their network is on our block list (S3150). "
        "You can also refer your provider to "
        "http://mail.live.com/mail/troubleshooting.aspx#errors. "
        "[DB3EUR04FT007.eop-eur04.prod.protection.outlook.com]",
    ),
)
HOTMAIL = Script(
    "hotmail",
    rcpt={
        "": (
            "451 4.7.500 Server busy. Please try again later from [127.0.0.1]. (S77714) "
            "[AM0EUR02FT012.eop-EUR02.prod.protection.outlook.com]",
        )
    },
)
#: (recipients of one message), and what the receivers make of them.
MESSAGES = [
    ("bob@gmail.com",),  # sent
    ("nobody@gmail.com",),  # bounced: unknown user
    ("spamtarget1@googlemail.com", "spamtarget2@googlemail.com"),  # 2 deferred: 4.7.28
    ("carol@yahoo.com",),  # deferred: [TSS04]
    ("dave@outlook.com",),  # bounced: S3150
    ("erin@hotmail.com",),  # deferred: 4.7.500 throttle
    ("lee@shop.example",),  # deferred: connection refused
]
#: Delivery lines Postfix writes for MESSAGES, and the two bounce notices to the sender
#: (delivered by the discard transport: "status=sent").
DELIVERY_LINES = 8 + 2


def postfix(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [find_program(args[0]) or args[0], *args[1:]],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0 or not check, f"{args}: {done.stdout}{done.stderr}"
    return done


class Instance:
    """A private Postfix: DIR/etc (main.cf, master.cf, transport), DIR/spool, DIR/data, the
    log DIR/maillog."""

    def __init__(self, root: Path, receivers: Receivers) -> None:
        self.root, self.etc, self.log = root, root / "etc", root / "maillog"
        self.etc.mkdir()
        (root / "data").mkdir()
        shutil.chown(root / "data", "postfix")
        (root / "spool").mkdir()
        system = {
            name: postfix("postconf", "-h", name).stdout.strip()
            for name in ("command_directory", "daemon_directory", "meta_directory")
        }
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        routes = {
            "gmail.com": receivers.port("gmail"),
            "googlemail.com": receivers.port("gmail-throttled"),
            "yahoo.com": receivers.port("yahoo"),
            "outlook.com": receivers.port("outlook"),
            "hotmail.com": receivers.port("hotmail"),
        }
        (self.etc / "transport").write_text(
            "".join(f"{domain} smtp:[127.0.0.1]:{port}\n" for domain, port in routes.items())
            + "shop.example smtp:[127.0.0.1]:2\n"
            + "isp.test discard:\n"
        )
        (self.etc / "main.cf").write_text(
            "\n".join(
                [
                    "compatibility_level = 3.6",
                    f"queue_directory = {root / 'spool'}",
                    f"data_directory = {root / 'data'}",
                    *(f"{name} = {value}" for name, value in system.items()),
                    "mail_owner = postfix",
                    "setgid_group = postdrop",
                    "myhostname = relay.deliveries.test",
                    "mydestination =",
                    "local_recipient_maps =",
                    "alias_maps =",
                    "inet_interfaces = loopback-only",
                    "inet_protocols = ipv4",
                    "relayhost =",
                    f"transport_maps = texthash:{self.etc / 'transport'}",
                    "default_transport = error:no route in this test",
                    "syslog_name = postfix-test",
                    f"maillog_file = {self.log}",
                    f"maillog_file_prefixes = {root}",
                    "smtp_connect_timeout = 5s",
                    "smtp_tls_security_level = none",
                    "",
                ]
            )
        )
        # No listener (the system Postfix has port 25); no chroot; Postfix's own log file.
        for service in postfix("postconf", "-c", str(self.etc), "-M").stdout.splitlines():
            name, kind = service.split()[:2]
            if kind == "inet":
                postfix("postconf", "-c", str(self.etc), "-MX", f"{name}/{kind}")
        postfix("postconf", "-c", str(self.etc), "-F", "*/*/chroot = n")
        if not postfix("postconf", "-c", str(self.etc), "-M", "postlog/unix-dgram").stdout:
            postfix(
                "postconf",
                "-c",
                str(self.etc),
                "-M",
                "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd",
            )
        root.chmod(0o755)  # the postfix user walks down to its queue

    def start(self) -> None:
        postfix("postfix", "-c", str(self.etc), "start")

    def stop(self) -> None:
        postfix("postfix", "-c", str(self.etc), "stop", check=False)

    def send(self, *recipients: str) -> None:
        message = "From: <alice@isp.test>\nSubject: deliveries test\n\nhello\n"
        done = subprocess.run(
            [
                find_program("sendmail") or "sendmail",
                *("-C", str(self.etc), "-f", "alice@isp.test"),
                *recipients,
            ],
            input=message,
            text=True,
            capture_output=True,
            check=False,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr

    def delivery_lines(self) -> list[str]:
        if not self.log.exists():
            return []
        return [line for line in self.log.read_text().splitlines() if " status=" in line]


@pytest.fixture(scope="module")
def instance() -> Iterator[Instance]:
    if find_program("postfix") is None or find_program("sendmail") is None:
        service_missing("10-postfix.sh", "Postfix is not installed")
    if os.geteuid() != 0:
        service_missing("10-postfix.sh", "the real Postfix tests need root")
    with Receivers(GMAIL, GMAIL_THROTTLED, YAHOO, OUTLOOK, HOTMAIL) as receivers:
        root = Path(tempfile.mkdtemp(prefix="isp-deliveries-"))
        private = Instance(root, receivers)
        try:
            private.start()
            for recipients in MESSAGES:
                private.send(*recipients)
            deadline = time.monotonic() + 60
            while len(private.delivery_lines()) < DELIVERY_LINES:
                assert time.monotonic() < deadline, "\n".join(private.delivery_lines())
                time.sleep(0.2)
            yield private
        finally:
            private.stop()
            shutil.rmtree(root, ignore_errors=True)


def test_postfix_writes_what_the_source_reads(instance: Instance) -> None:
    """The lines come from Postfix itself: its multi-instance name, its joined replies."""
    lines = instance.delivery_lines()
    assert all(" postfix-test/" in line for line in lines)
    deferred = [line for line in lines if "spamtarget1@googlemail.com" in line]
    assert len(deferred) == 1
    # Postfix joins the receiver's continuation lines with their codes; the source removes them.
    assert "unusual rate of 421-4.7.28 unsolicited mail" in deferred[0]
    with tempfile.TemporaryDirectory() as state:
        found = tally.scan_log(str(instance.log), state)
    t = found.tally
    assert (t.sent, t.deferred, t.bounced, t.expired) == (3, 5, 2, 0)
    assert {k: (r.deferred, r.bounced) for k, r in t.refusals.items()} == {
        ("google", "reputation"): (2, 0),
        ("google", "recipient"): (0, 1),
        ("yahoo", "reputation"): (1, 0),
        ("microsoft", "reputation"): (0, 1),
        ("microsoft", "rate"): (1, 0),
        ("other", "connection"): (1, 0),
    }
    assert {k: r.rule for k, r in t.refusals.items()} == {
        ("google", "reputation"): "google-unsolicited-rate",
        ("google", "recipient"): "google-no-such-user",
        ("yahoo", "reputation"): "yahoo-complaints",
        ("microsoft", "reputation"): "microsoft-block-list",
        ("microsoft", "rate"): "microsoft-server-busy",
        ("other", "connection"): "connection",
    }


def test_the_plugin_on_the_real_log(instance: Instance, tmp_path: Path) -> None:
    done = run_script(
        "check_postfix_deliveries", "--log", str(instance.log), "--state-dir", str(tmp_path)
    )
    assert done.status.startswith(
        'POSTFIX_DELIVERIES CRITICAL - Google refuses the relay (4.7.28, 2 deferred: "Our system '
        'has detected an unusual rate of unsolicited mail originating from your IP address") - '
    )
    assert 'Microsoft refuses the relay (5.7.1, 1 bounced: "Unfortunately, messages from ' in (
        done.status
    )
    assert (
        'Yahoo/AOL refuses the relay (4.7.0, 1 deferred: "[TSS04] Messages from 127.0.0.1 '
        'temporarily deferred due to unexpected volume or user complaints...")'
    ) in done.status
    assert " sent=3;;;0 " in done.status and " deferred=5;;;0 " in done.status
    assert " deferred_google=2;;;0 " in done.status
    assert done.status.endswith(" throttled=1;;;0")
    assert "Microsoft:" in done.lines
    assert (
        '  rate limited: 1 deferred (4.7.500) e.g. "451 4.7.500 Server busy. Please try again '
        'later from [127.0.0.1]. (S77714) [AM0EUR02FT012.eop-EUR02.prod.protection.outlook.com]"'
    ) in done.lines
    assert (done.code, done.stderr) == (2, "")
    again = run_script(
        "check_postfix_deliveries", "--log", str(instance.log), "--state-dir", str(tmp_path)
    )
    assert again.status.startswith("POSTFIX_DELIVERIES OK - 0 sent, 0 deferred, 0 bounced, ")
