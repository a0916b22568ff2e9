"""The built-in blocklists, as data: kinds, documented answers and meanings, severity, test
points, delisting pages. Read from each list's own documentation; README says when."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

SEVERITIES = ("critical", "warning", "info")
KINDS = ("ipv4", "ipv6", "domain")
#: What a listing weighs in the weighted count (perfdata 'listings', -w/-c): one listing on a
#: critical list outweighs three on warning lists.
WEIGHT = {"critical": 10, "warning": 3, "info": 1}
#: The date the built-in set below was last checked against the lists' documentation.
CHECKED = "2026-12-03"

#: RFC 5782 section 5: every list must list these and must not list those.
RFC_TEST_POINTS = {
    "ipv4": ("127.0.0.2", "127.0.0.1"),
    "ipv6": ("::ffff:7f00:2", "::ffff:7f00:1"),
    "domain": ("test", "invalid"),
}

#: Spamhaus's error answers (any of its zones, public mirrors and DQS): never a listing.
SPAMHAUS_ERRORS = {
    "127.255.255.252": "Spamhaus does not know this zone name (a typo in the zone?)",
    "127.255.255.254": "Spamhaus refuses queries from this resolver (a public or shared "
    "resolver): use your own resolver or a DQS key",
    "127.255.255.255": "Spamhaus refuses queries from this resolver: too many queries, "
    "use a DQS key",
}


@dataclass(frozen=True)
class Code:
    """A documented listing answer: what it means, and its severity when not the list's."""

    meaning: str
    severity: str | None = None


@dataclass(frozen=True)
class BlockList:
    """One DNS blocklist and how to read its answers."""

    zone: str  # as shown and as given with --zone: zen.spamhaus.org
    name: str  # Spamhaus ZEN
    kinds: frozenset[str]  # what it lists: ipv4, ipv6, domain
    severity: str  # critical, warning or info: the state its listings cause
    #: Documented listing answers. Empty: any 127.0.0.0/8 answer but the errors is a listing.
    codes: Mapping[str, Code] = field(default_factory=dict)
    #: Documented error answers -> the reason in words (never a listing).
    errors: Mapping[str, str] = field(default_factory=dict)
    delist: str = ""  # where to ask for delisting
    listed_test: str = ""  # a test point the list must list (127.0.0.2, dbltest.com)
    unlisted_test: str = ""  # a test point it must never list (127.0.0.1, invalid)
    dqs: str = ""  # its Spamhaus DQS zone: zen -> <key>.zen.dq.spamhaus.net
    builtin: bool = True
    query_zone: str = ""  # where queries go when not the zone itself (DQS)

    @property
    def asked(self) -> str:
        return self.query_zone or self.zone

    @property
    def weight(self) -> int:
        return WEIGHT[self.severity]

    def test_points(self) -> tuple[str, str]:
        """(must be listed, must not be listed): its own, else RFC 5782's for its kind."""
        if self.listed_test and self.unlisted_test:
            return self.listed_test, self.unlisted_test
        kind = next(k for k in KINDS if k in self.kinds)
        return RFC_TEST_POINTS[kind]


def custom(zone: str, severity: str = "critical", kinds: frozenset[str] | None = None) -> BlockList:
    """A list the user names: any 127.0.0.0/8 answer is a listing, RFC 5782 test points."""
    return BlockList(zone, zone, kinds or frozenset({"ipv4"}), severity, builtin=False)


_IPV4 = frozenset({"ipv4"})

