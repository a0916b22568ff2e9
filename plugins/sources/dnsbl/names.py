"""What is checked (addresses, CIDR blocks, domains) and its query names under a zone (RFC 5782)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
#: The largest blocks -a takes: a /24 is 256 addresses (x 60 lists: 15,360 queries).
MAX_PREFIX = {4: 24, 6: 120}
#: A host name label (letters, digits, hyphens; underscores for the odd SPF-style name).
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


class BadTarget(ValueError):
    """An address, block or domain that cannot be checked; the message says why, in one line."""


@dataclass(frozen=True)
class Target:
    """One thing to look up: an address (kind ipv4 or ipv6) or a domain (kind domain)."""

    text: str  # as shown: 203.0.113.25, 2001:db8::25, relay.example.net
    kind: str  # ipv4, ipv6 or domain
    key: str  # the query name's first part: 25.113.0.203, 5.2.0.0...8.b.d.0.1.0.0.2, the domain

    def query(self, zone: str) -> str:
        return f"{self.key}.{zone}"


def reverse_ipv4(address: ipaddress.IPv4Address) -> str:
    """``203.0.113.25`` -> ``25.113.0.203``: the octets reversed."""
    return ".".join(reversed(str(address).split(".")))


def reverse_ipv6(address: ipaddress.IPv6Address) -> str:
    """``2001:db8::1`` -> 32 nibbles, reversed and dot-separated (as under ip6.arpa)."""
    # packed, not exploded: Python 3.13 writes an IPv4-mapped address's tail dotted
    return ".".join(reversed(address.packed.hex()))


def address_target(address: IPAddress) -> Target:
    if isinstance(address, ipaddress.IPv4Address):
        return Target(str(address), "ipv4", reverse_ipv4(address))
    return Target(str(address), "ipv6", reverse_ipv6(address))


def parse_address(text: str) -> list[Target]:
    """An address, or every address of a block up to /24 (IPv4) or /120 (IPv6)."""
    value = text.strip()
    try:
        if "/" in value:
            network = ipaddress.ip_network(value, strict=False)
        else:
            return [address_target(ipaddress.ip_address(value))]
    except ValueError:
        raise BadTarget(f"{text!r} is not an IPv4 or IPv6 address or block") from None
    limit = MAX_PREFIX[network.version]
    if network.prefixlen < limit:
        raise BadTarget(
            f"{text}: blocks up to /{limit} only ({network.num_addresses} addresses is too many)"
        )
    return [address_target(address) for address in network]


def parse_domain(text: str) -> Target:
    """A domain name as listed on domain lists: lower case, no trailing dot."""
    value = text.strip().rstrip(".").lower()
    labels = value.split(".")
    if len(value) > 200 or len(labels) < 2 or not all(_LABEL.fullmatch(p) for p in labels):
        raise BadTarget(f"{text!r} is not a domain name")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return Target(value, "domain", value)
    raise BadTarget(f"{text!r} is an address: give it with --address")


def parse_address_file(content: str, where: str) -> list[Target]:
    """One address or block per line; '#' starts a comment."""
    found = []
    for number, line in enumerate(content.splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            found.extend(parse_address(text))
        except BadTarget as exc:
            raise BadTarget(f"{where} line {number}: {exc}") from None
    return found


def parse_zone(text: str) -> str:
    """A zone name (zen.spamhaus.org): lower case, no trailing dot."""
    value = text.strip().rstrip(".").lower()
    labels = value.split(".")
    if len(value) > 200 or len(labels) < 2 or not all(_LABEL.fullmatch(p) for p in labels):
        raise BadTarget(f"{text!r} is not a zone name")
    return value
