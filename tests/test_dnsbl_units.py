"""check_dnsbl's pure parts: query names (RFC 5782), answer classification, zones files, the
built-in list set as data."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isp_plugins.sources.dnsbl import answers, lists, names, zonefile
from isp_plugins.sources.dnsbl.answers import Listing, Verdict
from isp_plugins.sources.dnsbl.lists import BUILTIN, BY_ZONE, custom


# -- query names --------------------------------------------------------------------------
def test_ipv4_is_reversed_by_octet() -> None:
    (target,) = names.parse_address("203.0.113.25")
    assert target == names.Target("203.0.113.25", "ipv4", "25.113.0.203")
    assert target.query("zen.spamhaus.org") == "25.113.0.203.zen.spamhaus.org"


def test_ipv6_is_reversed_by_nibble_as_rfc_5782_shows() -> None:
    # RFC 5782 section 2.4's example
    (target,) = names.parse_address("2001:DB8:abc:123::42")
    assert target.kind == "ipv6"
    assert target.text == "2001:db8:abc:123::42"
    assert target.key == "2.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.2.1.0.c.b.a.0.8.b.d.0.1.0.0.2"
    # RFC 5782's IPv6 test point, IPv4-mapped (Python 3.13 writes its tail dotted)
    (point,) = names.parse_address("::ffff:7f00:2")
    assert point.key == "2.0.0.0.0.0.f.7.f.f.f.f." + ".".join("0" * 20)


@given(st.ip_addresses(v=4))
def test_ipv4_reversal_round_trips(address: ipaddress.IPv4Address) -> None:
    (target,) = names.parse_address(str(address))
    assert ipaddress.IPv4Address(".".join(reversed(target.key.split(".")))) == address
    assert len(target.key.split(".")) == 4


@given(st.ip_addresses(v=6))
def test_ipv6_reversal_round_trips(address: ipaddress.IPv6Address) -> None:
    (target,) = names.parse_address(str(address))
    nibbles = target.key.split(".")
    assert len(nibbles) == 32 and all(re.fullmatch("[0-9a-f]", n) for n in nibbles)
    assert ipaddress.IPv6Address(int("".join(reversed(nibbles)), 16)) == address


def test_blocks_expand_up_to_a_24_or_a_120() -> None:
    block = names.parse_address("192.0.2.0/24")
    assert len(block) == 256
    assert (block[0].text, block[-1].text) == ("192.0.2.0", "192.0.2.255")
    assert len(names.parse_address("2001:db8::/120")) == 256
    assert [t.text for t in names.parse_address("192.0.2.7/31")] == ["192.0.2.6", "192.0.2.7"]
    with pytest.raises(names.BadTarget, match=r"192.0.2.0/23: blocks up to /24 only \(512"):
        names.parse_address("192.0.2.0/23")
    with pytest.raises(names.BadTarget, match="up to /120 only"):
        names.parse_address("2001:db8::/64")


@pytest.mark.parametrize("text", ["192.0.2", "relay.example.net", "1.2.3.4/33", "", "::g"])
def test_not_an_address(text: str) -> None:
    with pytest.raises(names.BadTarget, match="is not an IPv4 or IPv6 address or block"):
        names.parse_address(text)


def test_domains() -> None:
    assert names.parse_domain("Relay.Example.NET.") == names.Target(
        "relay.example.net", "domain", "relay.example.net"
    )
    for bad in ("localhost", "a..b", "-a.example", "exa mple.com", "x" * 64 + ".com"):
        with pytest.raises(names.BadTarget, match="is not a domain name"):
            names.parse_domain(bad)
    with pytest.raises(names.BadTarget, match="is an address: give it with --address"):
        names.parse_domain("192.0.2.1")


def test_address_file_names_the_bad_line() -> None:
    content = "# relays\n192.0.2.1\n\n192.0.2.8/30  # the cluster\n"
    assert [t.text for t in names.parse_address_file(content, "f")] == [
        "192.0.2.1",
        "192.0.2.8",
        "192.0.2.9",
        "192.0.2.10",
        "192.0.2.11",
    ]
    with pytest.raises(names.BadTarget, match=r"^f line 2: 'relay1' is not an IPv4"):
        names.parse_address_file("192.0.2.1\nrelay1\n", "f")


# -- answers --------------------------------------------------------------------------------
ZEN, DBL, SPAMCOP = (
    BY_ZONE["zen.spamhaus.org"],
    BY_ZONE["dbl.spamhaus.org"],
    BY_ZONE["bl.spamcop.net"],
)
MINE = custom("bl.example.net", "warning")


@pytest.mark.parametrize(
    ("blocklist", "codes", "expected"),
    [
        (ZEN, [], Verdict()),
        (ZEN, ["127.0.0.4"], Verdict((Listing("127.0.0.4", "XBL: exploited host", "critical"),))),
        (
            ZEN,
            ["127.0.0.2", "127.0.0.10"],
            Verdict(
                (
                    Listing("127.0.0.2", "SBL: spam source or spam operation", "critical"),
                    Listing(
                        "127.0.0.10",
                        "PBL: the ISP says this address should not send mail",
                        "warning",
                    ),
                )
            ),
        ),
        (
            ZEN,
            ["127.255.255.254"],
            Verdict(
                error="Spamhaus refuses queries from this resolver (a public or shared resolver): "
                "use your own resolver or a DQS key"
            ),
        ),
        (
            ZEN,
            ["127.255.255.252"],
            Verdict(error="Spamhaus does not know this zone name (a typo in the zone?)"),
        ),
        (
            DBL,
            ["127.255.255.255"],
            Verdict(
                error="Spamhaus refuses queries from this resolver: too many queries, use a DQS key"
            ),
        ),
        (
            DBL,
            ["127.0.1.255"],
            Verdict(error="Spamhaus DBL refuses IP address queries (a domain list)"),
        ),
        (
            DBL,
            ["127.0.1.102"],
            Verdict((Listing("127.0.1.102", "DBL: abused legitimate domain", "warning"),)),
        ),
        # undocumented: not a listing
        (
            ZEN,
            ["127.0.0.77"],
            Verdict(error="answers 127.0.0.77, which it does not document as a listing"),
        ),
        (
            SPAMCOP,
            ["127.0.0.4"],
            Verdict(error="answers 127.0.0.4, which it does not document as a listing"),
        ),
        # errors whatever the list
        (
            SPAMCOP,
            ["198.51.100.7"],
            Verdict(error="answers 198.51.100.7, outside 127.0.0.0/8: not a blocklist answer"),
        ),
        (
            MINE,
            ["127.0.0.1"],
            Verdict(
                error="answers 127.0.0.1, which is never a listing (RFC 5782): a refused query?"
            ),
        ),
        (
            MINE,
            ["127.255.255.254"],
            Verdict(error="answers 127.255.255.254, an error code, not a listing"),
        ),
        # one error spoils the whole answer
        (
            ZEN,
            ["127.0.0.2", "10.0.0.1"],
            Verdict(error="answers 10.0.0.1, outside 127.0.0.0/8: not a blocklist answer"),
        ),
        # a list of the user's: any other 127/8 answer, at the list's severity
        (MINE, ["127.0.0.5"], Verdict((Listing("127.0.0.5", "listed", "warning"),))),
    ],
)
def test_only_documented_answers_are_listings(
    blocklist: lists.BlockList, codes: list[str], expected: Verdict
) -> None:
    assert answers.classify(blocklist, codes) == expected


def test_test_points_accept_any_listing_answer() -> None:
    rats = BY_ZONE["spam.spamrats.com"]
    assert answers.lists_test_point(rats, ["127.0.0.38"]) == (True, "")
    assert answers.lists_test_point(rats, ["127.0.0.2"]) == (True, "")  # undocumented, but a test
    assert answers.lists_test_point(rats, []) == (False, "")
    listed, error = answers.lists_test_point(ZEN, ["127.255.255.254"])
    assert not listed and error.startswith("Spamhaus refuses queries from this resolver")


# -- zones files ----------------------------------------------------------------------------
def test_zone_specs() -> None:
    assert zonefile.parse_spec("bl.example.net") == ("bl.example.net", None, None)
    assert zonefile.parse_spec("BL.example.net.:Info:ipv4,IPv6") == (
        "bl.example.net",
        "info",
        frozenset({"ipv4", "ipv6"}),
    )
    with pytest.raises(names.BadTarget, match="'severe' is not a severity"):
        zonefile.parse_spec("bl.example.net:severe")
    with pytest.raises(names.BadTarget, match="'ipv5' is not a list of kinds"):
        zonefile.parse_spec("bl.example.net:info:ipv5")
    with pytest.raises(names.BadTarget, match="is not a zone name"):
        zonefile.parse_spec("bl_example")


def test_our_zones_file() -> None:
    content = (
        "# our lists\n"
        "zen.spamhaus.org warning\n"
        "bl.example.net critical ipv4,ipv6  # ours\n"
        "dbl.example.net info domain\n"
    )
    assert zonefile.parse_zones_file(content, "z") == [
        ("zen.spamhaus.org", "warning", None),
        ("bl.example.net", "critical", frozenset({"ipv4", "ipv6"})),
        ("dbl.example.net", "info", frozenset({"domain"})),
    ]


def test_check_rbl_configuration_is_read_as_it_is_shipped() -> None:
    """check_rbl's own check_rbl.ini style: an [rbl] section of server= lines, ; comments."""
    content = (
        "[rbl]\n"
        "server=zen.spamhaus.org\n"
        "; this keeps all zones of sorbs excl. spam\n"
        "server=bl.spamcop.net\n"
        "warning=1\ncritical=2\ntimeout=60\nquery-timeout = 10\n\n"
        "; these are rather slow\n;server=bl.csma.biz\n"
        "[other]\ns = psbl.surriel.com\n"
    )
    assert [spec.zone for spec in zonefile.parse_zones_file(content, "check_rbl.ini")] == [
        "zen.spamhaus.org",
        "bl.spamcop.net",
        "psbl.surriel.com",
    ]


