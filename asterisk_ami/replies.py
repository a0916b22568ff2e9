"""Normalise the two wire formats of the AMI ``Command`` reply into one list of CLI lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from asterisk_ami.errors import CommandNotFound, PermissionDenied, ProtocolError

END_COMMAND = "--END COMMAND--"
NO_SUCH_COMMAND = "No such command '"

#: Reply formats: ``follows`` is Asterisk 1.4 to 13, ``output`` is Asterisk 14 and later.
FOLLOWS = "follows"
OUTPUT = "output"


class CommandOutput(NamedTuple):
    """The text a CLI command printed, as a list of lines, whatever the wire format."""

    command: str
    lines: tuple[str, ...]
    reply_format: str
    #: Asterisk 14+ answers ``Response: Error`` when the CLI handler failed; 1.4-13 cannot tell.
    failed: bool = False

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def _header(reply: Mapping[str, Any], name: str) -> str:
    """One header's value; a repeated header where one is expected is a protocol error."""
    value = reply.get(name, "")
    if isinstance(value, list):
        raise ProtocolError(f"AMI reply repeats the {name} header: {value!r:.80}")
    return str(value)


def _trim(lines: list[str]) -> tuple[str, ...]:
    """Drop the trailing blank lines both formats may leave (14+ sends one empty Output line)."""
    while lines and not lines[-1].strip():
        lines.pop()
    return tuple(lines)


def command_output(command: str, reply: Mapping[str, Any], content: str = "") -> CommandOutput:
    """Turn a reply to ``Action: Command`` into :class:`CommandOutput`, or raise a typed error.

    ``reply`` holds the reply's headers (case-insensitive lookups, repeated headers as lists);
    ``content`` is the free-text body of an old-format ``Response: Follows`` reply.
    """
    response = _header(reply, "Response")
    if response == "Follows":
        lines = [line.rstrip("\r") for line in content.split("\n")]
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines or lines[-1].strip() != END_COMMAND:
            raise ProtocolError(f"reply to '{command}' lacks the {END_COMMAND} marker")
        result = CommandOutput(command, _trim(lines[:-1]), FOLLOWS)
    elif response in ("Success", "Error"):
        if "Output" not in reply:
            message = _header(reply, "Message")
            if response == "Error" and message.lower().startswith("permission denied"):
                raise PermissionDenied(message)
            if response == "Error" or message.lower() != "command output follows":
                raise ProtocolError(f"AMI did not run '{command}': {message or 'no message'}")
            # 14+ with a temp file it could not read writes a different Message; an empty
            # Output list with the normal Message means the CLI printed nothing.
        output = reply.get("Output", [])
        raw = output if isinstance(output, list) else [output]
        result = CommandOutput(command, _trim([str(x) for x in raw]), OUTPUT, response == "Error")
    else:
        raise ProtocolError(f"unexpected reply to '{command}': Response: {response or '(none)'}")
    if result.lines and result.lines[0].startswith(NO_SUCH_COMMAND):
        raise CommandNotFound(command, result.lines[0].strip())
    return result


def raise_for_action_error(action: str, reply: Mapping[str, Any]) -> None:
    """Raise the typed error for a ``Response: Error`` reply to a non-Command action."""
    response = _header(reply, "Response")
    if response == "Success":
        return
    message = _header(reply, "Message")
    if response == "Error" and message.lower().startswith("permission denied"):
        raise PermissionDenied(message)
    if response == "Error" and message.lower().startswith("invalid/unknown command"):
        raise CommandNotFound(action, message)
    raise ProtocolError(f"AMI refused {action}: {message or response or 'no reply'}")
