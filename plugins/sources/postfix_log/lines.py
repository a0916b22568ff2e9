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

from isp_plugins.sources.postfix_log.providers import (
    UNMATCHED,
    Reply,
    classify,
    clean_reply,
    provider_of,
    reject_class,
)

#: Fixed texts of the lines read one by one (logtail.search finds them like grep does).
#: ``status=sent`` lines are only counted, block by block (SENT).
FINGERPRINTS: tuple[bytes, ...] = (
    b" status=deferred",
    b" status=bounced",
    b" status=expired",
    b": reject: ",
    b" Passed ",
    b" Blocked ",
)
SENT = b" status=sent "
POSTFIX_FINGERPRINTS = FINGERPRINTS[:4]
AMAVIS_FINGERPRINTS = FINGERPRINTS[4:]

_DETAIL_HOST = re.compile(
    r"^(?:delivery temporarily suspended: )?"
    r"(?:host (?P<host>[^\s\[]+)\[[^\]]*\] (?:said|refused to talk to me): (?P<reply>.*?)"
    r"(?: \(in reply to [^()]*\))?$"
    r"|(?:connect to|lost connection with|conversation with) (?P<peer>[^\s\[]+)\[)"
)
_REJECT = re.compile(
    r": reject: (?:RCPT|MAIL|CONNECT|HELO|EHLO|DATA|END-OF-MESSAGE|BDAT|VRFY|ETRN) from "
    r"(?:[^\s\[]*)\[(?P<client>[^\]]+)\](?::\d+)?: (?P<reply>.*?)(?:; from=<.*)?$"
)
_AMAVIS = re.compile(
    r"\(\d+-\d+(?:-\d+)?\) (?:\S+ )?(?P<action>Passed|Blocked) (?P<category>[A-Z][A-Z0-9-]*)"
    r"(?: \((?:[^()]|\([^()]*\))*\))?(?: \{(?P<actions>[^}]*)\})?, (?P<rest>.*)$"
)
_BRACKETED = re.compile(r"\[([^\]\s]+)\](:\d+)?")
#: amavisd-new's content categories that count as spam or malware in the outbound ratio.
SPAM_CATEGORIES = frozenset({"SPAM", "INFECTED"})


@dataclass(frozen=True)
class Delivery:
    """One delivery attempt that did not succeed, or a message given up (expired)."""

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


def parse_delivery(line: str) -> Delivery | None:
    """The failed delivery or expired message in a Postfix line, or None."""
    at = line.find(" status=")
    if at < 0:
        return None
    start = at + 8
    end = start
    while end < len(line) and line[end].isalpha():
        end += 1
    status = line[start:end]
    if status not in ("deferred", "bounced", "expired"):
        return None
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
    reply = detail
    match = _DETAIL_HOST.match(detail)
    if match:
        if match.group("reply") is not None:
            reply = match.group("reply")
            host = match.group("host") or host
        elif match.group("peer"):
            host = host or match.group("peer")
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
