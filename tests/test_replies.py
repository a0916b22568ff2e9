"""The Command reply normaliser on both wire formats, as panoramisk hands them over."""

from __future__ import annotations

import pytest
from panoramisk.message import Message

from asterisk_ami.errors import CommandNotFound, PermissionDenied, ProtocolError
from asterisk_ami.replies import FOLLOWS, OUTPUT, CommandOutput, command_output

CMD = "pri show spans"
NOT_FOUND = (
    "No such command 'pri show spans' (type 'core show help pri show' for other possible commands)"
)


def old_format(body: str) -> CommandOutput:
    """An Asterisk 1.4-13 reply: headers, then the CLI text up to --END COMMAND--."""
    reply = Message({"Response": "Follows", "Privilege": "Command"}, content=body)
    return command_output(CMD, reply, reply.content)


def test_follows_lines_without_end_marker() -> None:
    out = old_format(
        "a\nb: with colon\n\nc\n--END COMMAND--",
    )
    assert out.lines == ("a", "b: with colon", "", "c")
    assert out.reply_format == FOLLOWS and not out.failed
    assert out.text == "a\nb: with colon\n\nc\n"


def test_follows_empty_and_crlf_bodies() -> None:
    assert old_format("--END COMMAND--\n").lines == ()
    assert old_format("x\r\ny\r\n--END COMMAND--").lines == ("x", "y")


def test_follows_without_marker_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="END COMMAND"):
        old_format("PRI span 1/0: Up, Active\n")


def test_follows_no_such_command() -> None:
    with pytest.raises(CommandNotFound) as caught:
        old_format(NOT_FOUND + "\n--END COMMAND--")
    assert caught.value.command == CMD and caught.value.text == NOT_FOUND


@pytest.mark.parametrize(
    ("output", "lines"),
    [
        (["one", "", "two", "", ""], ("one", "", "two")),  # a list when repeated
        ("single line", ("single line",)),  # panoramisk gives a str for one header
        ("", ()),  # 14+ prints one empty Output for no output
    ],
)
def test_output_headers(output: object, lines: tuple[str, ...]) -> None:
    reply = Message({"Response": "Success", "Message": "Command output follows", "Output": output})
    out = command_output(CMD, reply)
    assert out.lines == lines and out.reply_format == OUTPUT and not out.failed


def test_output_header_missing_means_no_output() -> None:
    reply = Message({"Response": "Success", "Message": "Command output follows"})
    assert command_output(CMD, reply).lines == ()


def test_output_error_no_such_command() -> None:
    reply = Message({"Response": "Error", "Message": "Command output follows", "Output": NOT_FOUND})
    with pytest.raises(CommandNotFound):
        command_output(CMD, reply)


def test_output_error_keeps_lines_and_flags_failure() -> None:
    reply = Message(
        {
            "Response": "Error",
            "Message": "Command output follows",
            "Output": ["No DAHDI interface found.", "Command 'dahdi show status' failed."],
        }
    )
    out = command_output("dahdi show status", reply)
    assert out.failed and out.lines[1] == "Command 'dahdi show status' failed."


def test_permission_denied() -> None:
    with pytest.raises(PermissionDenied, match="Permission denied"):
        command_output(CMD, Message({"Response": "Error", "Message": "Permission denied"}))


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({"Response": "Error", "Message": "Command blacklisted"}, "blacklisted"),
        ({"Response": "Success", "Message": "Failed to open temp file"}, "Failed to open"),
        ({"Response": "Goodbye"}, "unexpected reply"),
        ({"Event": "FullyBooted"}, "unexpected reply"),
        ({"Response": ["Success", "Error"]}, "repeats the Response header"),
    ],
)
def test_protocol_errors(headers: dict[str, object], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        command_output(CMD, Message(headers))
