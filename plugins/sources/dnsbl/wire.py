"""The DNS wire format of a blocklist query and its reply (RFC 1035), as little as we need.

A check asks up to 15,360 questions a run; dnspython's general message classes cost about
0.6 ms of CPU per question and answer on the 2-CPU machine of ``make bench-dnsbl``, more than
the whole budget, so the hot path encodes its one-question queries and reads the replies'
A and TXT records here. Everything a reply says is bounds-checked: a hostile or broken server
gets a :class:`WireError`, never an exception of another kind, a loop or a huge allocation.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

A, TXT = 1, 16
_IN = 1
_OPT = 41
#: EDNS0 payload size we announce: large enough for a list's TXT reasons, small enough not to
#: be fragmented (the DNS flag day 2020 figure).
PAYLOAD = 1232
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")


class WireError(ValueError):
    """A reply we cannot read; the message says what is wrong, in a few words."""


class BadName(WireError):
    """A name that cannot be asked. Its message never holds the name: a DQS key is part of it."""


def encode_query(qid: int, name: str, qtype: int) -> bytes:
    """One question, recursion desired, with an EDNS0 OPT record announcing ``PAYLOAD``."""
    labels = name.rstrip(".").split(".")
    wire = bytearray(_HEADER.pack(qid, 0x0100, 1, 0, 0, 1))
    for label in labels:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise BadName("an empty label, or one longer than 63 bytes")
        wire += bytes([len(raw)]) + raw
    wire += b"\0" + struct.pack("!HH", qtype, _IN)
    if len(wire) - 12 - 4 > 255:
        raise BadName("a name longer than 255 bytes")
    wire += b"\0" + _RR.pack(_OPT, PAYLOAD, 0, 0)
    return bytes(wire)


def read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The (lower-case) name at ``offset`` and the offset after it; compression pointers must
    point backwards, so a loop of pointers cannot exist."""
    labels: list[str] = []
    end = -1
    start = offset
    length = 0
    while True:
        if offset >= len(data):
            raise WireError("name runs past the end")
        size = data[offset]
        if size & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise WireError("name runs past the end")
            target = ((size & 0x3F) << 8) | data[offset + 1]
            if target >= start:
                raise WireError("compression pointer does not point backwards")
            if end < 0:
                end = offset + 2
            offset = start = target
            continue
        if size & 0xC0:
            raise WireError("unknown label type")
        offset += 1
        if size == 0:
            return ".".join(labels), (end if end >= 0 else offset)
        label = data[offset : offset + size]
        if len(label) != size:
            raise WireError("name runs past the end")
        length += size + 1
        if length > 255:
            raise WireError("name longer than 255 bytes")
        labels.append(label.decode("ascii", "replace").lower())
        offset += size


@dataclass
class Reply:
    qid: int
    rcode: str
    truncated: bool
    questions: list[tuple[str, int]] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)  # the A records of the answer section
    texts: list[str] = field(default_factory=list)  # the TXT records, their strings joined


def decode_reply(data: bytes) -> Reply:
    """The parts of a reply a blocklist check reads; WireError for anything malformed."""
    if len(data) < _HEADER.size:
        raise WireError("short header")
    qid, flags, questions, answers, _, _ = _HEADER.unpack_from(data)
    if not flags & 0x8000:
        raise WireError("not a response")
    code = flags & 0x000F
    reply = Reply(qid, RCODES.get(code, f"RCODE{code}"), bool(flags & 0x0200))
    offset = _HEADER.size
    for _ in range(questions):
        name, offset = read_name(data, offset)
        if offset + 4 > len(data):
            raise WireError("question runs past the end")
        qtype, _ = struct.unpack_from("!HH", data, offset)
        offset += 4
        reply.questions.append((name, qtype))
    for _ in range(answers):
        if reply.truncated and offset >= len(data):
            break  # a truncated reply may stop anywhere: what is missing is asked over TCP
        _, offset = read_name(data, offset)
        if offset + _RR.size > len(data):
            raise WireError("record runs past the end")
        rtype, rclass, _, size = _RR.unpack_from(data, offset)
        offset += _RR.size
        rdata = data[offset : offset + size]
        if len(rdata) != size:
            raise WireError("record data runs past the end")
        offset += size
        if rclass != _IN:
            continue
        if rtype == A:
            if size != 4:
                raise WireError("an A record that is not 4 bytes")
            reply.addresses.append(socket.inet_ntoa(rdata))
        elif rtype == TXT:
            reply.texts.append(_strings(rdata))
    return reply


def _strings(rdata: bytes) -> str:
    """A TXT record's character-strings, joined (a long reason is split in 255-byte parts)."""
    parts = []
    at = 0
    while at < len(rdata):
        size = rdata[at]
        part = rdata[at + 1 : at + 1 + size]
        if len(part) != size:
            raise WireError("TXT string runs past the end")
        parts.append(part)
        at += 1 + size
    return b"".join(parts).decode("utf-8", "replace")
