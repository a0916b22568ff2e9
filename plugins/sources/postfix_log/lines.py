"""One mail log line -> a delivery, an smtpd reject or an amavisd-new verdict, or None.

Postfix delivery agents (smtp, lmtp, error, local, virtual, pipe, under any syslog_name such
as ``postfix-out/smtp``) write one line per recipient and attempt::

    postfix/smtp[1234]: 4Xyz: to=<bob@gmail.com>, relay=gmail-smtp-in.l.google.com[...]:25,
        delay=1.2, delays=0.1/0/0.5/0.6, dsn=4.7.28, status=deferred (host
        gmail-smtp-in.l.google.com[142.250.1.27] said: 421-4.7.28 ... (in reply to end of
        DATA command))

and qmgr one line per message given up: ``4Xyz: from=<a@b>, status=expired, returned to
sender``. smtpd (and postscreen) refuse incoming mail with ``NOQUEUE: reject: RCPT from
name[addr]: 554 5.7.1 ...; from=<...> to=<...> proto=ESMTP helo=<...>``. amavisd-new writes
one line per message it scanned::

    amavis[2706]: (02706-17) Passed CLEAN {RelayedOutbound}, ORIGINATING/MYNETS LOCAL
        [192.0.2.10]:33121 [192.0.2.10] <alice@isp.example> -> <bob@gmail.com>, Queue-ID: ...
    amavis[2706]: (02706-18) Blocked SPAM {DiscardedOutbound,Quarantined}, MYNETS LOCAL ...

The line's prefix (syslog's ``Dec  3 06:00:00 host``, rsyslog's ISO 8601 stamp, or
Postfix's own ``maillog_file``) is not read here: the fields are found by their names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from isp_plugins.sources.postfix_log.providers import (
    UNMATCHED,
    Reply,
    classify,
    clean_reply,
    provider_of,
    reject_class,
)

#: What the log is searched for, block by block. ``status=sent`` lines are only counted
#: (SENT), and so are amavisd-new's most common verdicts, CLEAN mail relayed out
#: (OUTBOUND_CLEAN); the other lines are found (FAILED, REJECT, BLOCKED, and PASSED in the
#: blocks where not every Passed line is an OUTBOUND_CLEAN one) and parsed one by one.
SENT = b" status=sent "
STATUS = b" status="
FAILED = re.compile(rb" status=(?!sent )")
REJECT = b": reject: "
BLOCKED = b" Blocked "
PASSED = b" Passed "
OUTBOUND_CLEAN = b" Passed CLEAN {RelayedOutbound}, "
OTHER_PASSED = re.compile(rb" Passed (?!CLEAN \{RelayedOutbound\}, )")

#: How Postfix introduces a remote reply, and its own texts that name the host.
_SUSPENDED = "delivery temporarily suspended: "
_SAID = (" said: ", " refused to talk to me: ")
_PEER = ("connect to ", "lost connection with ", "conversation with ")
_REJECT = re.compile(
    r": reject: (?:RCPT|MAIL|CONNECT|HELO|EHLO|DATA|END-OF-MESSAGE|BDAT|VRFY|ETRN) from "
    r"(?:[^\s\[]*)\[(?P<client>[^\]]+)\](?::\d+)?: (?P<reply>.*?)(?:; from=<.*)?$"
)
_AMAVIS = re.compile(
    r"\(\d+-\d+(?:-\d+)?\) (?:\S+ )?(?P<action>Passed|Blocked) (?P<category>[A-Z][A-Z0-9-]*)"
    r"(?: \((?:[^()]|\([^()]*\))*\))?(?: \{(?P<actions>[^}]*)\})?, (?P<rest>.*)$"
)
_BRACKETED = re.compile(r"\[([^\]\s]+)\](:\d+)?")
_WORD = re.compile(r"[^\W\d_]+")
_FAILED_STATUSES = frozenset({"deferred", "bounced", "expired"})
#: amavisd-new's content categories that count as spam or malware in the outbound ratio.
SPAM_CATEGORIES = frozenset({"SPAM", "INFECTED"})


class Delivery(NamedTuple):
    """One delivery attempt that did not succeed, or a message given up (expired).

    A named tuple: one is made for every failed delivery, ten times faster than a frozen
    dataclass."""

    status: str
    #: The recipient's domain, lower case ('' for qmgr's expired line).
    domain: str
    #: The host that answered (or that the connection failed to), '' when none.
    host: str
    dsn: str
    #: The remote reply (continuation codes removed), or Postfix's own text.
    reply: str
    rule: Reply
    #: The reply with addresses and ids masked: the same reason, the same text.
    reason: str
    provider: str


@dataclass(frozen=True)
class Reject:
    """smtpd (or postscreen) refused an incoming message."""

    kind: str
    client: str
    reply: str


@dataclass(frozen=True)
class Verdict:
    """amavisd-new's verdict on one message."""

    category: str
    blocked: bool
    #: From the ISP's own customers: amavis's ORIGINATING / MYNETS policy, LOCAL, *Outbound.
    originating: bool
    #: The originating client address (the one amavis found in the Received trace, else the
    #: SMTP client's).
    client: str

    @property
    def spam(self) -> bool:
        return self.category in SPAM_CATEGORIES


