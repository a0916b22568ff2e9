"""Publishes each service's result to every output when it changes, and as a heartbeat."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from isp_plugins.watch.outputs import Output, OutputError, PassiveResult
from isp_plugins.watch.services import Outcome, Service

log = logging.getLogger("asterisk_watch")


class Publisher:
    """Sends results to every output when a service's state or text changes, and again
    every ``heartbeat`` seconds."""

    def __init__(self, outputs: Sequence[Output], heartbeat: float) -> None:
        self.outputs = list(outputs)
        self.heartbeat = heartbeat
        self.last: dict[tuple[str, str], tuple[Outcome, float]] = {}

    def due(self, service: Service, outcome: Outcome, now: float) -> bool:
        previous = self.last.get(service.key)
        return previous is None or previous[0] != outcome or now - previous[1] >= self.heartbeat

    def publish(self, service: Service, outcome: Outcome, now: float | None = None) -> bool:
        """Send if due; True when sent (to at least one output)."""
        now = time.time() if now is None else now
        if not self.due(service, outcome, now):
            return False
        previous = self.last.get(service.key)
        if previous is None or previous[0] != outcome:
            log.info("%s/%s: %s", service.host_name, service.name, outcome.text.split("\n")[0])
        result = PassiveResult(service.host_name, service.name, outcome.code, outcome.text, now)
        sent = False
        for output in self.outputs:
            try:
                output.send(result)
                sent = True
            except OutputError as exc:
                log.error("cannot report %s/%s: %s", service.host_name, service.name, exc)
        if sent:
            self.last[service.key] = (outcome, now)
        return sent
