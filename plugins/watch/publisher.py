"""Publishes each service's result when it changes and as a heartbeat; every output delivers
from its own coalescing queue, so no evaluation ever waits for Nagios or Icinga."""

from __future__ import annotations

import atexit
import collections
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Callable

from isp_plugins.watch.outputs import Output, OutputError, PassiveResult, ResultRejected
from isp_plugins.watch.services import Outcome, Service

log = logging.getLogger("asterisk_watch")

Key = tuple[str, str]

#: After an output fails, its senders try again after this many seconds, doubling up to
#: RETRY_MAX; a delivery starts the schedule over.
RETRY_FIRST = 1.0
RETRY_MAX = 15.0
#: A sender with nothing to send for this long ends (the next result starts one again).
IDLE_EXIT = 30.0
#: The one warning that an output is slower than the PBXs: when the oldest waiting result has
#: waited this long (rates over the last RATE_WINDOW seconds); "caught up" below a quarter.
LAG_WARN = 30.0
RATE_WINDOW = 30.0
#: While an output keeps failing with the same error, the error is logged again this often.
ERROR_REPEAT = 300.0
#: At exit, what still waits gets this long to go, all outputs together.
EXIT_FLUSH = 2.0


def _key(result: PassiveResult) -> Key:
    return (result.host, result.service)