def _field(line: str, name: str, stop: str = ",") -> str:
    """The value of `` name=...`` up to ``stop`` ('' when absent)."""
    at = line.find(name)
    if at < 0:
        return ""
    at += len(name)
    end = line.find(stop, at)
    return line[at : end if end >= 0 else len(line)]


def remote_reply(detail: str, host: str) -> tuple[str, str]:
    """The receiver's reply in Postfix's detail text and the host that sent it (else the
    detail itself, and the host it names or ``host``)."""
    if detail.startswith(_SUSPENDED):
        detail = detail[len(_SUSPENDED) :]
    if detail.startswith("host "):
        for said in _SAID:
            at = detail.find(said)
            if at > 0:
                named = detail[5:at]
                reply = detail[at + len(said) :]
                if reply.endswith(" command)"):
                    cut = reply.rfind(" (in reply to ")
                    reply = reply[:cut] if cut >= 0 else reply
                return reply, named.partition("[")[0] or host
    for peer in _PEER:
        if detail.startswith(peer):
            return detail, host or detail[len(peer) :].partition("[")[0].split(" ", 1)[0]
    return detail, host


def parse_delivery(line: str) -> Delivery | None:
    """The failed delivery or expired message in a Postfix line, or None."""
    at = line.find(" status=")
    if at < 0:
        return None
    word = _WORD.match(line, at + 8)
    status = word.group() if word else ""
    if status not in _FAILED_STATUSES:
        return None
    end = at + 8 + len(status)
    if status == "expired":
        if " from=<" not in line:
            return None
        return Delivery(status, "", "", "", "", UNMATCHED, "", "other")
    recipient = _field(line, " to=<", ">")
    if not recipient and " to=<" not in line:
        return None
    domain = recipient.rpartition("@")[2].lower()
    relay = _field(line, " relay=")
    host = relay.partition("[")[0]
    if host == "none":
        host = ""
    detail = line[end:].strip()
    if detail.startswith("(") and detail.endswith(")"):
        detail = detail[1:-1]
    reply, host = remote_reply(detail, host)
    reply = clean_reply(reply)
    rule, reason = classify(reply)
    provider = provider_of(domain, host.lower()).key
    return Delivery(status, domain, host, _field(line, " dsn="), reply, rule, reason, provider)


def parse_reject(line: str) -> Reject | None:
    """The smtpd reject in a line, or None."""
    match = _REJECT.search(line)
    if not match:
        return None
    reply = match.group("reply")
    return Reject(reject_class(reply), match.group("client"), reply)


def parse_verdict(line: str) -> Verdict | None:
    """amavisd-new's Passed/Blocked line, or None."""
    match = _AMAVIS.search(line)
    if not match:
        return None
    rest = match.group("rest")
    cut = len(rest)
    for mark in ("<", " -> "):
        at = rest.find(mark)
        if 0 <= at < cut:
            cut = at
    head = rest[:cut]
    words = head.split("[", 1)[0].replace("/", " ").split()
    actions = match.group("actions") or ""
    originating = (
        "Outbound" in actions
        or "LOCAL" in words
        or any(word.startswith(("ORIGINATING", "MYNETS")) for word in words)
    )
    addresses = _BRACKETED.findall(head)
    # [client]:port [originating]: the second, without a port, is amavis's best guess at the
    # customer's address (the first is Postfix's when amavis runs after the queue).
    portless = [address for address, port in addresses[1:] if not port]
    client = portless[0] if portless else (addresses[0][0] if addresses else "")
    return Verdict(match.group("category"), match.group("action") == "Blocked", originating, client)
