"""The mail log's blocks searched in one pass for all the texts that count (Aho-Corasick).

:class:`tally.BlockCounter` searches a block once per text with ``bytes.count``/``find``: six
passes, each 0.2 to 0.5 s of CPU per GB, where ``grep -c`` reads the whole GB in 0.35 s. Here
one automaton (``ahocorasick_rs``, a wrapper of Rust's aho-corasick crate, whose SIMD
prefilter skips the bytes that cannot start a text) finds every occurrence of every text in
one pass, and each occurrence costs one step of Python: a count for the common kinds (a sent
delivery, a CLEAN outbound verdict), the start of its line for the rest. Same texts, same
counts and same lines as the BlockCounter's (a test holds them together).

The automaton searches each text without the spaces and colons it starts with (:func:`lead`),
which are compared after. Its matches are leftmost-first and do not overlap: at one place
``status=sent `` wins over ``status=`` and the CLEAN outbound verdict over ``Passed `` (the
order of the texts). The lead is never consumed and no text can begin inside another's match
(a test holds the texts to that), so even texts glued together (``status=sent Passed ...``)
are each found, as the BlockCounter finds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from isp_plugins.sources.postfix_log import lines as parse

if TYPE_CHECKING:
    from isp_plugins.sources.postfix_log.tally import Tally

try:
    import ahocorasick_rs
except ImportError:  # no wheel for this platform: tally falls back to BlockCounter
    ahocorasick_rs = None  # type: ignore[assignment]

#: What an occurrence of each text means: count a sent delivery, count a CLEAN outbound
#: verdict, or parse its line.
SENT, CLEAN, LINE = 0, 1, 2
POSTFIX_TEXTS = ((parse.SENT, SENT), (parse.STATUS, LINE), (parse.REJECT, LINE))
AMAVIS_TEXTS = ((parse.OUTBOUND_CLEAN, CLEAN), (parse.PASSED, LINE), (parse.BLOCKED, LINE))
#: Bytes searched per call: the list of matches of one call stays in the CPU's caches (16 MB
#: at once is a third slower than 1 MB at a time), and its size stays bounded whatever the
#: lines (a log line of texts only, as long as the log, would otherwise make one huge list).
SLICE = 1 << 20


def lead(text: bytes) -> bytes:
    """The spaces and colons a text starts with: compared after, not searched (a text that
    starts with a space makes the automaton's prefilter stop at nearly every space of the log,
    four times slower)."""
    return text[: len(text) - len(text.lstrip(b" :"))]


def available() -> bool:
    """Whether the automaton can be used here."""
    return ahocorasick_rs is not None


class AutomatonCounter:
    """Counts the complete lines of one region after another, in one pass each."""

    def __init__(self, tally: Tally, postfix: bool, amavis: bool) -> None:
        assert ahocorasick_rs is not None, "check available() first"
        texts = (POSTFIX_TEXTS if postfix else ()) + (AMAVIS_TEXTS if amavis else ())
        self.tally, self.postfix, self.amavis = tally, postfix, amavis
        self.kinds = tuple(kind for _, kind in texts)
        self.leads = tuple(lead(text) for text, _ in texts)
        self.sizes = tuple(len(text) for text in self.leads)
        searched = [text[len(lead(text)) :] for text, _ in texts]
        #: Slices overlap by this much: a text that starts in the overlap is taken from the
        #: next slice, which holds it whole.
        self.overlap = max(map(len, searched), default=1) - 1
        self.searcher = ahocorasick_rs.BytesAhoCorasick(
            searched, matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST
        )

    def count(self, data: bytes, start: int, end: int) -> None:
        """Count the complete lines of data[start:end]."""
        if not self.kinds:
            return
        found: set[int] = set()
        kinds, leads, sizes = self.kinds, self.leads, self.sizes
        search = self.searcher.find_matches_as_indexes
        sent = clean = 0
        # Where the last counted one ended: bytes.count counts one text and the next only when
        # they do not overlap, so " status=sent status=sent " (the second's leading space is
        # the first's trailing one) is one, and the BlockCounter's counts are bytes.count's.
        after_sent = after_clean = -1
        view = memoryview(data)
        piece = start
        while piece < end:
            stop = min(piece + SLICE, end)
            # Texts that start before the next slice; the last slice takes all.
            limit = stop - self.overlap if stop < end else end
            for index, first, last in search(view[piece:stop]):
                at = piece + first
                if at >= limit:
                    break  # (matches come in order)
                # (the lead before data[start]: a newline; before data[0]: an empty slice)
                if data[at - sizes[index] : at] != leads[index]:
                    continue
                kind = kinds[index]
                if kind == SENT:
                    if at != after_sent:
                        sent += 1
                        after_sent = piece + last
                elif kind == CLEAN:
                    if at != after_clean:
                        clean += 1
                        after_clean = piece + last
                else:
                    found.add(data.rfind(b"\n", start, at) + 1 or start)
            piece = limit
        tally = self.tally
        tally.sent += sent
        if self.amavis:
            tally.outbound["CLEAN"] += clean
        tally.add_lines(data, found, end, self.postfix, self.amavis)