BUILTIN: tuple[BlockList, ...] = (
    BlockList(
        "zen.spamhaus.org",
        "Spamhaus ZEN",
        frozenset({"ipv4", "ipv6"}),
        "critical",
        codes={
            "127.0.0.2": Code("SBL: spam source or spam operation"),
            "127.0.0.3": Code("SBL CSS: snowshoe spam source"),
            "127.0.0.4": Code("XBL: exploited host"),
            "127.0.0.5": Code("XBL: exploited host"),
            "127.0.0.6": Code("XBL: exploited host"),
            "127.0.0.7": Code("XBL: exploited host"),
            "127.0.0.9": Code("SBL DROP: hijacked or criminal network"),
            "127.0.0.10": Code("PBL: the ISP says this address should not send mail", "warning"),
            "127.0.0.11": Code("PBL: Spamhaus says this address should not send mail", "warning"),
            "127.0.0.30": Code("SBL BCL: botnet controller"),
        },
        errors=SPAMHAUS_ERRORS,
        delist="https://check.spamhaus.org/",
        listed_test="127.0.0.2",
        unlisted_test="127.0.0.1",
        dqs="zen",
    ),
    BlockList(
        "dbl.spamhaus.org",
        "Spamhaus DBL",
        frozenset({"domain"}),
        "critical",
        codes={
            "127.0.1.2": Code("DBL: low-reputation (spam) domain"),
            "127.0.1.4": Code("DBL: phishing domain"),
            "127.0.1.5": Code("DBL: malware domain"),
            "127.0.1.6": Code("DBL: botnet C&C domain"),
            "127.0.1.102": Code("DBL: abused legitimate domain", "warning"),
            "127.0.1.103": Code("DBL: abused redirector", "warning"),
            "127.0.1.104": Code("DBL: abused legitimate domain used for phishing", "warning"),
            "127.0.1.105": Code("DBL: abused legitimate domain used by malware", "warning"),
            "127.0.1.106": Code("DBL: abused legitimate domain hosting a botnet C&C", "warning"),
        },
        errors={
            **SPAMHAUS_ERRORS,
            "127.0.1.255": "Spamhaus DBL refuses IP address queries (a domain list)",
        },
        delist="https://check.spamhaus.org/",
        listed_test="dbltest.com",
        unlisted_test="invalid",
        dqs="dbl",
    ),
    BlockList(
        "bl.spamcop.net",
        "SpamCop",
        _IPV4,
        "critical",
        codes={"127.0.0.2": Code("reported as a spam source by SpamCop users")},
        delist="https://www.spamcop.net/bl.shtml",
    ),
    BlockList(
        "b.barracudacentral.org",
        "Barracuda BRBL",
        _IPV4,
        "critical",
        codes={"127.0.0.2": Code("poor reputation at Barracuda (spam seen)")},
        delist="https://www.barracudacentral.org/rbl/removal-request",
    ),
    BlockList(
        "psbl.surriel.com",
        "PSBL",
        _IPV4,
        "warning",
        codes={"127.0.0.2": Code("sent mail to PSBL's spam traps")},
        delist="https://psbl.org/remove",
    ),
    BlockList(
        "dnsbl-1.uceprotect.net",
        "UCEPROTECT Level 1",
        _IPV4,
        "warning",
        codes={"127.0.0.2": Code("this address sent mail to UCEPROTECT's spam traps")},
        delist="https://www.uceprotect.net/en/rblcheck.php",
    ),
    BlockList(
        "dnsbl-2.uceprotect.net",
        "UCEPROTECT Level 2",
        _IPV4,
        "info",
        codes={"127.0.0.2": Code("its network block escalated (neighbours' spam)")},
        delist="https://www.uceprotect.net/en/rblcheck.php",
    ),
    BlockList(
        "dnsbl-3.uceprotect.net",
        "UCEPROTECT Level 3",
        _IPV4,
        "info",
        codes={"127.0.0.2": Code("its whole provider (AS) is listed")},
        delist="https://www.uceprotect.net/en/rblcheck.php",
    ),
    BlockList(
        "spam.spamrats.com",
        "RATS-Spam",
        _IPV4,
        "warning",
        codes={"127.0.0.38": Code("RATS-Spam: abusive, spam seen")},
        delist="https://www.spamrats.com/removal.php",
    ),
    BlockList(
        "noptr.spamrats.com",
        "RATS-NoPtr",
        _IPV4,
        "warning",
        codes={"127.0.0.37": Code("RATS-NoPtr: no reverse DNS")},
        delist="https://www.spamrats.com/removal.php",
    ),
)
BY_ZONE = {blocklist.zone: blocklist for blocklist in BUILTIN}


def select(
    specs: Sequence[tuple[str, str | None, frozenset[str] | None]], defaults: bool
) -> list[BlockList]:
    """The lists to ask: the built-in set (unless not ``defaults``), then each (zone, severity,
    kinds) spec in order, overriding a list of the same zone or adding a list of the user's."""
    chosen = {blocklist.zone: blocklist for blocklist in BUILTIN} if defaults else {}
    for zone, severity, kinds in specs:
        known = chosen.get(zone) or BY_ZONE.get(zone)
        if known is None:
            chosen[zone] = custom(zone, severity or "critical", kinds)
            continue
        codes = known.codes
        if severity:  # the user's severity is the list's, whatever each answer means
            codes = {code: Code(meaning.meaning) for code, meaning in codes.items()}
        chosen[zone] = replace(
            known, severity=severity or known.severity, kinds=kinds or known.kinds, codes=codes
        )
    return list(chosen.values())


def with_dqs(blocklists: list[BlockList], key: str) -> list[BlockList]:
    """The Spamhaus lists asked through the Data Query Service with ``key`` instead of the public
    mirrors (``<key>.zen.dq.spamhaus.net``); the zone shown stays the public one."""
    return [
        replace(b, query_zone=f"{key}.{b.dqs}.dq.spamhaus.net") if b.dqs else b for b in blocklists
    ]
