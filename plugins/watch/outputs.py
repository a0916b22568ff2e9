"""Where passive results go: the Nagios/Naemon external command file, the Icinga 2 REST API."""

from __future__ import annotations

import base64
import errno
import http.client
import json
import logging
import os
import select
import socket
import ssl
import stat
import threading
import time
import urllib.parse
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from isp_plugins.watch.config import IcingaConfig

log = logging.getLogger("asterisk_watch.outputs")

#: Seconds between two writes to the command file while no full PIPE_BUF batch waits.
COMMAND_FILE_SPACING = 0.1
#: How long a full command file may take to make room for a write before it is a failure.
COMMAND_FILE_FULL_WAIT = 5.0
#: Requests in flight to the Icinga 2 API at most: as many connections, kept alive.
ICINGA_IN_FLIGHT = 4
#: Seconds one API request may wait for each step (connect, send, each read of the answer).
ICINGA_TIMEOUT = 10.0
#: A connection idle this long is closed rather than reused: Icinga 2 closes idle ones
#: (2.13: still open after 12 s, closed by 20 s), and a request on one it closes fails.
KEEPALIVE_IDLE = 5.0


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
    """Where results go. The publisher's senders call :meth:`send`, at most ``senders`` at
    once, each with up to ``batch`` results; it delivers the first n >= 1 of them in one
    write or request and returns n."""

    name: str
    batch: int
    senders: int
    #: Least seconds between two sends of one sender while no full batch waits.
    spacing: float

    def send(self, results: Sequence[PassiveResult]) -> int:
        """Raises OutputError when nothing went, ResultRejected when ``results[0]`` was
        refused (and only it: outputs that can refuse one result take them one at a time)."""
        ...

    def close(self) -> None:
        """Close what stays open between sends (kept-alive connections)."""
        ...


class OutputError(Exception):
    """The output cannot take results now (not there, full, refused us): the result is kept
    and tried again after a back-off, until a newer result of its service replaces it."""


class ResultRejected(OutputError):
    """The output took the request but refused this one result (no such service there)."""


def _clean(text: str) -> str:
    """A field of an external command: no ';' (the field separator), no raw newline."""
    return text.replace(";", ":").replace("\r", "").replace("\n", " ")


