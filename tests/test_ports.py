"""The labs' free ports: different within a call and across calls, and really free."""

from __future__ import annotations

import socket

from tests.ports import HIGH, LOW, free_port, free_ports


def test_ports_are_never_handed_out_twice_and_are_free() -> None:
    ports = free_ports(20) + [free_port() for _ in range(20)]
    assert len(set(ports)) == 40
    assert all(LOW <= port <= HIGH for port in ports)
    for port in ports[:3]:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as probe:
                probe.bind(("127.0.0.1", port))
