"""Asking a resolver, all queries at once: asyncio UDP, each query with its own timeout and
retries, a bounded number in flight, everything inside one deadline.

The queries and replies are encoded and read by :mod:`.wire`: dnspython's general message
classes cost more CPU per question than the whole budget of a /24 on 60 lists allows (see
wire.py); dnspython stays the tests' oracle for the wire format. A few UDP sockets per
resolver, each question a random ID: a reply is taken only for the ID and the question it
answers; a truncated reply is asked again over TCP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from isp_plugins.sources.dnsbl import wire

RESOLV_CONF = "/etc/resolv.conf"
#: Queries in flight at once: enough to keep a local resolver busy (make bench-dnsbl).
PARALLEL = 128
#: UDP sockets per resolver: the replies of one are told apart by their IDs, several give the
#: source port some randomness too.
SOCKETS = 4
#: A zone that timed out this many times in a row is not asked any more this run: a dead list
#: must not hold 256 queries x retries of a /24.
GIVE_UP_AFTER = 3


class ResolverError(Exception):
    """No resolver to ask (none in /etc/resolv.conf, or one we cannot send to)."""


class Job(NamedTuple):
    """One question: ``name`` (A, then TXT when listed) for the list ``zone``."""

    zone: str  # the list's key: answers are grouped by it
    name: str
    tag: Any  # the caller's: what the name stands for (an address, a test point)


@dataclass
class Reply:
    job: Job
    #: answer (codes may be empty: NXDOMAIN or no record), timeout, late (the deadline came
    #: first), skipped (the zone gave up), or an rcode / failure in words (SERVFAIL, REFUSED)
    status: str
    codes: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    seconds: float = 0.0


def system_nameservers(path: str = RESOLV_CONF) -> list[tuple[str, int]]:
    """The nameservers of /etc/resolv.conf, port 53 (ResolverError without any)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(1 << 16)
    except OSError as exc:
        raise ResolverError(f"cannot read {path}: {exc.strerror}: give --nameserver") from None
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            address = words[1].split("%")[0]  # fe80::1%eth0: the scope is not ours to use
            try:
                found.append((str(ipaddress.ip_address(address)), 53))
            except ValueError:
                continue
    if not found:
        raise ResolverError(f"no nameserver in {path}: give --nameserver")
    return found


class _Channel(asyncio.DatagramProtocol):
    """One UDP socket to one resolver; replies go to the question of their ID."""

    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) >= 2:
            future = self.pending.pop(int.from_bytes(data[:2], "big"), None)
            if future is not None and not future.done():
                future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable (nothing listens there): every question on it has failed
        for future in self.pending.values():
            if not future.done():
                future.set_exception(exc)
        self.pending.clear()

    def send(self, qid: int, query: bytes) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[qid] = future
        assert self.transport is not None
        self.transport.sendto(query)
        return future

    def free_id(self) -> int:
        while True:
            qid = secrets.randbits(16)
            if qid not in self.pending:
                return qid