class Delivery:
    """One output's queue: at most one waiting result per service (a newer one replaces it
    in place), drained by up to ``output.senders`` threads, each holding one batch.

    Threads, not asyncio tasks: the outputs are blocking system calls (a FIFO, http.client
    over ssl), and their own threads keep a slow or hung output off the evaluations' pool.
    A failed batch stays in its sender's hands and is tried again after a back-off, the
    newest result of each of its services swapped in; a result the output refuses by itself
    (no such service) is handed to ``rejected``.
    """

    def __init__(self, output: Output, rejected: Callable[[PassiveResult], None]) -> None:
        self.output = output
        self._rejected = rejected
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # a result to take, or the end
        self._settled = threading.Condition(self._lock)  # nothing waits or is in flight
        self._interrupt = threading.Event()  # cuts a back-off short: the end
        #: Waiting results, by service, in the order their services began to wait (monotonic).
        self.pending: collections.OrderedDict[Key, tuple[PassiveResult, float]] = (
            collections.OrderedDict()
        )
        self.inflight: set[Key] = set()  # in a sender's hands: no other sender takes them
        self.senders = 0
        self._idle = 0
        self._ending = False  # replaced or closed: deliver what waits, retry nothing
        # Counters (tests, benchmarks, the backlog warning).
        self.offered = 0
        self.delivered = 0
        self.sends = 0
        # Logging: one line per failure episode and per refused service, not per result.
        self._failing_since: float | None = None
        self._error: tuple[str, float] | None = None  # the error logged, and when
        self._refused: dict[Key, str] = {}
        self._samples: collections.deque[tuple[float, int, int]] = collections.deque()
        self._checked = 0.0
        self._lagging = False

    @property
    def waiting(self) -> int:
        """Results not delivered yet: waiting, or in a sender's hands."""
        with self._lock:
            return len(self.pending) + len(self.inflight)

    def put(self, result: PassiveResult) -> None:
        """Queue ``result``, replacing its service's unsent one; never waits."""
        key = _key(result)
        now = time.monotonic()
        with self._lock:
            self.offered += 1
            waiting = self.pending.get(key)
            self.pending[key] = (result, now if waiting is None else waiting[1])
            if self._idle:
                self._work.notify()
            elif self.senders < self.output.senders:
                self.senders += 1
                threading.Thread(
                    target=self._run, name=f"deliver to {self.output.name}", daemon=True
                ).start()
            self._watch_backlog(now)

    def wait(self, timeout: float) -> bool:
        """Wait until nothing waits or is in flight; False after ``timeout`` seconds."""
        with self._lock:
            return self._settled.wait_for(lambda: not self.pending and not self.inflight, timeout)

    def finish(self) -> None:
        """What waits still goes, once: a failure drops the rest; then the senders end."""
        with self._lock:
            self._ending = True
            self._work.notify_all()
        self._interrupt.set()

    def close(self, timeout: float) -> bool:
        """Finish, and wait up to ``timeout`` seconds for it; False if results were left."""
        self.finish()
        with self._lock:
            self._settled.wait_for(lambda: self.senders == 0, timeout)
            left = len(self.pending) + len(self.inflight)
        if left:
            log.warning("%s: %d result(s) not delivered", self.output.name, left)
        return left == 0

    # -- the sender threads -------------------------------------------------------------
    def _run(self) -> None:
        hand: list[PassiveResult] = []
        backlog = False  # the last send left results in hand: no spacing, send on
        last_send = 0.0
        retry = RETRY_FIRST
        try:
            while True:
                with self._lock:
                    hand = self._fill(hand)
                    if not hand:
                        if self._ending:
                            return
                        self._idle += 1
                        woken = self._work.wait(IDLE_EXIT)
                        self._idle -= 1
                        if not woken and not self.pending:
                            return
                        continue
                    full = backlog or len(hand) >= self.output.batch
                pause = last_send + self.output.spacing - time.monotonic()
                if not full and pause > 0:
                    time.sleep(pause)  # more results may join the batch meanwhile
                    continue
                try:
                    count = self.output.send(hand)
                except ResultRejected as exc:
                    self._refuse(hand.pop(0), str(exc))
                    continue
                except OutputError as exc:
                    self._fail(hand, str(exc))
                    if not self._ending:
                        self._interrupt.wait(retry)
                        retry = min(retry * 2, RETRY_MAX)
                    if self._ending:  # replaced or closing: no retries, drop what is left
                        self._drop(hand, str(exc))
                        hand = []
                    continue
                last_send, retry = time.monotonic(), RETRY_FIRST
                sent, hand = hand[:count], hand[count:]
                backlog = bool(hand)
                self._done(sent)
        except Exception as exc:  # a bug of ours: say so, and never leave keys in flight
            log.error("%s: sender stopped: internal error (%r)", self.output.name, exc)
            self._drop(hand, "internal error", everything=False)
        finally:
            with self._lock:
                self.inflight.difference_update(_key(r) for r in hand)
                self.senders -= 1
                last = self.senders == 0
                self._settled.notify_all()
            if last:
                self.output.close()

    def _fill(self, hand: list[PassiveResult]) -> list[PassiveResult]:
        """(Under the lock.) The hand with each service's newest result, topped up to a batch
        with services no other sender holds, oldest waiting first."""
        hand = [self.pending.pop(_key(r))[0] if _key(r) in self.pending else r for r in hand]
        room = self.output.batch - len(hand)
        if room > 0 and self.pending:
            taken: list[Key] = []
            for key in self.pending:
                if key not in self.inflight:
                    taken.append(key)
                    if len(taken) == room:
                        break
            for key in taken:
                hand.append(self.pending.pop(key)[0])
                self.inflight.add(key)
        return hand

    def _done(self, sent: list[PassiveResult]) -> None:
        now = time.monotonic()
        with self._lock:
            self.sends += 1
            self.delivered += len(sent)
            for result in sent:
                self.inflight.discard(_key(result))
                self._refused.pop(_key(result), None)
            self._answered(now)
            self._watch_backlog(now)
            if not self.pending and not self.inflight:
                self._settled.notify_all()

    def _answered(self, now: float) -> None:
        """(Under the lock.) The output answers: a failure episode is over."""
        if self._failing_since is not None:
            log.info(
                "%s answers again after %.0f s; %d result(s) waiting",
                self.output.name,
                now - self._failing_since,
                len(self.pending) + len(self.inflight),
            )
            self._failing_since = self._error = None

    def _fail(self, hand: list[PassiveResult], error: str) -> None:
        """The output failed: log the first result of the episode, or a new error; the same
        error again goes to the debug log, and again at ERROR every ERROR_REPEAT seconds."""
        now = time.monotonic()
        with self._lock:
            if self._failing_since is None:
                self._failing_since = now
            first = hand[0]
            if self._error is None or self._error[0] != error:
                self._error = (error, now)
                log.error("cannot report %s/%s: %s", first.host, first.service, error)
            elif now - self._error[1] >= ERROR_REPEAT:
                self._error = (error, now)
                log.error(
                    "%s still failing after %.0f s, %d result(s) waiting: %s",
                    self.output.name,
                    now - self._failing_since,
                    len(self.pending) + len(self.inflight),
                    error,
                )
            else:
                log.debug("cannot report %s/%s: %s", first.host, first.service, error)

    def _refuse(self, result: PassiveResult, error: str) -> None:
        """The output refused this one result: logged once per service and error; the
        publisher forgets it (before the key leaves the hand: flush() sees it forgotten),
        so the next evaluation publishes it again."""
        key = _key(result)
        self._rejected(result)
        with self._lock:
            self._answered(time.monotonic())
            news = self._refused.get(key) != error
            self._refused[key] = error
        level = logging.ERROR if news else logging.DEBUG
        log.log(level, "cannot report %s/%s: %s", result.host, result.service, error)
        with self._lock:
            self.inflight.discard(key)
            if not self.pending and not self.inflight:
                self._settled.notify_all()

    def _drop(self, hand: list[PassiveResult], error: str, everything: bool = True) -> None:
        """The hand (and with ``everything``, all that waits) is not delivered."""
        with self._lock:
            dropped = len(hand) + (len(self.pending) if everything else 0)
            self.inflight.difference_update(_key(r) for r in hand)
            if everything:
                self.pending.clear()
            self._settled.notify_all()
        if dropped:
            # The output's error names it (the command file's path, the API's URL).
            log.warning("%d result(s) not delivered: %s", dropped, error)

    def _watch_backlog(self, now: float) -> None:
        """(Under the lock.) One WARNING when the output falls behind the PBXs (the oldest
        waiting result older than LAG_WARN), one INFO when it has caught up again."""
        oldest = next(iter(self.pending.values()), None)
        lag = 0.0 if oldest is None else now - oldest[1]
        if self._lagging and lag < LAG_WARN / 4:
            self._lagging = False
            log.info("%s: caught up", self.output.name)
        if now - self._checked < 1:  # the rates: one sample a second at most
            return
        self._checked = now
        samples = self._samples
        samples.append((now, self.offered, self.delivered))
        while now - samples[0][0] > RATE_WINDOW:
            samples.popleft()
        if not self._lagging and lag >= LAG_WARN and self._failing_since is None:
            self._lagging = True
            since, offered, delivered = samples[0]
            span = max(now - since, 1.0)
            log.warning(
                "%s is slower than the PBXs: %d result(s) waiting, the oldest for %.0f s; "
                "%.0f/s delivered, %.0f/s offered over %.0f s (each service's newest result "
                "waits, older ones are dropped)",
                self.output.name,
                len(self.pending) + len(self.inflight),
                lag,
                (self.delivered - delivered) / span,
                (self.offered - offered) / span,
                span,
            )


