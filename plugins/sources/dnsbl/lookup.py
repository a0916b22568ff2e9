"""Asking a resolver, all queries at once: dnspython's asyncio queries, each with its own timeout
and retries, a bounded number in flight, everything inside one deadline.

dnspython is the well-kept DNS library of Python (its asyncio API since 2.0, pure Python, no
C resolver library to match). Its stub queries (``dns.asyncquery``) are used directly rather
than its Resolver, so that each query's timeout, its retry on the next nameserver and the
deadline of the whole run are ours to set; no cache stands between the lists and the check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

#: Queries in flight at once: well under the usual 1024 open files, enough to keep a local
#: resolver busy (make bench-dnsbl).
PARALLEL = 128
#: A zone that timed out this many times in a row is not asked any more this run: a dead list
#: must not hold 256 queries x retries of a /24.
GIVE_UP_AFTER = 3


class ResolverError(Exception):
    """No resolver to ask (no /etc/resolv.conf and no --nameserver)."""


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


def system_nameservers() -> list[tuple[str, int]]:
    """The nameservers of /etc/resolv.conf (ResolverError without any)."""
    import dns.resolver  # noqa: PLC0415

    try:
        resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        raise ResolverError("no nameserver in /etc/resolv.conf: give --nameserver") from None
    found = []
    for server in resolver.nameservers:
        if isinstance(server, str):
            found.append((server, int(resolver.port)))
        else:  # dnspython 2.4+: Nameserver objects
            found.append(
                (str(getattr(server, "address", server)), int(getattr(server, "port", 53)))
            )
    if not found:
        raise ResolverError("no nameserver in /etc/resolv.conf: give --nameserver")
    return found


class _Asker:
    def __init__(
        self,
        nameservers: list[tuple[str, int]],
        timeout: float,
        retries: int,
        deadline: float,
        want_text: Callable[[Job, tuple[str, ...]], bool],
    ) -> None:
        import dns.asyncquery  # noqa: PLC0415 (after the options are parsed)
        import dns.exception  # noqa: PLC0415
        import dns.message  # noqa: PLC0415
        import dns.rcode  # noqa: PLC0415
        import dns.rdatatype  # noqa: PLC0415

        self.dns = (dns.asyncquery, dns.exception, dns.message, dns.rcode, dns.rdatatype)
        self.nameservers = nameservers
        self.timeout = timeout
        self.retries = retries
        self.deadline = deadline
        self.want_text = want_text
        self.timeouts_in_a_row: dict[str, int] = {}

    async def ask(self, name: str, rdtype: str) -> tuple[str, list[Any]]:
        """(status, records): one question, retried on the next nameserver."""
        asyncquery, exception, message, rcode, rdatatype = self.dns
        status = "timeout"
        for attempt in range(1 + self.retries):
            left = self.deadline - time.monotonic()
            if left <= 0:
                return "late", []
            host, port = self.nameservers[attempt % len(self.nameservers)]
            query = message.make_query(name, getattr(rdatatype, rdtype))
            try:
                response, _ = await asyncquery.udp_with_fallback(
                    query, host, timeout=min(self.timeout, left), port=port
                )
            except exception.Timeout:
                status = "timeout" if time.monotonic() < self.deadline else "late"
                continue
            except OSError as exc:  # ICMP unreachable on the way: nothing listens there
                status = f"unreachable ({exc.strerror or exc})"
                continue
            except exception.DNSException as exc:  # a reply we cannot read
                status = f"bad reply ({type(exc).__name__})"
                continue
            code = response.rcode()
            if code in (rcode.NOERROR, rcode.NXDOMAIN):
                wanted = getattr(rdatatype, rdtype)
                records = [r for rrset in response.answer if rrset.rdtype == wanted for r in rrset]
                return "answer", records
            status = rcode.to_text(code)
        return status, []

    async def run(self, job: Job) -> Reply:
        if self.timeouts_in_a_row.get(job.zone, 0) >= GIVE_UP_AFTER:
            return Reply(job, "skipped")
        started = time.monotonic()
        status, records = await self.ask(job.name, "A")
        seconds = time.monotonic() - started
        if status == "timeout":
            self.timeouts_in_a_row[job.zone] = self.timeouts_in_a_row.get(job.zone, 0) + 1
        else:
            self.timeouts_in_a_row[job.zone] = 0
        if status != "answer":
            return Reply(job, status, seconds=seconds)
        codes = tuple(sorted({r.address for r in records}, key=_numeric))
        texts: tuple[str, ...] = ()
        if codes and self.want_text(job, codes):
            text_status, text_records = await self.ask(job.name, "TXT")
            if text_status == "answer":
                texts = tuple(b"".join(r.strings).decode("utf-8", "replace") for r in text_records)
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
        await asyncio.gather(*(worker() for _ in range(PARALLEL)))

    asyncio.run(main())