class NagiosCommandFile:
    """Writes ``PROCESS_SERVICE_CHECK_RESULT`` lines to the external command file (a FIFO).

    The long output goes on the same line with its line breaks escaped as ``\\n``, which
    Nagios 4 and Naemon turn back into the service's long output. Lines go in batches: one
    open and one write of whole lines, at most PIPE_BUF bytes, per batch.
    """

    #: Results offered per write (as many as fit in PIPE_BUF bytes go), and one writer: a
    #: pipe gains nothing from two.
    batch = 64
    senders = 1
    #: At most ten writes a second while the results trickle in; a backlog is written in
    #: full PIPE_BUF batches as fast as Nagios reads them.
    spacing = COMMAND_FILE_SPACING

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

    def send(self, results: Sequence[PassiveResult]) -> int:
        """Write the leading results whose lines fit together in PIPE_BUF bytes."""
        data = b""
        count = 0
        for result in results:
            line = self.fitted(result)
            if count and len(data) + len(line) > select.PIPE_BUF:
                break
            data += line
            count += 1
        self._write(data)
        return count

    def _write(self, data: bytes) -> None:
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
            # One write of at most PIPE_BUF bytes: all or nothing, never interleaved with
            # another writer's command.
            deadline = time.monotonic() + COMMAND_FILE_FULL_WAIT
            while True:
                try:
                    os.write(fd, data)
                    break
                except BlockingIOError:
                    # Full: Nagios reads in bursts. Wait (in this output's own thread) for
                    # room, a while: one that stopped reading is an error, not a hang.
                    # poll, not select: a watcher of thousands of PBXs has fds past 1023,
                    # which select() refuses ("filedescriptor out of range").
                    left = deadline - time.monotonic()
                    poller = select.poll()
                    poller.register(fd, select.POLLOUT)
                    if left <= 0 or not poller.poll(left * 1000):
                        raise OutputError(f"{self.path}: full, Nagios does not read it") from None
        except OSError as exc:
            raise OutputError(f"{self.path}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def close(self) -> None:
        """Nothing stays open between batches."""

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
    """POSTs to Icinga 2's ``/v1/actions/process-check-result``, one result per request, over
    kept-alive HTTPS connections (at most ``senders``, so as many requests in flight), with
    the CA verified. Talks to the API directly: no proxy, whatever https_proxy says."""

    batch = 1
    senders = ICINGA_IN_FLIGHT
    spacing = 0.0

    def __init__(self, config: IcingaConfig, timeout: float = ICINGA_TIMEOUT) -> None:
        self.config = config
        self.name = f"Icinga 2 API {config.url}"
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=config.ca_file)
        if config.insecure:
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        parts = urllib.parse.urlsplit(config.url)
        self.host = parts.hostname or ""
        self.port = parts.port or 443
        self.path = parts.path.rstrip("/") + "/v1/actions/process-check-result"
        pair = f"{config.username}:{config.password}".encode()
        self._headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(pair).decode("ascii"),
        }
        self.source = socket.gethostname()
        #: Connections between requests, the last used on top, with when each was used.
        self._idle: list[tuple[http.client.HTTPSConnection, float]] = []
        self._lock = threading.Lock()

    def body(self, result: PassiveResult) -> dict[str, object]:
        status, perfdata, long_output = result.split()
        return {
            "type": "Service",
            # By name, not a filter: Icinga looks one name up, but runs a filter over every
            # service it has (5 results a second with 30,000 services: the benchmark).
            "service": f"{result.host}!{result.service}",
            "exit_status": result.code,
            "plugin_output": "\n".join([status, *long_output]),
            "performance_data": perfdata,
            "check_source": f"asterisk-watch@{self.source}",
            "execution_start": result.timestamp,
            "execution_end": result.timestamp,
        }

    def send(self, results: Sequence[PassiveResult]) -> int:
        result = results[0]
        started = time.monotonic()
        try:
            status, headers, data = self._post(json.dumps(self.body(result)).encode("utf-8"))
        except OSError as exc:  # refused, reset, TLS (the certificate), timed out
            raise OutputError(f"{self.name}: {exc}") from None
        except http.client.HTTPException as exc:  # not HTTP
            raise OutputError(f"{self.name}: {type(exc).__name__} {exc}") from None
        if 300 <= status < 400:
            # The API never redirects; following one would send the credentials wherever it
            # points (another host, plain http).
            where = _location(headers.get("Location"))
            raise OutputError(
                f"{self.name}: refused to follow HTTP {status} redirect to {where} "
                "(set icinga_url to where the API really is)"
            )
        if status >= 400:
            said = f"HTTP {status} {_reason(data, status)}"
            # Credentials, permissions, an Icinga in trouble: no result can go. Anything
            # else is about this result: 404 is Icinga's answer to a name it does not know.
            if status in (401, 403, 408, 429) or status >= 500:
                raise OutputError(f"{self.name}: {said}")
            if status == 404:
                said = f"no such service {result.host}!{result.service} ({said})"
            raise ResultRejected(f"{self.name}: {said}")
        try:
            answer = json.loads(data.decode("utf-8") or "{}")
            answered = list(answer.get("results") or [])
            failed = [r for r in answered if int(r.get("code", 500)) >= 300]
        except (ValueError, AttributeError, TypeError):
            raise OutputError(f"{self.name}: HTTP {status} but no JSON answer") from None
        if not answered:
            raise ResultRejected(f"{self.name}: no such service {result.host}!{result.service}")
        if failed:
            raise ResultRejected(f"{self.name}: {failed[0].get('status', 'refused')}")
        log.debug("%s took %.0f ms", self.name, (time.monotonic() - started) * 1000)
        return 1

    def _post(self, body: bytes) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = self._take()
        reused = connection.sock is not None
        try:
            try:
                answer = _exchange(connection, self.path, body, self._headers)
            except _DROPPED as exc:
                if not reused:
                    raise
                # Icinga closed the kept-alive connection meanwhile: the request never
                # reached it (at worst a passive result is processed twice). Once more, on
                # a new connection.
                log.debug("%s: kept-alive connection closed (%s): reconnecting", self.name, exc)
                connection.close()
                answer = _exchange(connection, self.path, body, self._headers)
        except BaseException:
            connection.close()  # in an unknown state (a late answer would be misread)
            raise
        with self._lock:
            self._idle.append((connection, time.monotonic()))
        return answer

    def _take(self) -> http.client.HTTPSConnection:
        """The last used idle connection, unless Icinga may have dropped it; or a new one."""
        now = time.monotonic()
        with self._lock:
            while self._idle:
                connection, used = self._idle.pop()
                if now - used < KEEPALIVE_IDLE:
                    return connection
                connection.close()
        # Connects on its first request (and again after Icinga closed it).
        return http.client.HTTPSConnection(
            self.host, self.port, timeout=self.timeout, context=self.context
        )

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()


#: How a kept-alive connection that the server closed fails its next request.
_DROPPED = (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError)


def _exchange(
    connection: http.client.HTTPSConnection, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request and its whole answer (read to the end: the connection is reusable)."""
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    return response.status, response.msg, response.read()


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


def _reason(data: bytes, status: int) -> str:
    """Icinga's own words for an HTTP error (its JSON ``status``), else the reason phrase."""
    try:
        body = json.loads(data.decode("utf-8"))
        return str(body.get("status") or http.client.responses.get(status, ""))
    except (ValueError, AttributeError):
        return http.client.responses.get(status, "")
