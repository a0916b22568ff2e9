"""What a list's answer means: listed (documented codes only), not listed, or the list's error."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from isp_plugins.sources.dnsbl.lists import BlockList

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
#: The error range Spamhaus introduced, which other lists copied: never a listing.
_ERROR_RANGE = ipaddress.ip_network("127.255.255.0/24")


@dataclass(frozen=True)
class Listing:
    code: str  # 127.0.0.4
    meaning: str  # XBL: exploited host
    severity: str  # critical, warning, info


@dataclass(frozen=True)
class Verdict:
    """Listed (listings), not listed (neither), or the list's error (error, in words)."""

    listings: tuple[Listing, ...] = ()
    error: str = ""


NOT_LISTED = Verdict()


def _error(blocklist: BlockList, code: str) -> str:
    """Why ``code`` is not a listing, or '' when it may be one."""
    try:
        address = ipaddress.ip_address(code)
    except ValueError:
        return f"answers {code!r}, not an address"
    if code in blocklist.errors:
        return blocklist.errors[code]
    if address.version != 4 or address not in _LOOPBACK:
        # a resolver that rewrites NXDOMAIN, or a dead list's domain in other hands
        return f"answers {code}, outside 127.0.0.0/8: not a blocklist answer"
    if code == "127.0.0.1":
        return "answers 127.0.0.1, which is never a listing (RFC 5782): a refused query?"
    if address in _ERROR_RANGE:
        return f"answers {code}, an error code, not a listing"
    return ""


def classify(blocklist: BlockList, codes: Sequence[str]) -> Verdict:
    """The A records ``codes`` that ``blocklist`` answered for an address or domain.

    Only answers the list documents count as listings (any 127.0.0.0/8 answer for a list the
    user added, which documents none here); an error answer makes the whole answer an error.
    """
    listings = []
    for code in codes:
        error = _error(blocklist, code)
        if error:
            return Verdict(error=error)
        if not blocklist.codes:
            listings.append(Listing(code, "listed", blocklist.severity))
            continue
        known = blocklist.codes.get(code)
        if known is None:
            return Verdict(error=f"answers {code}, which it does not document as a listing")
        listings.append(Listing(code, known.meaning, known.severity or blocklist.severity))
    return Verdict(tuple(listings)) if listings else NOT_LISTED


def lists_test_point(blocklist: BlockList, codes: Sequence[str]) -> tuple[bool, str]:
    """(listed, error) for a test point: any 127.0.0.0/8 answer but the errors lists it (a list
    may answer its test points with a code it does not otherwise use)."""
    for code in codes:
        error = _error(blocklist, code)
        if error:
            return False, error
    return bool(codes), ""