class _Asker:
    def __init__(
        self,
        nameservers: list[tuple[str, int]],
        timeout: float,
        retries: int,
        deadline: float,
        want_text: Callable[[Job, tuple[str, ...]], bool],
    ) -> None:
        self.nameservers = nameservers
        self.timeout = timeout
        self.retries = retries
        self.deadline = deadline
        self.want_text = want_text
        self.timeouts_in_a_row: dict[str, int] = {}
        self.channels: dict[tuple[str, int], list[_Channel]] = {}

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        for server in self.nameservers:
            channels = []
            for _ in range(SOCKETS):
                try:
                    _, channel = await loop.create_datagram_endpoint(_Channel, remote_addr=server)
                except OSError as exc:  # no route, no IPv6 on this host
                    raise ResolverError(
                        f"cannot send to the resolver {server[0]}:{server[1]}: "
                        f"{exc.strerror or exc}"
                    ) from None
                channels.append(channel)
            self.channels[server] = channels

    def close(self) -> None:
        for channels in self.channels.values():
            for channel in channels:
                if channel.transport is not None:
                    channel.transport.close()

    async def ask(self, name: str, qtype: int) -> tuple[str, wire.Reply | None]:
        """(status, reply): one question, retried on the next nameserver."""
        status = "timeout"
        try:
            wire.encode_query(0, name, qtype)
        except wire.BadName as exc:
            return f"not asked ({exc})", None
        for attempt in range(1 + self.retries):
            left = self.deadline - time.monotonic()
            if left <= 0:
                return "late", None
            # a wait the deadline shortens ends as "late", whenever the timer fires exactly
            cut = left <= self.timeout
            server = self.nameservers[attempt % len(self.nameservers)]
            channel = random.choice(self.channels[server])
            qid = channel.free_id()
            try:
                data = await asyncio.wait_for(
                    channel.send(qid, wire.encode_query(qid, name, qtype)),
                    min(self.timeout, left),
                )
                reply = wire.decode_reply(data)
                if reply.truncated:
                    reply = await self._over_tcp(server, name, qtype, min(self.timeout, left))
            except asyncio.TimeoutError:
                status = "late" if cut else "timeout"
                continue
            except wire.WireError as exc:
                status = f"bad reply ({exc})"
                continue
            except OSError as exc:  # ICMP unreachable on the way: nothing listens there
                status = f"unreachable ({exc.strerror or exc})"
                continue
            finally:
                channel.pending.pop(qid, None)
            if reply.questions != [(name.lower(), qtype)]:
                status = "bad reply (the answer to another question)"
                continue
            if reply.rcode in ("NOERROR", "NXDOMAIN"):
                return "answer", reply
            status = reply.rcode
        return status, None

    async def _over_tcp(
        self, server: tuple[str, int], name: str, qtype: int, timeout: float
    ) -> wire.Reply:
        """The question again over TCP, for a reply truncated on UDP (RFC 7766)."""
        qid = secrets.randbits(16)
        query = wire.encode_query(qid, name, qtype)

        async def exchange() -> bytes:
            reader, writer = await asyncio.open_connection(*server)
            try:
                writer.write(len(query).to_bytes(2, "big") + query)
                size = int.from_bytes(await reader.readexactly(2), "big")
                return await reader.readexactly(size)
            finally:
                writer.close()

        try:
            data = await asyncio.wait_for(exchange(), timeout)
        except asyncio.IncompleteReadError:
            raise wire.WireError("TCP reply cut short") from None
        reply = wire.decode_reply(data)
        if reply.qid != qid:
            raise wire.WireError("TCP reply to another query")
        return reply

    async def run(self, job: Job) -> Reply:
        if self.timeouts_in_a_row.get(job.zone, 0) >= GIVE_UP_AFTER:
            return Reply(job, "skipped")
        started = time.monotonic()
        status, reply = await self.ask(job.name, wire.A)
        seconds = time.monotonic() - started
        if status == "timeout":
            self.timeouts_in_a_row[job.zone] = self.timeouts_in_a_row.get(job.zone, 0) + 1
        else:
            self.timeouts_in_a_row[job.zone] = 0
        if reply is None:
            return Reply(job, status, seconds=seconds)
        codes = tuple(sorted(set(reply.addresses), key=_numeric))
        texts: tuple[str, ...] = ()
        if codes and self.want_text(job, codes):
            _, text_reply = await self.ask(job.name, wire.TXT)
            if text_reply is not None:
                texts = tuple(text_reply.texts)
        return Reply(job, "answer", codes, texts, seconds)


def _numeric(code: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in code.split("."))
    except ValueError:
        return (1 << 30,)


def run_jobs(
    jobs: Iterable[Job],
    nameservers: list[tuple[str, int]],
    timeout: float,
    retries: int,
    seconds: float,
    want_text: Callable[[Job, tuple[str, ...]], bool],
    on_reply: Callable[[Reply], None],
) -> None:
    """Ask every job, ``on_reply`` called with each reply as it comes, within ``seconds``
    (the jobs the deadline leaves unasked are replied 'late').

    ``PARALLEL`` workers take jobs from the iterable as they go and each reply is handed over
    at once, so memory does not grow with the number of jobs.
    """
    deadline = time.monotonic() + seconds
    asker = _Asker(nameservers, timeout, retries, deadline, want_text)
    source = iter(jobs)

    async def worker() -> None:
        for job in source:
            on_reply(await asker.run(job))

    async def main() -> None:
        await asker.open()
        try:
            await asyncio.gather(*(worker() for _ in range(PARALLEL)))
        finally:
            asker.close()

    asyncio.run(main())
