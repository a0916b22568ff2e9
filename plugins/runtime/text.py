"""Text helpers for status lines and long output: the one sanitize, age format, plural and
threshold wording."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nagiosplugin

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def sanitize(text: str, limit: int | None = None) -> str:
    """Text from outside (a log, a database, a server) made safe for plugin output: one line
    (runs of white space become one space), no '|' (it would start the perfdata), other
    control characters shown as '?', and at most ``limit`` characters."""
    if (
        type(text) is str
        # printable: no control character and no white space but " " (str.isprintable)
        and text.isprintable()
        and "|" not in text
        and "  " not in text
        and text[:1] != " "
        and text[-1:] != " "
        and (limit is None or len(text) <= limit)
    ):
        return text  # already one clean line (most are): what follows would return it as is
    flat = _CONTROL.sub("?", " ".join(str(text).replace("|", "/").split()))
    if limit is None or len(flat) <= limit:
        return flat
    return flat[: limit - 3] + "..."


def human_age(seconds: float) -> str:
    """42s, 5m 12s, 2h 5m, 3d 4h: two units at most."""
    secs = int(seconds)
    if secs < 60:
        return f"{secs}s"
    for unit, size, small, small_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if secs >= size:
            rest = (secs % size) // small_size
            return f"{secs // size}{unit}" + (f" {rest}{small}" if rest else "")
    raise AssertionError  # pragma: no cover


def plural(count: int, word: str) -> str:
    """``1 failure``, ``2 failures``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _bound(value: float, age: bool) -> str:
    return human_age(value) if age else f"{value:g}"


def describe_range(rng: nagiosplugin.Range, age: bool = False) -> str:
    """How a value breaks ``rng``, in words: "above 500", "below 2", "inside 10..20" (ages
    written as ages with ``age``)."""
    start, end = rng.start, rng.end
    if rng.invert:
        return f"inside {_bound(start, age)}..{_bound(end, age)}"
    if math.isinf(end):
        return f"below {_bound(start, age)}"
    if start <= 0 or math.isinf(start):
        return f"above {_bound(end, age)}"
    return f"outside {_bound(start, age)}..{_bound(end, age)}"
