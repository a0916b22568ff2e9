"""Hostile fail2ban replies, written opcode by opcode (tests/test_fail2ban.py).

Each builder returns the pickle of a whole reply ``(code, result)``. The memo makes them
small: a list that holds ten references to the list before it, eight times over, is 10**8
strings to anything that walks it (``str()``), in a few hundred bytes.
"""

from __future__ import annotations

import struct

PROTO = b"\x80\x02"
MARK, STOP, POP = b"(", b".", b"0"
EMPTY_LIST, APPEND, APPENDS = b"]", b"a", b"e"
EMPTY_DICT, SETITEM = b"}", b"s"
TUPLE1, TUPLE2 = b"\x85", b"\x86"
REDUCE = b"R"


def text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def number(value: int) -> bytes:
    if 0 <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # LONG1


def put(slot: int) -> bytes:
    return b"r" + struct.pack("<I", slot)


def get(slot: int) -> bytes:
    return b"j" + struct.pack("<I", slot)


def global_(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def items(*parts: bytes) -> bytes:
    """A list of the objects ``parts`` push."""
    return EMPTY_LIST + (MARK + b"".join(parts) + APPENDS if parts else b"")


def pair(key: str, value: bytes) -> bytes:
    return text(key) + value + TUPLE2


def reply(result: bytes, code: int = 0) -> bytes:
    return PROTO + number(code) + result + TUPLE2 + STOP


def memo_bomb(levels: int, fan: int = 10, leaf: str = "203.0.113.5", slot: int = 1000) -> bytes:
    """Pushes a list of ``fan`` references to the list below, ``levels`` deep, over ``leaf``."""
    out = text(leaf) + put(slot) + POP
    for level in range(1, levels + 1):
        out += EMPTY_LIST + put(slot + level) + MARK + get(slot + level - 1) * fan + APPENDS + POP
    return out + get(slot + levels)


def deep(levels: int) -> bytes:
    """A list in a list ... ``levels`` deep."""
    return EMPTY_LIST * levels + APPEND * (levels - 1)


def self_holding() -> bytes:
    """A list that holds itself."""
    return EMPTY_LIST + put(2000) + get(2000) + APPEND


def str_of(value: bytes) -> bytes:
    """``str(value)`` called while unpickling: fail2ban's IPAddr is pickled this way."""
    return global_("builtins", "str") + value + TUPLE1 + REDUCE


def server_status(*jails: str) -> bytes:
    return reply(
        items(pair("Number of jail", number(len(jails))), pair("Jail list", text(", ".join(jails))))
    )


def jail_status(
    failed: bytes = b"",
    total_failed: bytes = b"",
    files: bytes = b"",
    banned_now: bytes = b"",
    total_banned: bytes = b"",
    banned: bytes = b"",
) -> bytes:
    """``status JAIL``'s reply; each part left out is a sane value."""
    return reply(
        items(
            pair(
                "Filter",
                items(
                    pair("Currently failed", failed or number(0)),
                    pair("Total failed", total_failed or number(0)),
                    pair("File list", files or items()),
                ),
            ),
            pair(
                "Actions",
                items(
                    pair("Currently banned", banned_now or number(0)),
                    pair("Total banned", total_banned or number(0)),
                    pair("Banned IP list", banned or items()),
                ),
            ),
        )
    )
