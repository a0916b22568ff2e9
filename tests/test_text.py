"""runtime.text: sanitize's fast path for text that is already clean changes nothing."""

from __future__ import annotations

import re

from hypothesis import given, seed, settings
from hypothesis import strategies as st

from isp_plugins.runtime.text import sanitize
from tests.conftest import FUZZ_SEED

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def reference(text: str, limit: int | None) -> str:
    """sanitize as it was written before its fast path."""
    flat = _CONTROL.sub("?", " ".join(str(text).replace("|", "/").split()))
    if limit is None or len(flat) <= limit:
        return flat
    return flat[: limit - 3] + "..."


#: Clean text, and each kind of character sanitize rewrites (white space of every sort).
TEXT = st.one_of(
    st.text(),
    st.text(st.sampled_from("ab |\t\n\r\x00\x1f\x7f\x85\xa0\u2028\u3000é")),
    st.from_regex(r"[a-z0-9.:/@-]+( [a-z0-9.:/@-]+)*", fullmatch=True),
)


@seed(FUZZ_SEED)
@settings(max_examples=500, deadline=None)
@given(TEXT, st.one_of(st.none(), st.integers(min_value=3, max_value=40)))
def test_sanitize_is_what_it_was(text: str, limit: int | None) -> None:
    assert sanitize(text, limit) == reference(text, limit)
