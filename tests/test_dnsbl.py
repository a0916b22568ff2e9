"""check_dnsbl end to end: the installed console script against a real resolver (Unbound) in
front of a real authoritative server (NSD) serving blocklist zones that list, refuse, list
everything, answer outside 127/8 or never answer (tests/dns_lab.py, .ci/setup.d/60-dns.sh);
against a fake server that answers garbage; and with bad options."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PluginRun, run_script
from tests.dns_lab import (
    CUSTOM,
    DQS_KEY,
    LISTED_PBL,
    LISTED_V6,
    LISTED_XBL,
    SILENT,
    SPAM_DOMAIN,
    Lab,
    running_lab,
    spamhaus_refusing_zones,
    standard_zones,
)
from tests.services import services

SCRIPT = "check_dnsbl"
#: Per-query timeout and retries of the tests: a silent list costs 2 x 2 s a run; a list that
#: answers has 4 s to do so however busy the machine (a local Unbound answers in milliseconds).
FAST = ("--query-timeout", "2", "--retries", "1")
#: The one nondeterministic figure of the status line.
TIME = re.compile(r"time=\d+(\.\d+)?s")


def check(lab: Lab, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> PluginRun:
    done = run_script(
        SCRIPT, "--nameserver", lab.resolver, "--state-dir", str(tmp_path / "state"), *args, env=env
    )
    assert done.stderr == ""
    return done


def lines(done: PluginRun) -> list[str]:
    return [TIME.sub("time=Ts", line) for line in done.lines]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab(standard_zones(), SILENT) as running:
        yield running


# -- the real lab -----------------------------------------------------------------------------
@services
def test_listed_relays_are_critical_with_reasons_and_delisting_pages(
    lab: Lab, tmp_path: Path
) -> None:
    done = check(
        lab, tmp_path, "-a", LISTED_XBL, "-a", LISTED_PBL, "-a", "192.0.2.30", "-a", LISTED_V6,
        "--domain", SPAM_DOMAIN, *FAST,
    )  # fmt: skip
    assert done.code == 2
    assert lines(done) == [
        "DNSBL CRITICAL - 192.0.2.25 listed on zen.spamhaus.org (XBL: exploited host), "
        "bl.spamcop.net - 192.0.2.26 listed on zen.spamhaus.org (PBL: the ISP says this address "
        "should not send mail) - 2001:db8::25 listed on zen.spamhaus.org (SBL CSS: snowshoe spam "
        "source) - spammy.example listed on dbl.spamhaus.org (DBL: low-reputation (spam) domain) "
        "- 4 of 5 addresses and domains listed - 1 of 10 lists did not answer | "
        "listed_addresses=4;;;0 listings=44;;;0 lists_checked=9;;;0 lists_failed=1;;;0 "
        "time=Ts;;;0",
        "192.0.2.25 listed on zen.spamhaus.org (Spamhaus ZEN): 127.0.0.4 XBL: exploited host "
        "[critical]; reason: https://check.spamhaus.org/query/ip/192.0.2.25; delisting: "
        "https://check.spamhaus.org/",
        "192.0.2.25 listed on bl.spamcop.net (SpamCop): 127.0.0.2 reported as a spam source by "
        "SpamCop users [critical]; reason: Blocked - see https://www.spamcop.net/bl.shtml?"
        "192.0.2.25; delisting: https://www.spamcop.net/bl.shtml",
        "192.0.2.26 listed on zen.spamhaus.org (Spamhaus ZEN): 127.0.0.10 PBL: the ISP says this "
        "address should not send mail [warning]; reason: "
        "https://check.spamhaus.org/query/ip/192.0.2.26; delisting: https://check.spamhaus.org/",
        "192.0.2.26 listed on dnsbl-3.uceprotect.net (UCEPROTECT Level 3): 127.0.0.2 its whole "
        "provider (AS) is listed [info]; delisting: https://www.uceprotect.net/en/rblcheck.php",
        "2001:db8::25 listed on zen.spamhaus.org (Spamhaus ZEN): 127.0.0.3 SBL CSS: snowshoe spam "
        "source [critical]; reason: snowshoe range 2001:db8::/64; delisting: "
        "https://check.spamhaus.org/",
        "spammy.example listed on dbl.spamhaus.org (Spamhaus DBL): 127.0.1.2 DBL: low-reputation "
        "(spam) domain [critical]; reason: https://check.spamhaus.org/query/dbl/spammy.example; "
        "delisting: https://check.spamhaus.org/",
        "b.barracudacentral.org: did not answer (5 timeouts)",
    ]


@services
def test_clean_relays_are_ok_and_say_on_how_many_lists(lab: Lab, tmp_path: Path) -> None:
    done = check(lab, tmp_path, "-a", "192.0.2.30", "-a", "192.0.2.31", *FAST)
    assert (done.code, lines(done)) == (
        0,
        [
            "DNSBL OK - 2 addresses not listed on 9 lists - 1 of 10 lists did not answer | "
            "listed_addresses=0;;;0 listings=0;;;0 lists_checked=9;;;0 lists_failed=1;;;0 "
            "time=Ts;;;0",
            "b.barracudacentral.org: did not answer (4 timeouts)",
        ],
    )
    # an info listing alone (a whole provider listed) is not a problem of the relay
    done = check(lab, tmp_path, "-a", LISTED_PBL, "--zone", "zen.spamhaus.org:info", *FAST)
    assert done.code == 0, done.stdout
    assert lines(done)[0] == (
        "DNSBL OK - 192.0.2.26 not listed on 9 lists - 1 of 10 lists did not answer | "
        "listed_addresses=0;;;0 listings=2;;;0 lists_checked=9;;;0 lists_failed=1;;;0 "
        "time=Ts;;;0"
    )


@services
def test_lists_that_misbehave_are_ignored_with_a_warning(lab: Lab, tmp_path: Path) -> None:
    zones = ["everything", "outside", "dead", "refusing", "plain:warning", "silent"]
    args = [arg for zone in zones for arg in ("--zone", f"{zone.split(':')[0]}.{CUSTOM}" + (
        ":" + zone.split(":")[1] if ":" in zone else ""))]  # fmt: skip
    done = check(lab, tmp_path, "-a", LISTED_XBL, "--no-default-zones", *args, *FAST)
    assert done.code == 1
    assert lines(done) == [
        f"DNSBL WARNING - 192.0.2.25 listed on plain.{CUSTOM} - 1 of 1 address listed - "
        f"everything.{CUSTOM} lists everything (its never-listed test point 127.0.0.1 is "
        f"listed): ignored - outside.{CUSTOM} answers 198.51.100.7, outside 127.0.0.0/8: not a "
        f"blocklist answer: ignored - dead.{CUSTOM} broken: does not list its test point "
        f"127.0.0.2 (a dead list?): ignored - refusing.{CUSTOM} answers 127.255.255.254, an "
        "error code, not a listing: ignored - 1 of 6 lists did not answer | "
        "listed_addresses=1;;;0 listings=3;;;0 lists_checked=1;;;0 lists_failed=5;;;0 "
        "time=Ts;;;0",
        f"192.0.2.25 listed on plain.{CUSTOM} (plain.{CUSTOM}): 127.0.0.5 listed [warning]",
        f"everything.{CUSTOM}: lists everything (its never-listed test point 127.0.0.1 is "
        "listed): its answers are ignored",
        f"outside.{CUSTOM}: answers 198.51.100.7, outside 127.0.0.0/8: not a blocklist answer: "
        "its answers are ignored",
        f"dead.{CUSTOM}: broken: does not list its test point 127.0.0.2 (a dead list?): its "
        "answers are ignored",
        f"refusing.{CUSTOM}: answers 127.255.255.254, an error code, not a listing: its answers "
        "are ignored",
        f"silent.{CUSTOM}: did not answer (3 timeouts)",
    ]


@services
def test_ipv6_and_domain_lists_of_our_own(lab: Lab, tmp_path: Path) -> None:
    done = check(
        lab, tmp_path, "-a", LISTED_V6, "-a", "2001:db8::26", "--domain", SPAM_DOMAIN,
        "--domain", "clean.example", "--no-default-zones", "--zone", f"v6.{CUSTOM}:warning:ipv6",
        "--zone", f"domains.{CUSTOM}:critical:domain", *FAST,
    )  # fmt: skip
    assert done.code == 2
    assert lines(done) == [
        f"DNSBL CRITICAL - 2001:db8::25 listed on v6.{CUSTOM} - spammy.example listed on "
        f"domains.{CUSTOM} - 2 of 4 addresses and domains listed | listed_addresses=2;;;0 "
        "listings=13;;;0 lists_checked=2;;;0 lists_failed=0;;;0 time=Ts;;;0",
        f"2001:db8::25 listed on v6.{CUSTOM} (v6.{CUSTOM}): 127.0.0.2 listed [warning]",
        f"spammy.example listed on domains.{CUSTOM} (domains.{CUSTOM}): 127.0.0.2 listed "
        "[critical]",
    ]


@services
def test_weighted_thresholds(lab: Lab, tmp_path: Path) -> None:
    base = ("-a", LISTED_PBL, "--no-default-zones", "--zone", "zen.spamhaus.org", *FAST)
    done = check(lab, tmp_path, *base)
    assert (done.code, lines(done)[0]) == (
        1,
        "DNSBL WARNING - 192.0.2.26 listed on zen.spamhaus.org (PBL: the ISP says this address "
        "should not send mail) - 1 of 1 address listed | listed_addresses=1;;;0 listings=3;;;0 "
        "lists_checked=1;;;0 lists_failed=0;;;0 time=Ts;;;0",
    )
    done = check(lab, tmp_path, *base, "-w", "5", "-c", "2")
    assert (done.code, lines(done)[0]) == (
        2,
        "DNSBL CRITICAL - 192.0.2.26 listed on zen.spamhaus.org (PBL: the ISP says this address "
        "should not send mail) - 1 of 1 address listed - weighted listings 3 outside -c 2 | "
        "listed_addresses=1;;;0 listings=3;5;2;0 lists_checked=1;;;0 lists_failed=0;;;0 "
        "time=Ts;;;0",
    )


@services
def test_a_whole_block(lab: Lab, tmp_path: Path) -> None:
    done = check(
        lab, tmp_path, "-a", "192.0.2.0/24", "--no-default-zones", "--zone", "zen.spamhaus.org",
        "--zone", "bl.spamcop.net", *FAST,
    )  # fmt: skip
    assert done.code == 2
    assert lines(done)[0] == (
        "DNSBL CRITICAL - 192.0.2.25 listed on zen.spamhaus.org (XBL: exploited host), "
        "bl.spamcop.net - 192.0.2.26 listed on zen.spamhaus.org (PBL: the ISP says this address "
        "should not send mail) - 2 of 256 addresses listed | listed_addresses=2;;;0 "
        "listings=23;;;0 lists_checked=2;;;0 lists_failed=0;;;0 time=Ts;;;0"
    )


@services
def test_the_status_line_names_five_listed_addresses_the_long_output_all(
    lab: Lab, tmp_path: Path
) -> None:
    done = check(
        lab,
        tmp_path,
        "-a",
        "192.0.2.64/28",
        "--no-default-zones",
        "--zone",
        f"many.{CUSTOM}",
        *FAST,
    )
    assert done.code == 2
    named = " - ".join(f"192.0.2.{64 + n} listed on many.{CUSTOM}" for n in range(5))
    assert lines(done)[0] == (
        f"DNSBL CRITICAL - {named} - ... and 11 more (long output) - 16 of 16 addresses listed | "
        "listed_addresses=16;;;0 listings=160;;;0 lists_checked=1;;;0 lists_failed=0;;;0 "
        "time=Ts;;;0"
    )
    assert lines(done)[1:] == [
        f"192.0.2.{64 + n} listed on many.{CUSTOM} (many.{CUSTOM}): 127.0.0.2 listed [critical]"
        for n in range(16)
    ]


@services
def test_a_check_rbl_configuration_file_is_taken_as_is(lab: Lab, tmp_path: Path) -> None:
    ini = tmp_path / "check_rbl.ini"
    ini.write_text(
        "[rbl]\nserver=bl.spamcop.net\n; a list that died\nserver=dead.bl.isp-test.example\n"
        "server=psbl.surriel.com\nwarning=1\ncritical=1\n"
    )
    relays = tmp_path / "relays"
    relays.write_text(f"# the relays\n{LISTED_XBL}\n")
    done = check(
        lab, tmp_path, "--address-file", str(relays), "--zones-file", str(ini),
        "--no-default-zones", *FAST,
    )  # fmt: skip
    assert done.code == 2
    assert lines(done)[0] == (
        "DNSBL CRITICAL - 192.0.2.25 listed on bl.spamcop.net - 1 of 1 address listed - "
        f"dead.{CUSTOM} broken: does not list its test point 127.0.0.2 (a dead list?): ignored | "
        "listed_addresses=1;;;0 listings=10;;;0 lists_checked=2;;;0 lists_failed=1;;;0 "
        "time=Ts;;;0"
    )


@services
def test_spamhaus_refusing_our_resolver_is_no_listing(tmp_path: Path) -> None:
    with running_lab(spamhaus_refusing_zones()) as refusing:
        done = check(
            refusing, tmp_path, "-a", LISTED_XBL, "--domain", SPAM_DOMAIN, "--no-default-zones",
            "--zone", "zen.spamhaus.org", "--zone", "dbl.spamhaus.org", *FAST,
        )  # fmt: skip
    assert done.code == 3  # no list could be used
    assert lines(done) == [
        "DNSBL UNKNOWN - no list could be used: 2 of 2 failed - zen.spamhaus.org Spamhaus refuses "
        "queries from this resolver (a public or shared resolver): use your own resolver or a "
        "DQS key: ignored - dbl.spamhaus.org Spamhaus refuses queries from this resolver: too "
        "many queries, use a DQS key: ignored | listed_addresses=0;;;0 listings=0;;;0 "
        "lists_checked=0;;;0 lists_failed=2;;;0 time=Ts;;;0",
        "zen.spamhaus.org: Spamhaus refuses queries from this resolver (a public or shared "
        "resolver): use your own resolver or a DQS key: its answers are ignored",
        "dbl.spamhaus.org: Spamhaus refuses queries from this resolver: too many queries, use a "
        "DQS key: its answers are ignored",
    ]


@services
def test_spamhaus_through_dqs_and_the_key_is_never_shown(lab: Lab, tmp_path: Path) -> None:
    key_file = tmp_path / "dqs.key"
    key_file.write_text(DQS_KEY.upper() + "\n")
    base = ("-a", LISTED_PBL, "--no-default-zones", "--zone", "zen.spamhaus.org", *FAST)
    by_file = check(lab, tmp_path, *base, "--dqs-key-file", str(key_file), "-vv")
    by_env = check(lab, tmp_path, *base, "-vv", "--retest", "0", env={"DNSBL_DQS_KEY": DQS_KEY})
    for done in (by_file, by_env):
        # the DQS zone lists it on the SBL, the public mirror on the PBL
        assert done.code == 2
        assert lines(done)[:2] == [
            "DNSBL CRITICAL - 192.0.2.26 listed on zen.spamhaus.org (SBL: spam source or spam "
            "operation) - 1 of 1 address listed | listed_addresses=1;;;0 listings=10;;;0 "
            "lists_checked=1;;;0 lists_failed=0;;;0 time=Ts;;;0",
            "192.0.2.26 listed on zen.spamhaus.org (Spamhaus ZEN): 127.0.0.2 SBL: spam source or "
            "spam operation [critical]; delisting: https://check.spamhaus.org/",
        ]
        assert re.fullmatch(
            r"zen\.spamhaus\.org through Spamhaus DQS: 3 answers, [\d.]+ ms average, [\d.]+ ms "
            "slowest",
            done.lines[-1],
        ), done.lines
        assert DQS_KEY not in done.stdout.lower()
    state = "".join(p.read_text() for p in (tmp_path / "state").iterdir())
    assert f"zen.spamhaus.org (dqs) via {lab.resolver}" in state and DQS_KEY not in state.lower()


@services
def test_test_results_are_kept_for_retest(lab: Lab, tmp_path: Path) -> None:
    args = ("-a", "192.0.2.30", "--no-default-zones", "--zone", f"everything.{CUSTOM}",
            "--zone", "psbl.surriel.com", "--zone", f"silent.{CUSTOM}", *FAST, "-v")  # fmt: skip
    first = check(lab, tmp_path, *args)
    second = check(lab, tmp_path, *args)
    again = check(lab, tmp_path, *args, "--retest", "0")
    assert [run.code for run in (first, second, again)] == [1, 1, 1]
    summary = (
        "resolver: {resolver}; 1 name on 3 lists; test points asked now for {now}, from the last "
        "{age}s for {cached}"
    )
    assert summary.format(resolver=lab.resolver, now=3, age=3600, cached=0) in first.lines
    # the wildcard list's and psbl's tests are kept; the silent one is asked again
    assert summary.format(resolver=lab.resolver, now=1, age=3600, cached=2) in second.lines
    assert summary.format(resolver=lab.resolver, now=3, age=0, cached=0) in again.lines
    for run in (first, second, again):
        assert run.lines[0].startswith(
            f"DNSBL WARNING - 192.0.2.30 not listed on 1 list - everything.{CUSTOM} lists "
            "everything (its never-listed test point 127.0.0.1 is listed): ignored - 1 of 3 lists "
            "did not answer | "
        )


def test_an_unusable_state_directory_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    server = FakeServer(lambda query: query[:2] + b"\x81\x83" + query[4:])  # NXDOMAIN
    done = run_script(
        SCRIPT, "--nameserver", server.address, "--state-dir", str(tmp_path / "file" / "state"),
        "-a", LISTED_XBL, "--no-default-zones", "--zone", "bl.spamcop.net", *FAST,
    )  # fmt: skip
    server.close()
    assert (done.code, done.lines) == (
        3,
        [f"DNSBL UNKNOWN - state directory {tmp_path}/file/state: Not a directory"],
    )
    # with --retest 0 nothing is kept: no state directory needed
    server = FakeServer(lambda query: query[:2] + b"\x81\x83" + query[4:])
    done = run_script(
        SCRIPT, "--nameserver", server.address, "--state-dir", str(tmp_path / "file" / "state"),
        "-a", LISTED_XBL, "--no-default-zones", "--zone", "bl.spamcop.net", "--retest", "0",
        *FAST,
    )  # fmt: skip
    server.close()
    assert done.code == 3
    assert done.lines[0].startswith(
        "DNSBL UNKNOWN - no list could be used: 1 of 1 failed - bl.spamcop.net broken"
    )


@services
def test_the_deadline_cuts_what_has_not_answered(lab: Lab, tmp_path: Path) -> None:
    """-t 10: the silent list's queries (30 s each) are cut at 9 s, the others answered (room
    for them on a loaded machine)."""
    done = check(
        lab, tmp_path, "-a", LISTED_XBL, "--no-default-zones", "--zone", "bl.spamcop.net",
        "--zone", f"silent.{CUSTOM}", "--query-timeout", "30", "-t", "10",
    )  # fmt: skip
    assert done.code == 2
    assert lines(done)[0] == (
        "DNSBL CRITICAL - 192.0.2.25 listed on bl.spamcop.net - 1 of 1 address listed - 1 of 2 "
        "lists did not answer | listed_addresses=1;;;0 listings=10;;;0 lists_checked=1;;;0 "
        "lists_failed=1;;;0 time=Ts;;;0"
    )
    assert lines(done)[-1] == f"silent.{CUSTOM}: did not answer (3 cut off by -t)"
    assert done.seconds < 20  # cut by the deadline, well before the 30 s queries end


# -- servers that misbehave ----------------------------------------------------------------
class FakeServer:
    """A UDP 'resolver' on loopback that answers every query with ``reply(query)``."""

    def __init__(self, reply: object) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.reply = reply
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            answer = self.reply(query)  # type: ignore[operator]
            if answer is not None:
                self.sock.sendto(answer, peer)

    def close(self) -> None:
        self.sock.close()


def fake_check(server: FakeServer, tmp_path: Path, *args: str) -> PluginRun:
    done = run_script(
        SCRIPT, "--nameserver", server.address, "--state-dir", str(tmp_path / "state"),
        "-a", LISTED_XBL, "--no-default-zones", "--zone", "bl.spamcop.net", *FAST, *args,
    )  # fmt: skip
    server.close()
    assert done.stderr == ""
    return done


NOTHING = "listed_addresses=0;;;0 listings=0;;;0 lists_checked=0;;;0 lists_failed=1;;;0 time=Ts;;;0"


def test_a_resolver_that_never_answers_is_unknown(tmp_path: Path) -> None:
    server = FakeServer(lambda query: None)
    done = fake_check(server, tmp_path)
    assert (done.code, lines(done)) == (
        3,
        [
            f"DNSBL UNKNOWN - no answer from the resolver {server.address} (3 timeouts) | "
            + NOTHING,
            "bl.spamcop.net: did not answer (3 timeouts)",
        ],
    )


def test_a_resolver_that_answers_garbage_is_unknown(tmp_path: Path) -> None:
    server = FakeServer(lambda query: query[:2] + b"\x81\x80garbage")
    done = fake_check(server, tmp_path)
    assert done.code == 3
    assert lines(done) == [
        f"DNSBL UNKNOWN - no answer from the resolver {server.address} (3 bad reply "
        "(short header)) | " + NOTHING,
        "bl.spamcop.net: did not answer (3 bad reply (short header))",
    ]


def test_a_resolver_that_refuses_is_unknown(tmp_path: Path) -> None:
    # the header of the query with QR set and RCODE 5 (REFUSED), the question echoed
    server = FakeServer(lambda query: query[:2] + b"\x81\x05" + query[4:])
    done = fake_check(server, tmp_path)
    assert done.code == 3
    assert lines(done) == [
        f"DNSBL UNKNOWN - no answer from the resolver {server.address} (3 REFUSED) | " + NOTHING,
        "bl.spamcop.net: did not answer (3 REFUSED)",
    ]


def test_a_resolver_that_lies_with_addresses_outside_loopback(tmp_path: Path) -> None:
    """An ISP resolver that rewrites NXDOMAIN to its search page: every list 'lists' us."""

    def rewrite(query: bytes) -> bytes:
        answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([198, 51, 100, 7])
        question = query[12:-11]  # without the query's EDNS0 OPT record (11 bytes)
        return query[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer

    done = fake_check(FakeServer(rewrite), tmp_path)
    assert done.code == 3
    assert lines(done) == [
        "DNSBL UNKNOWN - no list could be used: 1 of 1 failed - bl.spamcop.net answers "
        "198.51.100.7, outside 127.0.0.0/8: not a blocklist answer: ignored | "
        "listed_addresses=0;;;0 listings=0;;;0 lists_checked=0;;;0 lists_failed=1;;;0 "
        "time=Ts;;;0",
        "bl.spamcop.net: answers 198.51.100.7, outside 127.0.0.0/8: not a blocklist answer: its "
        "answers are ignored",
    ]


def test_a_name_too_long_to_ask_is_said_without_the_dqs_key(tmp_path: Path) -> None:
    """A 200-byte domain under a 63-letter DQS key is longer than DNS allows: not asked, and
    the key is in no message."""

    def dbl(query: bytes) -> bytes:
        """DBL's test point listed, anything else NXDOMAIN."""
        if b"\x07dbltest\x03com" not in query:
            return query[:2] + b"\x81\x83" + query[4:]
        answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([127, 0, 1, 2])
        return query[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + query[12:-11] + answer

    key = "k" * 63
    domain = ".".join(["d" * 48] * 4) + ".net"  # 199 bytes
    server = FakeServer(dbl)
    done = run_script(
        SCRIPT, "--nameserver", server.address, "--retest", "0", "--domain", domain,
        "--no-default-zones", "--zone", "dbl.spamhaus.org", *FAST, "-vv",
        env={"DNSBL_DQS_KEY": key},
    )  # fmt: skip
    server.close()
    assert done.code == 3, done.stdout
    assert lines(done)[:2] == [
        "DNSBL UNKNOWN - no list could be used: 1 of 1 failed - 1 of 1 lists did not answer | "
        "listed_addresses=0;;;0 listings=0;;;0 lists_checked=0;;;0 lists_failed=1;;;0 "
        "time=Ts;;;0",
        "dbl.spamhaus.org: did not answer (1 not asked (a name longer than 255 bytes))",
    ]
    assert key not in done.stdout and done.stderr == ""


# -- bad options ------------------------------------------------------------------------------
BAD_OPTIONS = [
    ("", "nothing to check: give -a/--address, --address-file or --domain"),
    ("-a relay1", "'relay1' is not an IPv4 or IPv6 address or block"),
    ("-a 192.0.2.0/16", "192.0.2.0/16: blocks up to /24 only (65536 addresses is too many)"),
    ("--domain 192.0.2.1", "'192.0.2.1' is an address: give it with --address"),
    (
        "-a 192.0.2.1 --zone bl.example.net:severe",
        "'severe' is not a severity (critical, warning, info)",
    ),
    (
        "-a 192.0.2.1 --zones-file /nonexistent",
        "cannot read zones file /nonexistent: No such file or directory",
    ),
    ("-a 192.0.2.1 --address-file /dev/null", "address file /dev/null is not a regular file"),
    ("-a 192.0.2.1 --no-default-zones", "no list to ask: give --zone or --zones-file"),
    (
        "--domain relay.example.net --no-default-zones --zone bl.example.net",
        "no list takes domains: add one with --zone NAME:critical:domain",
    ),
    (
        "-a 192.0.2.1 --nameserver resolver.example.net",
        "--nameserver 'resolver.example.net' is not an IP address with an optional :PORT",
    ),
    (
        "-a 192.0.2.1 --nameserver 127.0.0.1:0",
        "--nameserver '127.0.0.1:0': the port is not 1 to 65535",
    ),
    (
        "-a 192.0.2.1 --retest soon",
        "Invalid value for '--retest': 'soon' is not a duration like 90s, 30m, 2h or 1d",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_OPTIONS)
def test_bad_options_are_one_unknown_line(args: str, message: str) -> None:
    done = run_script(SCRIPT, *args.split())
    assert (done.code, done.stdout, done.stderr) == (
        3,
        f"DNSBL UNKNOWN - {message} (see --help)\n",
        "",
    )


def test_a_bad_dqs_key_is_refused_without_being_shown(tmp_path: Path) -> None:
    key_file = tmp_path / "dqs.key"
    key_file.write_text("s3cret-key with spaces\n")
    done = run_script(SCRIPT, "-a", "192.0.2.1", "--dqs-key-file", str(key_file))
    assert (done.code, done.stdout) == (
        3,
        f"DNSBL UNKNOWN - the DQS key in {key_file} is not a DQS key (8 to 63 letters and "
        "digits) (see --help)\n",
    )
    done = run_script(SCRIPT, "-a", "192.0.2.1", env={"DNSBL_DQS_KEY": "s3cret/key"})
    assert done.stdout == (
        "DNSBL UNKNOWN - $DNSBL_DQS_KEY is not a DQS key (8 to 63 letters and digits) "
        "(see --help)\n"
    )
    assert "s3cret" not in done.stdout