def test_a_joined_zone_name_or_an_unknown_option_names_its_line() -> None:
    # The typo of a shipped zone list: a missing separator joins two zones into one name.
    with pytest.raises(names.BadTarget, match=r"^z line 2: 'bl.spamcop.net zen.spamhaus.org x"):
        zonefile.parse_zones_file("psbl.surriel.com\nbl.spamcop.net zen.spamhaus.org x y\n", "z")
    with pytest.raises(names.BadTarget, match=r"^z line 1: 'zen.spamhaus.org' is not a severity"):
        zonefile.parse_zones_file("bl.spamcop.net zen.spamhaus.org\n", "z")
    with pytest.raises(names.BadTarget, match=r"^z line 2: 'servers' is not a check_rbl option"):
        zonefile.parse_zones_file("[rbl]\nservers=zen.spamhaus.org\n", "z")


# -- the built-in set and the list selection ------------------------------------------------
@pytest.mark.parametrize("blocklist", BUILTIN, ids=[b.zone for b in BUILTIN])
def test_each_builtin_list_is_complete_and_consistent(blocklist: lists.BlockList) -> None:
    assert names.parse_zone(blocklist.zone) == blocklist.zone
    assert blocklist.kinds and blocklist.kinds <= set(lists.KINDS)
    assert blocklist.severity in lists.SEVERITIES
    assert blocklist.delist.startswith("https://")
    assert blocklist.codes, "a built-in list documents its listing answers"
    for code, meaning in blocklist.codes.items():
        address = ipaddress.IPv4Address(code)
        assert address in ipaddress.ip_network("127.0.0.0/8") and code != "127.0.0.1"
        assert meaning.severity in (None, *lists.SEVERITIES)
        assert answers.classify(blocklist, [code]).listings  # documented: a listing
    assert not set(blocklist.codes) & set(blocklist.errors)
    listed, unlisted = blocklist.test_points()
    assert listed != unlisted
    assert blocklist.builtin and not blocklist.query_zone
    assert bool(blocklist.dqs) == blocklist.zone.endswith(".spamhaus.org")


