"""check_dnsbl's DNS wire format (plugins/sources/dnsbl/wire.py) against dnspython as the
oracle: what we encode, dnspython reads as the question we meant; what dnspython encodes, we
read as dnspython does; whatever bytes a server sends, we read what dnspython reads or refuse
with WireError."""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isp_plugins.sources.dnsbl import wire

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
NAMES = st.lists(LABEL, min_size=2, max_size=8).map(".".join)
CODES = st.lists(st.ip_addresses(v=4).map(str), max_size=4, unique=True)
TEXTS = st.lists(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=600), max_size=3
)


@given(NAMES, st.integers(0, 0xFFFF), st.sampled_from([wire.A, wire.TXT]))
def test_dnspython_reads_our_queries_as_meant(name: str, qid: int, qtype: int) -> None:
    message = dns.message.from_wire(wire.encode_query(qid, name, qtype))
    assert message.id == qid
    assert message.flags & dns.flags.RD and not message.flags & dns.flags.QR
    (question,) = message.question
    assert question.name == dns.name.from_text(name)
    assert question.rdtype == qtype
    assert message.edns == 0 and message.payload == wire.PAYLOAD


def response(name: str, codes: list[str], texts: list[str], rcode: int) -> bytes:
    query = dns.message.make_query(name, "A")
    answer = dns.message.make_response(query)
    answer.set_rcode(rcode)
    if codes:
        answer.answer.append(dns.rrset.from_text(name + ".", 60, "IN", "A", *codes))
    if texts:
        # long reasons split in 255-byte strings, as zone files do
        values = [
            " ".join('"' + t[i : i + 255].replace("\\", "\\\\").replace('"', '\\"') + '"'
                     for i in range(0, max(len(t), 1), 255))
            for t in texts
        ]  # fmt: skip
        answer.answer.append(dns.rrset.from_text(name + ".", 60, "IN", "TXT", *values))
    return answer.to_wire()


@given(NAMES, CODES, TEXTS, st.sampled_from([0, 2, 3, 5]))
def test_we_read_dnspython_replies_as_it_does(
    name: str, codes: list[str], texts: list[str], rcode: int
) -> None:
    data = response(name, codes, texts, rcode)
    reply = wire.decode_reply(data)
    oracle = dns.message.from_wire(data)
    assert reply.qid == oracle.id
    assert reply.rcode == dns.rcode.to_text(oracle.rcode())
    assert reply.questions == [(name, wire.A)]
    expected_a = [r.address for rrset in oracle.answer if rrset.rdtype == wire.A for r in rrset]
    expected_txt = [
        b"".join(r.strings).decode()
        for rrset in oracle.answer
        if rrset.rdtype == wire.TXT
        for r in rrset
    ]
    assert sorted(reply.addresses) == sorted(expected_a)
    assert sorted(reply.texts) == sorted(expected_txt)


@settings(max_examples=200)
@given(NAMES, CODES, st.data())
def test_broken_replies_read_as_dnspython_reads_them_or_refused(
    name: str, codes: list[str], data: st.DataObject
) -> None:
    """A reply cut short or with bytes changed: refused with WireError (nothing else escapes),
    or read with the A records dnspython reads when dnspython reads it too. (We read fewer
    sections than dnspython, so we may accept damage in the authority section it refuses.)"""
    good = bytearray(response(name, codes, [], 0))
    if data.draw(st.booleans()):
        good = good[: data.draw(st.integers(0, len(good)))]
    for _ in range(data.draw(st.integers(0, 3))):
        if good:
            good[data.draw(st.integers(0, len(good) - 1))] = data.draw(st.integers(0, 255))
    raw = bytes(good)
    try:
        reply = wire.decode_reply(raw)
    except wire.WireError:
        return
    try:
        oracle = dns.message.from_wire(raw, ignore_trailing=True)
    except (dns.exception.DNSException, ValueError, UnicodeError):
        return
    expected = [
        r.address
        for rrset in oracle.answer
        if rrset.rdtype == wire.A and rrset.rdclass == 1
        for r in rrset
    ]
    assert sorted(set(reply.addresses)) == sorted(set(expected))


def test_the_differential_test_compares_something() -> None:
    """The property above is not vacuous: an intact reply is read by both, the same way."""
    raw = response("2.0.0.127.zen.spamhaus.org", ["127.0.0.2", "127.0.0.4"], [], 0)
    assert sorted(wire.decode_reply(raw).addresses) == ["127.0.0.2", "127.0.0.4"]
    with pytest.raises(wire.WireError, match="record data runs past the end"):
        wire.decode_reply(raw[:-2])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x12\x34\x81", "short header"),
        (b"\x12\x34\x01\x00" + b"\x00" * 8, "not a response"),
        # a question whose name is a pointer to itself: no loop
        (
            b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
            "compression pointer does not point backwards",
        ),
        (b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x05abc", "name runs past the end"),
        (b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x40", "unknown label type"),
        # an answer that claims 4 records and has none
        (b"\x12\x34\x81\x80\x00\x00\x00\x04\x00\x00\x00\x00", "name runs past the end"),
    ],
)  # fmt: skip
def test_malformed_replies_say_what_is_wrong(data: bytes, error: str) -> None:
    with pytest.raises(wire.WireError, match=f"^{error}$"):
        wire.decode_reply(data)


def test_names_that_cannot_be_asked_are_not_repeated() -> None:
    """The error never holds the name: with a DQS key, the key is part of it."""
    with pytest.raises(wire.BadName, match=r"^an empty label, or one longer than 63 bytes$"):
        wire.encode_query(1, "a..b", wire.A)
    with pytest.raises(wire.BadName, match=r"^a name longer than 255 bytes$"):
        wire.encode_query(1, ".".join(["a" * 60] * 5), wire.A)
