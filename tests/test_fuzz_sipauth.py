"""Property-based tests: the Asterisk log parsers return events or None, never raise; the
counting of a log cut anywhere equals the counting of its lines."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from isp_plugins.sources.logtail import search
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
    lines.stamp_seconds(a)
    lines.stamp_seconds(b)


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