def test_the_builtin_set() -> None:
    zones = [b.zone for b in BUILTIN]
    assert len(zones) == len(set(zones)) == 10
    # the lists whose listing of a relay stops mail at the big providers
    critical = {b.zone for b in BUILTIN if b.severity == "critical"}
    assert critical == {
        "zen.spamhaus.org",
        "dbl.spamhaus.org",
        "bl.spamcop.net",
        "b.barracudacentral.org",
    }
    assert {b.zone for b in BUILTIN if b.severity == "info"} == {
        "dnsbl-2.uceprotect.net",
        "dnsbl-3.uceprotect.net",
    }
    assert lists.CHECKED == "2026-12-03"


def test_select_overrides_and_adds() -> None:
    chosen = lists.select(
        [
            ("bl.spamcop.net", "warning", None),
            ("bl.example.net", None, None),
            ("dom.example.net", "info", frozenset({"domain"})),
        ],
        defaults=True,
    )
    by_zone = {b.zone: b for b in chosen}
    assert len(chosen) == 12
    assert by_zone["bl.spamcop.net"].severity == "warning"
    assert by_zone["bl.spamcop.net"].codes == SPAMCOP.codes  # still read as documented
    assert by_zone["bl.example.net"] == custom("bl.example.net", "critical")
    assert by_zone["dom.example.net"].test_points() == ("test", "invalid")
    assert by_zone["bl.example.net"].test_points() == ("127.0.0.2", "127.0.0.1")
    # without the defaults, a built-in list named keeps what we know of it
    (zen,) = lists.select([("zen.spamhaus.org", None, None)], defaults=False)
    assert zen == ZEN


