"""One long-lived AMI session per PBX: reconnect with back-off, evaluate on events and every
interval, push each service's result when it changes and as a heartbeat."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import enum
import functools
import logging
import math
import time
from collections.abc import Awaitable
from typing import Any, Callable, TypeVar, cast

from asterisk_ami.errors import (
    AmiError,
    AmiTimeout,
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionLost,
)
from asterisk_ami.session import LOGOFF_GRACE, Session, Target
from isp_plugins.watch import AUTH_RETRY, BACKOFF_FIRST, BACKOFF_MAX, CONNECT_RETRY
from isp_plugins.watch.config import PLUGINS, PbxConfig, WatchConfig
from isp_plugins.watch.inloop import (
    CachedSession,
    Foreign,
    Missing,
    ask_for,
    comparable,
    drive,
    same,
)
from isp_plugins.watch.limits import capacity_error, pbx_capacity
from isp_plugins.watch.logs import PBX
from isp_plugins.watch.outputs import Output
from isp_plugins.watch.publisher import Publisher
from isp_plugins.watch.rounds import Replies, RoundSession
from isp_plugins.watch.schedule import LoginGate, next_slot, offset
from isp_plugins.watch.services import Outcome, Service, prepare, target_of

log = logging.getLogger("asterisk_watch")
T = TypeVar("T")

#: How long connect + login may take.
LOGIN_TIMEOUT = 10.0
#: How long SIGTERM waits for a watcher busy logging in or evaluating before cancelling it.
STOP_GRACE = 3.0
#: Every plugin the watcher runs, and for each AMI event (lower case) the plugins whose
#: services it affects: the registry's ``events``.
ALL = frozenset(PLUGINS)
TRIGGERS = {
    event: frozenset(check.script for check in PLUGINS.values() if event in check.events)
    for event in frozenset().union(*(check.events for check in PLUGINS.values()))
}


#: The plugins evaluated on the event loop (see :mod:`isp_plugins.watch.inloop`): a fraction
#: of a millisecond each. check_asterisk_peers reads thousands of peers (100 ms and more): it
#: stays in a worker thread, where it cannot hold up the other PBXs' sessions.
IN_LOOP = frozenset(
    {"check_asterisk_pri", "check_asterisk_bri", "check_asterisk_fxo", "check_asterisk_dahdi"}
)
#: What an in-loop service's command line (plugin, arguments) asked for last, on any PBX:
#: a PBX's first round asks for it at once, as the same command line on its other PBXs did.
SEEN: dict[tuple[str, tuple[str, ...]], dict[tuple[str, ...], float]] = {}
#: Replies one in-loop evaluation may fetch before it goes to a worker thread instead (BRI
#: asks one 'pri show span N' per span).
MAX_PASSES = 64


class Failure(enum.Enum):
    """Why there is no session, as far as when to try again goes."""

    REFUSED = "no TCP connection"  # refused, unreachable, no answer to the handshake
    AUTH = "login rejected"
    LOST = "session ended"  # a logged-in session ended (closed, reset, hung, Shutdown)
    OTHER = "failed after connecting"  # no greeting, TLS refused, not AMI, name unresolved


class Backoff:
    """When one PBX is tried again: pure, the caller sleeps. The constants are in
    :mod:`isp_plugins.watch`."""

    def __init__(self) -> None:
        self.next = BACKOFF_FIRST

    def reset(self) -> None:
        """A healthy session (an evaluation got its replies): start the schedule over. A
        session that logs in and dies at once does not count, or it would be retried every
        second forever."""
        self.next = BACKOFF_FIRST

    def after(self, failure: Failure) -> float:
        """Seconds to wait after ``failure``."""
        if failure is Failure.REFUSED:
            # Costs the PBX nothing, and leaves the doubling where it was: the PBX that
            # accepts and then fails is still backed off from.
            return CONNECT_RETRY
        delay = self.next
        self.next = min(self.next * 2, BACKOFF_MAX)
        if failure is Failure.AUTH:
            delay = max(delay, AUTH_RETRY)
        return delay


def _failure(error: BaseException, session: Session) -> Failure:
    """How an attempt failed. asterisk_ami raises ConnectionFailed itself (not a subclass:
    TlsError is one) when the TCP handshake fails, while its phase still says so."""
    if isinstance(error, AuthenticationFailed):
        return Failure.AUTH
    if session.phase.startswith("connecting to ") and (
        type(error) is ConnectionFailed or isinstance(error, asyncio.TimeoutError)
    ):
        return Failure.REFUSED
    return Failure.OTHER


class PbxWatcher:
    """The session loop of one PBX."""

    def __init__(
        self,
        pbx: PbxConfig,
        settings: WatchConfig,
        publisher: Publisher,
        executor: concurrent.futures.Executor,
        gate: LoginGate,
    ) -> None:
        self.pbx = pbx
        self.settings = settings
        self.publisher = publisher
        self.executor = executor
        self.gate = gate
        self.target: Target = target_of(pbx)
        self.services = [prepare(pbx, s) for s in pbx.services]
        self.session: Session | None = None
        #: Since when no evaluation has succeeded (None while they do): the stale clock. A
        #: session that logs in but never answers is as lost as one that is refused. It
        #: starts with the first login attempt: 10,000 PBXs queue for the login gate.
        self.lost_since: float | None = None
        self.lost_reason = "no result yet since start-up"
        self.attempted = False  # whether a login was tried yet (they queue at start-up)
        self.holding = False  # whether it holds a place in the login gate
        #: The failure last logged: the same one again (a PBX refusing connections every
        #: second) goes to the debug log only.
        self.logged_reason: str | None = None
        self.news = True  # whether the last failure was logged as news
        self.backoff = Backoff()
        self.dirty: set[str] = set()  # plugins to evaluate at once
        #: What each in-loop service asked for in its last evaluation (reply key -> the
        #: plugin's deadline): fetched at the start of the next round, all at once.
        self.usual: dict[tuple[str, str], dict[tuple[str, ...], float]] = {}
        #: Each in-loop service's last replies (see inloop.comparable) and its result from
        #: them: the same replies again give the same result, with no evaluation (the four
        #: in-loop plugins' results are functions of their options and replies). A new
        #: session, or new options (a reload), start it over.
        self.memo: dict[tuple[str, str], tuple[dict[tuple[str, ...], Any], Outcome]] = {}
        #: Until the session's first evaluation is done. Asterisk sends FullyBooted at every
        #: login: it tells nothing the first evaluation, asked after it, does not see.
        self.fresh = True
        self.wake = asyncio.Event()
        #: Set when the stale clock must look again (the session was lost, the settings
        #: changed): it sleeps until the next stale or heartbeat time otherwise.
        self.clock = asyncio.Event()
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # -- control ------------------------------------------------------------------------
    def start(self) -> None:
        self.task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        """Log off and end; a login still under way is abandoned after a few seconds."""
        self.stopping.set()
        self.wake.set()
        if self.task is None:
            return
        done, _ = await asyncio.wait({self.task}, timeout=STOP_GRACE)
        if not done:
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def update(self, pbx: PbxConfig, settings: WatchConfig, publisher: Publisher) -> None:
        """New services or settings, same session (the connection did not change)."""
        old = {s.key for s in self.services}
        self.services = [prepare(pbx, s) for s in pbx.services]
        for gone in old - {s.key for s in self.services}:
            log.info("%s: no longer watching service %s", pbx.name, gone[1])
        self.pbx, self.settings, self.publisher = pbx, settings, publisher
        self.memo.clear()  # maybe other options
        self.dirty |= ALL
        self.wake.set()
        self.clock.set()

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        # This task, and all it starts, logs about this PBX (asterisk_ami's lines too).
        PBX.set(self.pbx.name)
        stale_task = asyncio.ensure_future(self._stale_loop())
        try:
            while not self.stopping.is_set():
                session, failure = await self._login()
                if session is None:
                    delay = self.backoff.after(failure)
                    level = logging.INFO if self.news else logging.DEBUG
                    log.log(level, "%s: next attempt in %g s", self.pbx.name, delay)
                    await self._sleep(delay)
                    continue
                self.session = session
                try:
                    await self._serve(session)
                finally:
                    self._leave_gate()  # the first evaluation failed: the place goes back
                    self.session = None
                    await self._close(session)
                if not self.stopping.is_set():
                    await self._sleep(self.backoff.after(Failure.LOST))
        finally:
            stale_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stale_task

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), max(seconds, 0))

    async def _login(self) -> tuple[Session | None, Failure]:
        self.fresh = True
        self.memo.clear()  # another greeting, maybe another Asterisk
        session = Session(self.target, events=self.pbx.events, on_event=self._on_event)
        # No login storm, at start-up or after a network cut: the place is kept until the
        # session's first evaluation is done (see schedule.LOGIN_CONCURRENCY).
        await self.gate.enter()
        self.holding = True
        if not self.attempted:  # the stale clock starts now, not in the gate's queue
            self.attempted = True
            self.lost_since = time.monotonic()
            self.clock.set()
        try:
            await asyncio.wait_for(self._connect(session), LOGIN_TIMEOUT)
        except asyncio.TimeoutError as exc:
            self._lost(f"no answer within {LOGIN_TIMEOUT:g}s ({session.phase})")
            failure = _failure(exc, session)
        except AuthenticationFailed as exc:
            self._lost(str(exc), logging.ERROR)
            level = logging.ERROR if self.news else logging.DEBUG
            log.log(
                level, "%s: will not log in again for %.0f s (fail2ban)", self.pbx.name, AUTH_RETRY
            )
            failure = Failure.AUTH
        except AmiError as exc:
            self._lost(str(exc))
            failure = _failure(exc, session)
        except BaseException:  # cancelled (a stop): the place goes back
            self._leave_gate()
            raise
        else:
            self.logged_reason = None  # the next failure is news
            log.info(
                "%s: logged in to %s (%s)", self.pbx.name, self.target.address, session.greeting
            )
            return session, Failure.LOST
        self._leave_gate()
        session.close()
        return None, failure

    def _leave_gate(self) -> None:
        if self.holding:
            self.holding = False
            self.gate.leave()

    async def _connect(self, session: Session) -> None:
        await session.connect()
        await session.login()

    def _lost(self, reason: str, level: int = logging.WARNING, prefix: str = "") -> None:
        self.lost_reason = reason
        if self.lost_since is None:
            self.lost_since = time.monotonic()
            self.clock.set()  # the stale time is now due, not the next heartbeat
        self.news = reason != self.logged_reason
        if not self.news:  # the same failure again: said already
            level = logging.DEBUG
        self.logged_reason = reason
        log.log(level, "%s: %s%s", self.pbx.name, prefix, reason)

    async def _close(self, session: Session) -> None:
        with contextlib.suppress(Exception):
            await session.logoff(grace=LOGOFF_GRACE)
        session.close()

    def _on_event(self, event: Any) -> None:
        name = str(event.get("Event", ""))
        affected = TRIGGERS.get(name.lower())
        if affected is None or (self.fresh and name.lower() == "fullybooted"):
            return
        # At info: only the alarm events that re-evaluate a service get here, a few a
        # second over 10,000 PBXs (1 % flapping); the rest are dropped above, unlogged.
        details = ", ".join(f"{k}: {v}" for k, v in event.items() if k not in ("Event", "content"))
        log.info("%s: event %s (%s)", self.pbx.name, name, details)
        self.dirty |= affected
        self.wake.set()

    async def _serve(self, session: Session) -> None:
        """Evaluate at once, then on events and at the PBX's place in every interval (see
        :mod:`isp_plugins.watch.schedule`), until the session is lost."""
        lost = asyncio.ensure_future(session.wait_lost())
        stop = asyncio.ensure_future(self.stopping.wait())
        self.dirty |= ALL
        try:
            while True:
                due, self.dirty = self.dirty, set()
                self.wake.clear()
                evaluated = await self._evaluate(session, due)
                self._leave_gate()  # the session's first evaluation is done
                if not evaluated:
                    break
                self.fresh = False
                wake = asyncio.ensure_future(self.wake.wait())
                interval = self.settings.interval
                now = time.monotonic()
                timeout = next_slot(now, offset(self.pbx.name, interval), interval) - now
                done, _ = await asyncio.wait(
                    {wake, lost, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                wake.cancel()
                if lost in done:
                    self._lost(str(lost.result()), prefix="session lost: ")
                    break
                if stop in done:
                    break
                if not done:  # the interval: a D-channel dropping at layer 2 raises no event
                    self.dirty |= ALL
        finally:
            for task in (lost, stop):
                task.cancel()

    async def _evaluate(self, session: Session, plugins: set[str]) -> bool:
        """Evaluate the services of ``plugins``; False when the session died meanwhile."""
        loop = asyncio.get_running_loop()
        broken: list[AmiError] = []
        replies: Replies = {}  # this round's: one 'pri show spans' for PRI and BRI services
        acquire = self._acquirer(loop, session, broken, replies)
        # What the in-loop services asked for last time, asked at once (one pass each).
        usual: dict[tuple[str, ...], float] = {}
        for service in self.services:
            if service.config.plugin in plugins and service.config.plugin in IN_LOOP:
                command = (service.config.plugin, service.config.args)
                # A session's first round: what the same command line asked another PBX.
                usual.update(self.usual.get(service.key) or SEEN.get(command, {}))
        errors = await asyncio.gather(
            *(
                self._fetch(session, replies, key, functools.partial(ask_for, session, key), limit)
                for key, limit in usual.items()
            )
        )
        broken.extend(error for error in errors if error is not None)
        for service in list(self.services):
            if service.config.plugin not in plugins:
                continue
            if broken:
                outcome = None
            elif service.config.plugin in IN_LOOP:
                outcome = await self._evaluate_in_loop(service, session, replies, broken)
            else:
                outcome = None
            if outcome is None and not broken:
                outcome = await self._in_thread(service.evaluate, self.target, acquire)
            if broken or session.lost or outcome is None:
                reason = broken[0] if broken else "the server closed the connection"
                self._lost(str(reason), prefix="session lost: ")
                return False
            self.lost_since = None
            self.backoff.reset()  # a healthy session
            self._publish(service, outcome)
        return True

    async def _evaluate_in_loop(
        self, service: Service, session: Session, replies: Replies, broken: list[AmiError]
    ) -> Outcome | None:
        """Evaluate on the loop (see :mod:`isp_plugins.watch.inloop`), fetching each reply
        the plugin asks for and evaluating again; None when it must go to a worker thread,
        or the session broke (``broken`` says so)."""
        view = CachedSession(session, replies)
        last = self.memo.get(service.key)
        if last is not None and same(last[0], replies):
            return last[1]  # the same replies as last time: the same result, not evaluated

        def acquire(work: Callable[[Session], Awaitable[T]], deadline: float) -> T:
            return drive(work, view, deadline)

        for _ in range(MAX_PASSES):
            view.asked = {}
            try:
                outcome = service.evaluate(self.target, acquire)
            except Foreign:
                self.usual.pop(service.key, None)
                return None
            except Missing as missing:
                error = await self._fetch(
                    session, replies, missing.key, missing.ask, missing.deadline
                )
                if error is not None:
                    broken.append(error)
                    return None
            else:
                self.usual[service.key] = view.asked
                SEEN[(service.config.plugin, service.config.args)] = view.asked
                kept = {key: comparable(replies[key]) for key in view.asked}
                self.memo[service.key] = (kept, outcome)
                return outcome
        return None  # a plugin that keeps asking: the worker thread's path has no limit

    @staticmethod
    async def _fetch(
        session: Session,
        replies: Replies,
        key: tuple[str, ...],
        ask: Callable[[], Awaitable[Any]],
        deadline: float,
    ) -> AmiError | None:
        """Fetch one reply into the round's; the error when the session is hung or closed
        (reconnect, do not report it). Any other failure is the plugin's to report."""
        if key in replies:
            return None
        try:
            replies[key] = await asyncio.wait_for(ask(), deadline)
        except asyncio.TimeoutError:
            return AmiTimeout(deadline, session.phase)
        except (ConnectionLost, AmiTimeout) as exc:
            return exc
        except AmiError as exc:
            if session.lost:
                return ConnectionLost("the server closed the connection")
            replies[key] = exc  # refused, not understood: the plugin says so
        return None

    def _publish(self, service: Service, outcome: Outcome, now: float | None = None) -> None:
        """Hand to the outputs, on the loop: publishing only queues (each output delivers from
        its own queue and threads), so a slow Icinga API never stalls the sessions."""
        self.publisher.publish(service, outcome, now)

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker thread, in this PBX's context (its log lines, and
        the session work it hands back to the loop, name the PBX)."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(self.executor, context.run, function, *args)

    def _acquirer(
        self,
        loop: asyncio.AbstractEventLoop,
        session: Session,
        broken: list[AmiError],
        replies: Replies,
    ) -> Callable[[Callable[[Session], Awaitable[T]], float], T]:
        """What the plugin's Resource calls instead of opening its own session: the work
        runs on the watcher's loop, over the live session (the round's replies shared),
        within the plugin's deadline."""
        view = cast(Session, RoundSession(session, replies))

        def acquire(work: Callable[[Session], Awaitable[T]], deadline: float) -> T:
            future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(work(view), deadline), loop)
            try:
                return future.result(deadline + 1)
            except (asyncio.TimeoutError, concurrent.futures.TimeoutError):
                future.cancel()
                error: AmiError = AmiTimeout(deadline, session.phase)
            except (ConnectionLost, AmiTimeout) as exc:
                error = exc
            except AmiError:
                if session.lost:
                    broken.append(ConnectionLost("the server closed the connection"))
                raise
            broken.append(error)  # a hung or closed session: reconnect, do not report it
            raise error

        return acquire

    async def _stale_loop(self) -> None:
        """Services go UNKNOWN after ``stale`` seconds without a session; heartbeats go on.

        It sleeps until the next of these is due, not a second at a time: 10,000 PBXs woke
        the loop 10,000 times a second for nothing.
        """
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.clock.wait(), self._clock_due())
            self.clock.clear()
            now = time.time()
            lost_since = self.lost_since
            if lost_since is not None and time.monotonic() - lost_since >= self.settings.stale:
                for service in self.services:
                    text = f"AMI session lost: {self.lost_reason}"
                    self._publish(service, service.unknown(text), now)
            else:
                for service in self.services:  # heartbeat of the last result
                    previous = self.publisher.last.get(service.key)
                    if previous is not None and self.publisher.due(service, previous[0], now):
                        self._publish(service, previous[0], now)

    def _clock_due(self) -> float:
        """Seconds until the stale clock has something to do: the session's stale time, or
        the earliest heartbeat; a second at least (a failing output is retried that often),
        and every second while stale (the UNKNOWN text follows the latest failure)."""
        if self.lost_since is not None:
            stale_in = self.lost_since + self.settings.stale - time.monotonic()
            if stale_in <= 0:
                return 1.0
        else:
            stale_in = math.inf
        now = time.time()
        heartbeat = self.settings.heartbeat
        beats = (self.publisher.last.get(s.key) for s in self.services)
        beat_in = min((b[1] + heartbeat - now for b in beats if b is not None), default=heartbeat)
        return max(1.0, min(stale_in, beat_in))


