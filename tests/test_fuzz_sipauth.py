"""Property-based tests: the Asterisk log parsers return events or None, never raise; the
counting of a log cut anywhere equals the counting of its lines; a rendered event parses
back to itself; each failure counts once (against a reference matching)."""

from __future__ import annotations

import ipaddress
import os
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from isp_plugins.sources.logtail import search, stamps
from isp_plugins.sources.sip_security import lines, tally
from isp_plugins.sources.sip_security.lines import FINGERPRINTS
from tests.conftest import FUZZ_SEED, ROOT

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIXTURE_LINES = [
    line
    for path in sorted((ROOT / "fixtures" / "asterisk_security").glob("*.log"))
    for line in path.read_text().splitlines()
]
fixture_lines = st.sampled_from(FIXTURE_LINES)


def parsed(line: str) -> lines.AuthEvent | None:
    found = lines.parse_line(line, now=1735000000.0)
    assert found is None or isinstance(found, lines.AuthEvent)
    return found


@seed(FUZZ_SEED)
@fuzz
@given(st.text(max_size=300))
def test_parse_line_on_arbitrary_text(text: str) -> None:
    parsed(text)


@seed(FUZZ_SEED)
@fuzz
@given(fixture_lines, st.integers(min_value=0, max_value=400), st.text(max_size=20))
def test_parse_line_on_cut_and_spliced_fixture_lines(line: str, cut: int, junk: str) -> None:
    parsed(line[:cut])
    parsed(line[:cut] + junk + line[cut:])
    parsed(line.replace("'", junk).replace('"', junk))


@seed(FUZZ_SEED)
@fuzz
@given(
    st.sampled_from(
        [
            "Registration from '{a}' failed for '{b}' - Wrong password",
            "Request '{a}' from '{a}' failed for '{b}' (callid: {a}) - Failed to authenticate",
            'SecurityEvent="InvalidPassword",EventTV="{a}",Service="SIP",AccountID="{a}",'
            'RemoteAddress="{b}"',
            "[{a}] {b}",
            "{a} x",
        ]
    ),
    st.text(max_size=60),
    st.text(alphabet="0123456789abcdef:.[]/%IPV4UDP- ", max_size=60),
)
def test_parse_line_on_hostile_fields(form: str, a: str, b: str) -> None:
    parsed(form.format(a=a, b=b))
    stamps.stamp_seconds(a)
    stamps.stamp_seconds(b)