def test_dqs_asks_the_keyed_zones_and_shows_the_public_ones() -> None:
    chosen = lists.with_dqs(list(BUILTIN), "abcdefghijklmnopqrstuvwxyz")
    by_zone = {b.zone: b for b in chosen}
    assert by_zone["zen.spamhaus.org"].asked == "abcdefghijklmnopqrstuvwxyz.zen.dq.spamhaus.net"
    assert by_zone["dbl.spamhaus.org"].asked == "abcdefghijklmnopqrstuvwxyz.dbl.dq.spamhaus.net"
    assert by_zone["bl.spamcop.net"].asked == "bl.spamcop.net"


# -- resolvers ----------------------------------------------------------------------------
def test_nameservers_from_the_command_line() -> None:
    from isp_plugins.checks.dnsbl.command import parse_nameserver

    assert parse_nameserver("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("::1") == ("::1", 53)
    assert parse_nameserver("[2001:DB8::53]:5353") == ("2001:db8::53", 5353)
    assert parse_nameserver("[::1]") == ("::1", 53)


def test_nameservers_from_resolv_conf(tmp_path: Path) -> None:
    from isp_plugins.sources.dnsbl import lookup

    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# written by hand\nsearch example.net\nnameserver 127.0.0.53\n"
        "nameserver fe80::1%eth0\nnameserver resolver.example.net\noptions edns0 trust-ad\n"
    )
    assert lookup.system_nameservers(str(conf)) == [("127.0.0.53", 53), ("fe80::1", 53)]
    conf.write_text("search example.net\n")
    with pytest.raises(lookup.ResolverError, match=f"^no nameserver in {conf}: give --nameserver$"):
        lookup.system_nameservers(str(conf))
    with pytest.raises(lookup.ResolverError, match="No such file or directory: give --nameserver"):
        lookup.system_nameservers(str(tmp_path / "none"))
