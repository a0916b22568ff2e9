"""Option types: thresholds on counts, Monitoring Plugins ranges, durations, number lists.

nagiosplugin is imported only when a value is converted, never for ``--help``.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import nagiosplugin


class CountThreshold(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A threshold on a count of things that are up (spans, ports, lines).

    A plain whole number K keeps the classic meaning "alert when K or fewer are up" (the range
    ``K+1:``); anything with ``:``, ``~`` or ``@`` is a Monitoring Plugins range.
    """

    name = "K|RANGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> nagiosplugin.Range:
        import nagiosplugin  # noqa: PLC0415 (not needed for --help)

        if isinstance(value, nagiosplugin.Range):
            return value
        text = str(value).strip()
        if re.fullmatch(r"\d+", text):
            return nagiosplugin.Range(f"{int(text) + 1}:")
        if not re.search(r"[:~@]", text):
            self.fail(f"{text!r} is neither a whole number nor a range like 3: or @0:1", param, ctx)
        try:
            return nagiosplugin.Range(text)
        except ValueError as exc:
            self.fail(f"{text!r} is not a valid range: {exc}", param, ctx)


class RangeType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A Monitoring Plugins range (``10`` alerts above 10, ``10:`` below, ``@10:20`` inside)."""

    name = "RANGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> nagiosplugin.Range:
        import nagiosplugin  # noqa: PLC0415 (not needed for --help)

        if isinstance(value, nagiosplugin.Range):
            return value
        text = str(value).strip()
        if not re.fullmatch(r"@?(~|[-+]?\d+(\.\d+)?)?(:([-+]?\d+(\.\d+)?)?)?", text) or not text:
            self.fail(f"{text!r} is not a range like 100, 10:, ~:10 or @10:20", param, ctx)
        try:
            return nagiosplugin.Range(text)
        except ValueError as exc:
            self.fail(f"{text!r} is not a valid range: {exc}", param, ctx)


#: The longest -t: a day. setitimer and the asyncio loop take larger values badly (OverflowError)
#: and no check should run for longer between two Nagios runs.
MAX_TIMEOUT = 86400


class Timeout(click.FloatRange):
    """-t: seconds, more than 0 and at most :data:`MAX_TIMEOUT`; never NaN or infinite."""

    def __init__(self) -> None:
        super().__init__(min=0, max=MAX_TIMEOUT, min_open=True)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):  # NaN compares false with both ends: the range lets it in
            self.fail(f"{value!r} is not a number of seconds.", param, ctx)
        return seconds


UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = r"(\d+(?:\.\d+)?)([smhdw]?)"


def duration_seconds(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``2h``, ``1d``, ``1w`` as seconds; ValueError otherwise."""
    match = re.fullmatch(_DURATION, text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 2h or 1d")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """``90``, ``90s``, ``30m``, ``2h``, ``1d`` as seconds (0 allowed: "never", "off")."""

    name = "AGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return duration_seconds(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class DurationRange(click.ParamType):  # type: ignore[type-arg]
    """A range whose ends may carry s/m/h/d/w: ``30m`` alerts above 1800 s, ``@1h:2h`` inside."""

    name = "AGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> nagiosplugin.Range:
        import nagiosplugin  # noqa: PLC0415 (not needed for --help)

        if isinstance(value, nagiosplugin.Range):
            return value
        text = str(value).strip().lower()
        match = re.fullmatch(rf"(@?)(?:(~|{_DURATION})?:)?({_DURATION})?", text)
        if not text or not match or (match.group(2) is None and match.group(5) is None):
            self.fail(f"{value!r} is not an age like 30m, 2h, 1d or a range of them", param, ctx)
        invert, start, _, _, end = match.group(1, 2, 3, 4, 5)

        def secs(part: str) -> str:
            return f"{duration_seconds(part):g}"

        spec = invert
        if ":" in text:
            spec += ("~" if start == "~" else secs(start) if start else "") + ":"
        spec += secs(end) if end else ""
        try:
            return nagiosplugin.Range(spec)
        except ValueError as exc:
            self.fail(f"{value!r} is not a valid age range: {exc}", param, ctx)


class NumberList(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """Numbers and ranges such as ``1-4,7``, as a sorted tuple of ints (channels, spans)."""

    name = "LIST"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        numbers: set[int] = set()
        for part in str(value).split(","):
            match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if not match:
                self.fail(f"{part.strip()!r} is not a number or a range like 1-4", param, ctx)
            first, last = int(match.group(1)), int(match.group(2) or match.group(1))
            if first < 1:
                self.fail(f"{part.strip()!r}: numbers start at 1", param, ctx)
            if first > last or last - first > 10000:
                self.fail(f"{part.strip()!r} is not a valid range", param, ctx)
            numbers.update(range(first, last + 1))
        return tuple(sorted(numbers))
