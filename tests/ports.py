"""Free loopback ports for the daemons the tests start: one helper for every lab."""

from __future__ import annotations

import os
import random
import socket

#: Below Linux's ephemeral range (32768-60999): a daemon binds its port seconds after it was
#: found free, and a port the kernel hands out to outgoing connections (other tests', the
#: daemons' own) could be taken by then.
LOW, HIGH = 20000, 32000
#: Its own generator: hypothesis seeds the global one, which would give every test process
#: the same ports.
_RANDOM = random.Random(os.urandom(16))
#: Every port this process handed out: never twice (a probe is closed once the port is found
#: free, so "free" alone would not keep two daemons of one test apart).
_HANDED: set[int] = set()


def _bindable(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` different ports free on 127.0.0.1 for both TCP and UDP (AMI is TCP, SIP and
    IAX2 UDP, DNS both), none handed out before by this process."""
    ports: list[int] = []
    for _ in range(100 * count):
        if len(ports) == count:
            return ports
        port = _RANDOM.randint(LOW, HIGH)
        if port in _HANDED or not _bindable(port, socket.SOCK_STREAM):
            continue
        if _bindable(port, socket.SOCK_DGRAM):
            _HANDED.add(port)
            ports.append(port)
    if len(ports) == count:
        return ports
    raise AssertionError(f"no {count} free ports in {LOW}-{HIGH}")


def free_port() -> int:
    """One port as :func:`free_ports` finds them."""
    return free_ports(1)[0]
