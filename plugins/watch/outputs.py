"""Where passive results go: the Nagios/Naemon external command file, the Icinga 2 REST API."""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import select
import socket
import ssl
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, NamedTuple, Protocol

from isp_plugins.watch.config import IcingaConfig

log = logging.getLogger("asterisk_watch.outputs")


class PassiveResult(NamedTuple):
    """One service's result as the active plugin would have printed it."""

    host: str
    service: str
    code: int
    text: str  # status line (with " | perfdata"), then the long output, one line each
    timestamp: float

    def split(self) -> tuple[str, list[str], list[str]]:
        """Status text, perfdata items and long-output lines."""
        first, _, rest = self.text.partition("\n")
        status, _, perfdata = first.partition(" | ")
        return status, perfdata.split(), rest.split("\n") if rest else []


class Output(Protocol):
    name: str

    def send(self, result: PassiveResult) -> None: ...


class OutputError(Exception):
    """A result could not be delivered (logged; the next change or heartbeat tries again)."""


def _clean(text: str) -> str:
    """A field of an external command: no ';' (the field separator), no raw newline."""
    return text.replace(";", ":").replace("\r", "").replace("\n", " ")


class NagiosCommandFile:
    """Writes ``PROCESS_SERVICE_CHECK_RESULT`` lines to the external command file (a FIFO).

    The long output goes on the same line with its line breaks escaped as ``\\n``, which
    Nagios 4 and Naemon turn back into the service's long output.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"command file {path}"

    def line(self, result: PassiveResult) -> str:
        # The output is the rest of the line: perfdata keeps its ';'. Only line breaks go.
        output = result.text.replace("\r", "").replace("\n", "\\n")
        host, service = _clean(result.host), _clean(result.service)
        return (
            f"[{int(result.timestamp)}] PROCESS_SERVICE_CHECK_RESULT;"
            f"{host};{service};{result.code};{output}\n"
        )

    def send(self, result: PassiveResult) -> None:
        data = self.fitted(result)
        try:
            info = os.stat(self.path)
            if stat.S_ISFIFO(info.st_mode):
                # Non-blocking: with no Nagios reading, fail now (ENXIO) instead of hanging;
                # with a Nagios that stopped reading (pipe full), EAGAIN instead of hanging.
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            else:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise OutputError(f"{self.path}: nobody reads it (is Nagios running?)") from None
            raise OutputError(f"{self.path}: {exc.strerror}") from None
        try:
            # One write of at most PIPE_BUF bytes: all or nothing, never interleaved.
            os.write(fd, data)
        except BlockingIOError:
            raise OutputError(f"{self.path}: full, Nagios does not read it") from None
        except OSError as exc:
            raise OutputError(f"{self.path}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def fitted(self, result: PassiveResult) -> bytes:
        """The command line, long output cut from the end until it fits in PIPE_BUF bytes."""
        status, *rest = result.text.split("\n")
        cut = False
        while True:
            body = [*rest, "(long output cut: 4 KiB per command)"] if cut else rest
            data = self.line(result._replace(text="\n".join([status, *body]))).encode("utf-8")
            if len(data) <= select.PIPE_BUF:
                return data
            if not rest:  # the status line alone is too long: cut it, on a character
                head = data[: select.PIPE_BUF - 1].decode("utf-8", "ignore")
                return head.encode("utf-8") + b"\n"
            rest.pop()
            cut = True


class IcingaApi:
    """POSTs to Icinga 2's ``/v1/actions/process-check-result`` with the CA verified."""

    def __init__(self, config: IcingaConfig, timeout: float = 10) -> None:
        self.config = config
        self.name = f"Icinga 2 API {config.url}"
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=config.ca_file)
        if config.insecure:
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        pair = f"{config.username}:{config.password}".encode()
        self._authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        self.source = socket.gethostname()
        # urlopen follows redirects, re-sending the Authorization header wherever they point
        # (another host, plain http). The API never redirects: a 3xx is a failure here.
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.context), _NoRedirect()
        )

    def body(self, result: PassiveResult) -> dict[str, object]:
        status, perfdata, long_output = result.split()
        return {
            "type": "Service",
            "filter": "host.name==h && service.name==s",
            "filter_vars": {"h": result.host, "s": result.service},
            "exit_status": result.code,
            "plugin_output": "\n".join([status, *long_output]),
            "performance_data": perfdata,
            "check_source": f"asterisk-watch@{self.source}",
            "execution_start": result.timestamp,
            "execution_end": result.timestamp,
        }

    def send(self, result: PassiveResult) -> None:
        request = urllib.request.Request(
            f"{self.config.url}/v1/actions/process-check-result",
            data=json.dumps(self.body(result)).encode("utf-8"),
            method="POST",
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "Authorization": self._authorization,
            },
        )
        started = time.monotonic()
        try:
            with self._opener.open(request, timeout=self.timeout) as r:
                answer = json.loads(r.read().decode("utf-8") or "{}")
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                where = _location(exc.headers.get("Location"))
                raise OutputError(
                    f"{self.name}: refused to follow HTTP {exc.code} redirect to {where} "
                    "(set icinga_url to where the API really is)"
                ) from None
            raise OutputError(f"{self.name}: HTTP {exc.code} {_reason(exc)}") from None
        except urllib.error.URLError as exc:
            raise OutputError(f"{self.name}: {exc.reason}") from None
        except (OSError, ValueError) as exc:
            raise OutputError(f"{self.name}: {exc}") from None
        results = answer.get("results") or []
        if not results:
            raise OutputError(f"{self.name}: no such service {result.host}!{result.service}")
        failed = [r for r in results if int(r.get("code", 500)) >= 300]
        if failed:
            raise OutputError(f"{self.name}: {failed[0].get('status', 'refused')}")
        log.debug("%s took %.0f ms", self.name, (time.monotonic() - started) * 1000)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: the 3xx reaches the caller as an HTTPError."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _location(value: str | None) -> str:
    """A redirect's target for the log: without user:password@, printable, short."""
    if not value:
        return "(no Location)"
    try:
        parts = urllib.parse.urlsplit(value.strip())
        if parts.username is not None or parts.password is not None:
            netloc = parts.netloc.rpartition("@")[2]
            value = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "(an unreadable Location)"
    flat = "".join(c if c.isprintable() else "?" for c in value)
    return flat if len(flat) <= 200 else flat[:200] + "..."


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
        return str(body.get("status") or exc.reason)
    except (ValueError, OSError):
        return str(exc.reason)
