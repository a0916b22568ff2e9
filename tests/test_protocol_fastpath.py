"""The protocol's fast paths (protocol.py) give what panoramisk's own code gives, for any input.

The watcher reads a 2,000-peer list on every PeerStatus event; the fast paths build panoramisk's
Message and collect an Action's replies without its per-header method calls. Every check and
the watcher rely on them behaving exactly as panoramisk does: these properties hold them to it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from panoramisk import actions
from panoramisk.message import Message

from asterisk_ami import protocol
from asterisk_ami.protocol import _Action, _Command, _from_line, _ids, _message
from tests.test_fuzz import EXAMPLES, FUZZ_SEED

KEYS = st.sampled_from(
    [
        "Event",
        "event",
        "EVENT",
        "Response",
        "response",
        "ActionID",
        "actionid",
        "CommandID",
        "Message",
        "Result",
        "result",
        "Content",
        "content",
        "EventList",
        "SubEvent",
        "Status",
        "",
    ]
)
VALUES = st.one_of(
    st.sampled_from(
        [
            "PeerEntry",
            "PeerlistComplete",
            "Success",
            "Error",
            "Follows",
            "Fail",
            "start",
            "Start",
            "End",
            "Exec",
            "42",
            "43",
            "Peer status list will follow",
            "%41%20b ",
            "a: b",
            "",
        ]
    ),
    st.text(max_size=12),
)
LINE = st.one_of(
    st.builds(lambda k, v: f"{k}: {v}", KEYS, VALUES),
    st.text(max_size=15),
)
SEPARATOR = st.sampled_from(["\r\n", "\r\n", "\r\n", "\n", "\r", "\r\n\r\n"])


@st.composite
def frames(draw: Any) -> str:
    lines = draw(st.lists(LINE, max_size=10))
    text = ""
    for line in lines:
        text += line + draw(SEPARATOR)
    return text


def view(message: Message | None) -> Any:
    """Everything a reader can see of a Message: its class, store in order, and attributes."""
    if message is None:
        return None
    return (type(message), list(message._store.items()), message.manager, message.content)


@seed(FUZZ_SEED)
@settings(max_examples=max(300, EXAMPLES), deadline=None)
@given(frames())
def test_from_line_is_panoramisks(frame: str) -> None:
    text = frame.strip()
    assert view(_from_line(text)) == view(Message.from_line(text))


def test_known_lines_stay_bounded_and_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache of header lines already read is emptied when full; a message read from it
    (or after it was emptied) is the one panoramisk builds."""
    monkeypatch.setattr(protocol, "MAX_LINES", 3)
    monkeypatch.setattr(protocol, "_LINES", {})
    frames = [
        "Event: PeerEntry\r\nActionID: 42\r\nObjectName: a\r\nStatus: OK (1 ms)",
        "Event: PeerEntry\r\nActionID: 42\r\nObjectName: b\r\nStatus: OK (1 ms)",
        "Event: PeerEntry\r\nactionid: 42\r\nActionID: 42\r\nStatus: UNKNOWN",
        "Response: Success\r\nActionID: 42\r\nMessage: Peer status list will follow",
    ]
    for text in frames * 3:
        assert view(_from_line(text)) == view(Message.from_line(text))
        assert len(protocol._LINES) <= 3
    # A long line is read, not kept: a server's long distinct lines never pile up.
    long = "Event: PeerEntry\r\nDescription: " + "x" * protocol.MAX_LINE
    protocol._LINES.clear()
    assert view(_from_line(long)) == view(Message.from_line(long))
    assert list(protocol._LINES) == ["Event: PeerEntry"]


@seed(FUZZ_SEED)
@settings(max_examples=max(200, EXAMPLES), deadline=None)
@given(st.dictionaries(KEYS, st.one_of(VALUES, st.lists(VALUES, max_size=3))), st.text())
def test_message_is_panoramisks(headers: dict[str, Any], content: str) -> None:
    assert view(_message(headers, content)) == view(Message(headers, content=content))


@seed(FUZZ_SEED)
@settings(max_examples=max(200, EXAMPLES), deadline=None)
@given(frames())
def test_ids_are_panoramisks(frame: str) -> None:
    message = Message.from_line(frame.strip())
    if message is not None:
        assert _ids(message) == (message.id, message.action_id)


def collect(
    kind: type[actions.Action], request: dict[str, str], as_list: Any, replies: list[str]
) -> Any:
    """Feed replies to an action as the protocol does; what each add_message said, and the
    reply handed over (as message positions), or the exception it raised."""

    async def run() -> Any:
        action = kind(dict(request), as_list=as_list)
        messages = [m for m in (Message.from_line(r.strip()) for r in replies) if m is not None]
        said = []
        for message in messages:
            try:
                said.append(action.add_message(message))
            except Exception as error:  # the same failure is the point
                said.append(type(error))
                break
        result: Any = None
        if action.future.done():
            got = action.future.result()
            first = got is messages[0]
            result = [messages.index(m) for m in got] if isinstance(got, list) else first
        return said, result

    return asyncio.run(run())


REPLY = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(
        [
            "Response: Success\r\nMessage: Peer status list will follow\r\n",
            "Response: Success\r\nEventList: start\r\nMessage: x\r\n",
            "Response: Success\r\nMessage: Added x to queue\r\n",
            "Response: Success\r\nMessage: Originate successfully queued\r\n",
            "Response: Error\r\nMessage: Permission denied\r\n",
            "Response: Follows\r\nPrivilege: Command\r\n",
            "Event: PeerEntry\r\n",
            "Event: PeerlistComplete\r\n",
            "Event: X\r\nSubEvent: End\r\n",
            "Event: X\r\nSubEvent: Start\r\n",
            "Event: X\r\nSubEvent: Exec\r\n",
            "Event: X\r\nResponse: Failure\r\n",
            "Event: X\r\nEvent: Y\r\n",
            "Response: Success\r\nMessage: a\r\nMessage: b\r\n",
        ]
    ),
    st.sampled_from(["", "ActionID: 1\r\n", "Response: Fail\r\n", "Async: false\r\n"]),
)


@seed(FUZZ_SEED)
@settings(max_examples=max(300, EXAMPLES), deadline=None)
@given(
    st.sampled_from([None, False, True]),
    st.booleans(),
    st.sampled_from([{}, {"Async": "false"}, {"Async": "true"}]),
    st.lists(REPLY, min_size=1, max_size=6),
)
def test_reply_collection_is_panoramisks(
    as_list: Any, command: bool, extra: dict[str, str], replies: list[str]
) -> None:
    request = {"Action": "Command", "Command": "x"} if command else {"Action": "SIPpeers"}
    request.update(extra)
    ours = _Command if command else _Action
    theirs = actions.Command if command else actions.Action
    assert collect(ours, request, as_list, replies) == collect(theirs, request, as_list, replies)