@seed(FUZZ_SEED)
@settings(max_examples=max(EXAMPLES // 5, 20), deadline=None)
@given(st.lists(fixture_lines, min_size=1, max_size=40), st.integers(min_value=1, max_value=300))
def test_block_search_finds_every_event_line(picked: list[str], block: int) -> None:
    text = ("\n".join(picked) + "\n").encode()
    path = Path(tempfile.gettempdir()) / f"sipauth-fuzz-{os.getpid()}.log"
    path.write_bytes(text)
    try:
        got = list(search.file_lines(str(path), 0, len(text), lines.FINGERPRINTS, block=block))
        want = [
            line.encode() for line in picked if any(f in line.encode() for f in lines.FINGERPRINTS)
        ]
        assert got == want
        events = [e for e in (parsed(line) for line in picked) if e is not None]
        assert list(tally.events_in(str(path), 0, len(text), 1735000000.0)) == events
    finally:
        path.unlink()


@seed(FUZZ_SEED)
@fuzz
@given(
    st.lists(
        st.sampled_from([b"' failed for '", b"' failed for", b"'", b"\n", b"x", b"failed "]),
        max_size=60,
    ),
)
def test_needle_modes_find_the_same_lines(pieces: list[bytes]) -> None:
    """The anchor-byte search and the whole-text search (for a common anchor) agree."""
    data = b"".join(pieces)
    text = FINGERPRINTS[0]
    by_anchor: set[int] = set()
    by_text: set[int] = set()
    for at in range(len(text)):
        by_anchor.clear()
        search.Needle(text, at).lines(data, 0, len(data), by_anchor)
        search.Needle(text, at, whole=True).lines(data, 0, len(data), by_text)
        assert by_anchor == by_text
    naive = set()
    start = 0
    for line in data.split(b"\n"):
        if text in line:
            naive.add(start)
        start += len(line) + 1
    assert by_text == naive


@seed(FUZZ_SEED)
@settings(max_examples=max(EXAMPLES // 5, 20), deadline=None)
@given(st.lists(fixture_lines, min_size=1, max_size=300), st.integers(min_value=1, max_value=400))
def test_budgeted_reads_resume_without_loss_or_repeat(picked: list[str], block: int) -> None:
    """Reads that run out of time, each resumed where the last stopped, see every line once."""
    text = ("\n".join(picked) + "\n").encode()
    path = Path(tempfile.gettempdir()) / f"sipauth-budget-{os.getpid()}.log"
    path.write_bytes(text)
    try:
        whole = list(search.file_lines(str(path), 0, len(text), lines.FINGERPRINTS, block=block))
        roomy = search.Budget(deadline=float("inf"))
        assert (
            list(
                search.file_lines(str(path), 0, len(text), FINGERPRINTS, block=block, budget=roomy)
            )
            == whole
        )
        got: list[bytes] = []
        start = 0
        while True:
            spent = search.Budget(deadline=0.0)
            got += search.file_lines(
                str(path), start, len(text), FINGERPRINTS, block=block, budget=spent
            )
            if spent.stopped_at is None:
                break
            assert start < spent.stopped_at <= len(text)
            assert spent.stopped_at == 0 or text[spent.stopped_at - 1 : spent.stopped_at] == b"\n"
            start = spent.stopped_at
        assert got == whole
    finally:
        path.unlink()


# -- properties: a rendered event parses back; counting once per failure ------------------
accounts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8).map(
    lambda words: str(ipaddress.ip_address(":".join(f"{w:x}" for w in words)))
)
#: 2024-05-01 10:00:00 local time, plus whole seconds (the logger's stamps)
BASE = time.mktime((2024, 5, 1, 10, 0, 0, 0, 0, -1))


def render(event: lines.AuthEvent) -> str:
    """The line Asterisk logs for ``event`` (formats: asterisk-formats.md §7)."""
    assert event.when is not None
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.when))
    where = f"[{event.source}]:5060" if ":" in event.source else f"{event.source}:5060"
    if event.form == "chan_sip":
        return (
            f"[{stamp}] NOTICE[4567]: chan_sip.c:28390 handle_request_register: Registration "
            f"from '<sip:{event.account}@192.0.2.10>' failed for '{where}' - {event.reason}"
        )
    if event.form == "pjsip":
        return (
            f"[{stamp}] NOTICE[2001] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from "
            f"'<sip:{event.account}@192.0.2.10>' failed for '{where}' (callid: 1a) - "
            f"{event.reason}"
        )
    family = "IPV6" if ":" in event.source else "IPV4"
    return (
        f"[{stamp}] SECURITY[4567]: res_security_log.c:96 security_event_stasis_cb: "
        f'SecurityEvent="{event.reason}",EventTV="1-1",Severity="Error",Service="PJSIP",'
        f'EventVersion="1",AccountID="{event.account}",SessionID="x",'
        f'LocalAddress="IPV4/UDP/192.0.2.10/5060",RemoteAddress="{family}/UDP/{event.source}/5060"'
    )


@st.composite
def auth_events(draw: st.DrawFn) -> lines.AuthEvent:
    form = draw(st.sampled_from(["chan_sip", "pjsip", "security"]))
    reasons = {
        "chan_sip": sorted(lines.SIP_REASONS),
        "pjsip": sorted(lines.PJSIP_REASONS),
        "security": sorted(lines.FAILURE_EVENTS | {lines.SUCCESS_EVENT}),
    }[form]
    reason = draw(st.sampled_from(reasons))
    return lines.AuthEvent(
        ok=reason == lines.SUCCESS_EVENT,
        source=draw(st.one_of(ipv4, ipv6)),
        account=draw(accounts),
        reason=reason,
        form=form,
        when=BASE + draw(st.integers(0, 10**7)),
    )


@seed(FUZZ_SEED)
@settings(max_examples=max(EXAMPLES // 2, 50), deadline=None)
@given(auth_events())
def test_a_rendered_event_parses_back(event: lines.AuthEvent) -> None:
    assert lines.parse_line(render(event), now=BASE + 10**8) == event


def reference_pairs(events: list[lines.AuthEvent]) -> int:
    """Written apart from tally.Pairing: per (source, account), the two forms' sorted times
    matched greedily, earliest first, within PAIR_SECONDS (a maximum matching on a line)."""
    pairs = 0
    for key in {(e.source, e.account) for e in events}:
        mine = [e for e in events if (e.source, e.account) == key]
        a = sorted(e.when or 0.0 for e in mine if e.form == "security")
        b = sorted(e.when or 0.0 for e in mine if e.form != "security")
        i = j = 0
        while i < len(a) and j < len(b):
            if abs(a[i] - b[j]) <= tally.PAIR_SECONDS:
                pairs, i, j = pairs + 1, i + 1, j + 1
            elif a[i] < b[j]:
                i += 1
            else:
                j += 1
    return pairs


@seed(FUZZ_SEED)
@settings(max_examples=max(EXAMPLES // 4, 50), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["chan_sip", "pjsip", "security"]),
            st.sampled_from(["203.0.113.5", "203.0.113.6", "2001:db8::1"]),
            st.sampled_from(["1001", "1002"]),
            st.sampled_from([0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 4.0]),
        ),
        max_size=60,
    )
)
def test_each_failure_counts_once(picked: list[tuple[str, str, str, float]]) -> None:
    """The count is NOTICE lines + security events - pairs, with pairs as a reference
    matching finds them; nothing is negative; every failure is in one source's count."""
    when = BASE
    events = []
    for form, source, account, step in picked:
        when += step  # lines in the order of their times, several in a second
        reason = "InvalidPassword" if form == "security" else "Wrong password"
        events.append(lines.AuthEvent(False, source, account, reason, form, when))
    found = tally.count_events(events, tally.Tally())
    counts = found.counts
    security = sum(1 for e in events if e.form == "security")
    assert (found.security_events, found.notice_lines) == (security, len(events) - security)
    assert found.pairs == reference_pairs(events)
    assert counts.attempts == len(events) - found.pairs
    assert counts.attempts >= max(security, len(events) - security)
    assert sum(counts.per_source.values()) == counts.attempts
    assert all(n > 0 for n in counts.per_source.values())
    assert counts.accounts == {e.account for e in events}
    assert set(counts.per_source) == {e.source for e in events}
