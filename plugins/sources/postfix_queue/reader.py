"""``postqueue -j`` (Postfix >= 3.1): one JSON object per queue file per line, read as a stream.

Members read: ``queue_name``, ``queue_id``, ``arrival_time``, ``message_size``, ``sender``,
``recipients[].address``, and ``forced_expire`` (Postfix >= 3.5) when present. Everything else
(``orig_address``, ``delay_reason``, ``bounce_reason``, ``other_reason`` of 3.11, members of
later versions) is ignored, as postqueue(1) asks of its readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from isp_plugins.sources.postfix_queue.model import QueuedMessage

_decode = json.JSONDecoder().decode


class ParseError(ValueError):
    """A line that is not a queue-file object; ``lineno`` counts from 1."""

    def __init__(self, lineno: int, reason: str) -> None:
        super().__init__(f"line {lineno}: {reason}")
        self.lineno = lineno
        self.reason = reason


def _text(obj: dict[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise TypeError(f"'{key}' is {_kind(value)}, not a string")
    return value


def _whole(obj: dict[str, object], key: str) -> int:
    value = obj.get(key)
    # bool is an int in Python; JSON true is not a time or a size.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"'{key}' is {_kind(value)}, not a whole number")
    return value


def _kind(value: object) -> str:
    return "missing" if value is None else type(value).__name__


def parse_line(line: bytes | str, lineno: int = 1) -> QueuedMessage:
    """One ``postqueue -j`` line as a message; ParseError for anything else.

    Bytes are decoded as UTF-8 with replacement: Postfix before 3.7 could pass raw 8-bit
    bytes from an address into its JSON. The fast path trusts nothing: any surprise in types
    falls through to ``_checked``, which names the offending member.
    """
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    try:
        obj = _decode(text)
    except ValueError as exc:  # json.JSONDecodeError, or a lone surrogate escape
        raise ParseError(lineno, f"not JSON ({exc})") from None
    try:
        queue, queue_id = obj["queue_name"], obj["queue_id"]
        arrival, size, sender = obj["arrival_time"], obj["message_size"], obj["sender"]
        addresses = tuple([item["address"] for item in obj["recipients"]])
        expire = obj.get("forced_expire")
    except (KeyError, TypeError, AttributeError):
        return _checked(obj, lineno)
    if (
        type(queue) is not str
        or type(queue_id) is not str
        or type(arrival) is not int
        or type(size) is not int
        or type(sender) is not str
        or type(obj["recipients"]) is not list
        or any(type(address) is not str for address in addresses)
    ):
        return _checked(obj, lineno)
    return QueuedMessage(
        queue, queue_id, arrival, size, sender, addresses, expire if type(expire) is bool else None
    )


def _checked(obj: object, lineno: int) -> QueuedMessage:
    """The slow path: validate member by member and say what is wrong."""
    if not isinstance(obj, dict):
        raise ParseError(lineno, f"a JSON {type(obj).__name__}, not an object")
    try:
        recipients = obj.get("recipients", [])
        if not isinstance(recipients, list):
            raise TypeError(f"'recipients' is {_kind(recipients)}, not a list")
        addresses = []
        for item in recipients:
            if not isinstance(item, dict):
                raise TypeError(f"a recipient is {_kind(item)}, not an object")
            addresses.append(_text(item, "address"))
        expire = obj.get("forced_expire")
        return QueuedMessage(
            _text(obj, "queue_name"),
            _text(obj, "queue_id"),
            _whole(obj, "arrival_time"),
            _whole(obj, "message_size"),
            _text(obj, "sender"),
            tuple(addresses),
            expire if isinstance(expire, bool) else None,
        )
    except TypeError as exc:
        raise ParseError(lineno, str(exc)) from None


def read_messages(lines: Iterable[bytes | str]) -> Iterator[QueuedMessage | ParseError]:
    """Each line as a message, or as the ParseError that says why it is not one.

    Blank lines are skipped. Errors are yielded, not raised, so one bad line costs one
    message and the caller decides what a bad line means.
    """
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield parse_line(line, lineno)
        except ParseError as error:
            yield error
