"""Zone specifications: ``--zone NAME[:SEVERITY[:KINDS]]`` and zones files, ours or check_rbl's.

Our format: one list per line, ``ZONE [SEVERITY] [KINDS]`` (KINDS: ipv4,ipv6,domain), '#'
comments. check_rbl's configuration file (Monitoring::Plugin extra-opts, INI style) is read
too: its ``server=ZONE`` lines in every section, ';' and '#' comments; its other options
(host, warning, timeout, ...) are command-line matters here and are ignored.
"""

from __future__ import annotations

from typing import NamedTuple

from isp_plugins.sources.dnsbl.lists import KINDS, SEVERITIES
from isp_plugins.sources.dnsbl.names import BadTarget, parse_zone

#: check_rbl's options (long and short names) that an extra-opts file may carry besides server.
CHECK_RBL_OPTIONS = frozenset(
    {
        *("host", "H", "url", "U", "warning", "w", "critical", "c", "timeout", "t"),
        *("retry", "r", "workers", "query-timeout", "debug", "d", "verbose", "v"),
        *("append", "a", "whitelistings", "wl", "nameserver", "n"),
    }
)


class ZoneSpec(NamedTuple):
    zone: str
    severity: str | None  # None: the built-in list's, or critical for a new one
    kinds: frozenset[str] | None  # None: the built-in list's, or ipv4 for a new one


def _severity(text: str) -> str:
    value = text.strip().lower()
    if value not in SEVERITIES:
        raise BadTarget(f"{text!r} is not a severity ({', '.join(SEVERITIES)})")
    return value


def _kinds(text: str) -> frozenset[str]:
    kinds = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    if not kinds or not kinds <= set(KINDS):
        raise BadTarget(f"{text!r} is not a list of kinds ({','.join(KINDS)})")
    return kinds


def parse_spec(text: str) -> ZoneSpec:
    """``NAME[:SEVERITY[:KINDS]]``, as --zone takes it."""
    parts = text.split(":")
    if len(parts) > 3:
        raise BadTarget(f"{text!r} is not NAME[:SEVERITY[:KINDS]]")
    severity = _severity(parts[1]) if len(parts) > 1 else None
    kinds = _kinds(parts[2]) if len(parts) > 2 else None
    return ZoneSpec(parse_zone(parts[0]), severity, kinds)


def parse_zones_file(content: str, where: str) -> list[ZoneSpec]:
    """Every zone of a zones file (see the module's doc); BadTarget names the line at fault."""
    specs = []
    for number, raw in enumerate(content.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;" or (line.startswith("[") and line.endswith("]")):
            continue
        try:
            if "=" in line:  # check_rbl: key=value
                key, _, value = (part.strip() for part in line.partition("="))
                if key in ("server", "s"):
                    specs.append(ZoneSpec(parse_zone(value), None, None))
                elif key not in CHECK_RBL_OPTIONS:
                    raise BadTarget(f"{key!r} is not a check_rbl option")
                continue
            words = line.split("#", 1)[0].split()
            if len(words) > 3:
                raise BadTarget(f"{line!r} is not ZONE [SEVERITY] [KINDS]")
            severity = _severity(words[1]) if len(words) > 1 else None
            kinds = _kinds(words[2]) if len(words) > 2 else None
            specs.append(ZoneSpec(parse_zone(words[0]), severity, kinds))
        except BadTarget as exc:
            raise BadTarget(f"{where} line {number}: {exc}") from None
    return specs
