"""Typed failures of an AMI session, so callers can map each to their own meaning."""

from __future__ import annotations


def excerpt(text: str, limit: int = 40) -> str:
    """A short, printable, single-line quotation of untrusted text for an error message."""
    flat = text.strip()[:limit].replace("\ufffd", "?")
    flat = flat.encode("ascii", "backslashreplace").decode("ascii")
    flat = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in flat)
    return "'" + flat.replace("|", "/") + ("'..." if len(text.strip()) > limit else "'")


class AmiError(Exception):
    """Base class of every failure raised by :mod:`asterisk_ami`."""


class ConnectionFailed(AmiError):
    """No usable connection: DNS failure, refused, reset, unreachable, closed early."""


class ConnectionLost(ConnectionFailed):
    """The server closed or reset an established session before the exchange ended."""


class NotAmiServer(AmiError):
    """Something answered on the port, but not with an AMI greeting."""


class TlsPort(NotAmiServer):
    """A plain connection reached a TLS port: the server answered in TLS, or closed the
    connection without a greeting when sent plain text."""


class AuthenticationFailed(AmiError):
    """The server rejected the username and secret (or the MD5 key)."""


class PermissionDenied(AmiError):
    """Logged in, but the manager user may not run the action (e.g. no ``write = command``)."""


class CommandNotFound(AmiError):
    """The CLI command is not registered (module not loaded, or built without support)."""

    def __init__(self, command: str, text: str) -> None:
        super().__init__(f"command '{command}' not available: {text}")
        self.command = command
        self.text = text


class AmiTimeout(AmiError):
    """The session's single deadline expired; ``phase`` says what was awaited."""

    def __init__(self, seconds: float, phase: str) -> None:
        super().__init__(f"no answer from AMI within {seconds:g}s ({phase})")
        self.seconds = seconds
        self.phase = phase


class ProtocolError(AmiError):
    """The server spoke, but not in a form this client can read."""


class SendFailed(AmiError):
    """A request could not be written (a value that cannot be encoded, a broken transport)."""


class EventFlood(ProtocolError):
    """The server sent more unsolicited data (events not asked for) than a session accepts."""


class ParseError(AmiError):
    """A CLI command's output does not have the shape its parser knows."""


class TlsError(ConnectionFailed):
    """The TLS handshake failed: certificate not trusted, wrong name, or no TLS on the port."""