class Publisher:
    """Queues results for every output when a service's state or text changes, and again
    every ``heartbeat`` seconds."""

    def __init__(self, outputs: Sequence[Output], heartbeat: float) -> None:
        self.outputs = list(outputs)
        self.heartbeat = heartbeat
        #: Each service's last published outcome and when (time.time()).
        self.last: dict[Key, tuple[Outcome, float]] = {}
        self._lock = threading.Lock()
        me = weakref.ref(self)  # the senders must not keep a replaced publisher alive

        def rejected(result: PassiveResult) -> None:
            publisher = me()
            if publisher is not None:
                publisher.forget(result)

        self.deliveries = [Delivery(output, rejected) for output in self.outputs]
        _LIVE.update(self.deliveries)
        # Replaced by a reload (or gone at exit): what waits still goes, nothing is retried,
        # and the senders end.
        weakref.finalize(self, _finish, list(self.deliveries))

    def due(self, service: Service, outcome: Outcome, now: float) -> bool:
        previous = self.last.get(service.key)
        return previous is None or previous[0] != outcome or now - previous[1] >= self.heartbeat

    def publish(self, service: Service, outcome: Outcome, now: float | None = None) -> bool:
        """Queue for every output if due; True when queued. Never waits for an output: a
        result an output fails to take is tried again there (back-off, newest result of the
        service first), one it refuses is published again by the next evaluation."""
        now = time.time() if now is None else now
        with self._lock:
            if not self.due(service, outcome, now):
                return False
            previous = self.last.get(service.key)
            self.last[service.key] = (outcome, now)
        if previous is None or previous[0] != outcome:
            log.info("%s/%s: %s", service.host_name, service.name, outcome.text.split("\n")[0])
        result = PassiveResult(service.host_name, service.name, outcome.code, outcome.text, now)
        for delivery in self.deliveries:
            delivery.put(result)
        return True

    def forget(self, result: PassiveResult) -> None:
        """An output refused ``result``: unless a newer one was published since, its service
        is due again at the next evaluation."""
        with self._lock:
            previous = self.last.get(_key(result))
            if previous is not None and previous[1] == result.timestamp:
                del self.last[_key(result)]

    def flush(self, timeout: float) -> bool:
        """Wait until every output has taken or refused what was published (tests)."""
        deadline = time.monotonic() + timeout
        return all(d.wait(max(0.0, deadline - time.monotonic())) for d in self.deliveries)

    def close(self, timeout: float) -> bool:
        """Deliver what waits within ``timeout`` seconds, retrying nothing; end the senders."""
        return _close_all(self.deliveries, timeout)


def _finish(deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        delivery.finish()


def _close_all(deliveries: list[Delivery], timeout: float) -> bool:
    """Finish every delivery, then wait for each within one shared ``timeout``; False if
    any left results undelivered."""
    _finish(deliveries)
    deadline = time.monotonic() + timeout
    # A list, not a generator inside all(): every delivery gets its wait, not only the
    # ones before the first that failed.
    closed = [d.close(max(0.0, deadline - time.monotonic())) for d in deliveries]
    return all(closed)


#: Every delivery whose senders may still run: at exit they get EXIT_FLUSH seconds.
_LIVE: weakref.WeakSet[Delivery] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    _close_all(list(_LIVE), EXIT_FLUSH)