class Supervisor:
    """Every PBX's watcher; reloads the configuration in place."""

    def __init__(
        self,
        settings: WatchConfig,
        outputs: Callable[[WatchConfig], list[Output]],
        open_files: int | None = None,
    ) -> None:
        self.make_outputs = outputs
        self.settings = settings
        #: The open-files limit (None: not limited): how many PBXs get a session.
        self.open_files = open_files
        self.gate = LoginGate()
        self.publisher = Publisher(outputs(settings), settings.heartbeat)
        # An evaluation holds a thread while it waits for its PBX: enough for every PBX
        # to be evaluated at once, and room for the ones a reload may add.
        workers = min(64, max(4, 2 * len(settings.pbxs) + 2))
        self.executor = concurrent.futures.ThreadPoolExecutor(workers, "asterisk-watch")
        self.watchers: dict[str, PbxWatcher] = {}

    def _fitting(self, settings: WatchConfig) -> tuple[PbxConfig, ...]:
        """The PBXs the open-files limit leaves room for, in the configuration's order; the
        limit logged, at ERROR when some are left out (see :mod:`isp_plugins.watch.limits`)."""
        if self.open_files is None:
            return settings.pbxs
        error = capacity_error(self.open_files, len(settings.pbxs))
        if error is not None:
            log.error("%s", error)
        return settings.pbxs[: pbx_capacity(self.open_files)]

    def start(self) -> None:
        for pbx in self._fitting(self.settings):
            self._start(pbx)
        log.info(
            "watching %d PBX(s), %d service(s); interval %gs, stale %gs, heartbeat %gs%s",
            len(self.watchers),
            sum(len(w.services) for w in self.watchers.values()),
            self.settings.interval,
            self.settings.stale,
            self.settings.heartbeat,
            ""
            if self.open_files is None
            else f"; open files {self.open_files}: room for {pbx_capacity(self.open_files)} PBXs",
        )

    def _start(self, pbx: PbxConfig) -> None:
        watcher = PbxWatcher(pbx, self.settings, self.publisher, self.executor, self.gate)
        self.watchers[pbx.name] = watcher
        watcher.start()

    async def reload(self, settings: WatchConfig) -> None:
        """Apply a new configuration; PBXs whose connection did not change keep their session."""
        # Prepare every service first: a bad option leaves the running configuration alone.
        for checked in settings.pbxs:
            target_of(checked)
            for service in checked.services:
                prepare(checked, service)
        last = self.publisher.last
        self.publisher = Publisher(self.make_outputs(settings), settings.heartbeat)
        self.publisher.last = last
        self.settings = settings
        wanted = {p.name: p for p in self._fitting(settings)}
        for name in list(self.watchers):
            watcher = self.watchers[name]
            new = wanted.get(name)
            if new is not None and new.connection() == watcher.pbx.connection():
                watcher.update(new, settings, self.publisher)
                continue
            log.info("%s: %s", name, "connection changed" if new else "removed")
            await watcher.stop()
            del self.watchers[name]
        for name, pbx in wanted.items():
            if name not in self.watchers:
                self._start(pbx)
        log.info(
            "configuration reloaded: %d PBX(s), %d service(s)", len(wanted), settings.service_count
        )

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.watchers.values()))
        # What the outputs still hold gets STOP_GRACE seconds to go, retried no more.
        await asyncio.get_running_loop().run_in_executor(None, self.publisher.close, STOP_GRACE)
        self.executor.shutdown(wait=False)
        log.info("stopped")
