"""The daemons' configuration files: policyd v1's policyd.conf, policyd-rate-limit's YAML."""

from __future__ import annotations

import os
import re
import stat
from typing import Any

from isp_plugins.sources.ratelimit.backends import Policyd1Defaults, RateLimits


class ConfigError(ValueError):
    """A configuration file we cannot use (UNKNOWN)."""


def read_text(path: str, what: str) -> str:
    """A regular file's text (never a FIFO or a device, which would block the check)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(f"{what} {path} is not a regular file")
        with open(path, encoding="utf-8") as handle:
            return handle.read(1 << 20)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {what} {path}: not UTF-8 text") from None


POLICYD1_KEYS = {
    "SENDERMSGLIMIT": "msg",
    "SENDERRCPTLIMIT": "rcpt",
    "SENDERQUOTALIMIT": "quota",
    "SENDERTIMELIMIT": "window",
}


def policyd1_defaults(text: str, base: Policyd1Defaults) -> Policyd1Defaults:
    """SENDERMSGLIMIT=512 style lines override ``base``; other keys are ignored."""
    values = {name: getattr(base, name) for name in POLICYD1_KEYS.values()}
    for line in text.splitlines():
        match = re.match(r"\s*([A-Z_]+)\s*=\s*\"?([^\"#\s]*)", line)
        if not match or match.group(1) not in POLICYD1_KEYS:
            continue
        key, value = match.groups()
        if not value.isdigit():
            raise ConfigError(f"policyd.conf {key}={value!r} is not a whole number")
        values[POLICYD1_KEYS[key]] = int(value)
    return Policyd1Defaults(**values)


def _pairs(value: Any, where: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} is not a list of [mails, seconds]")
    pairs = []
    for item in value:
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in item)
        ):
            raise ConfigError(f"{where}: {item!r} is not [mails, seconds]")
        pairs.append((int(item[0]), int(item[1])))
    return tuple(pairs)


def rate_limits(text: str, path: str = "the YAML") -> RateLimits:
    """``limits`` and ``limits_by_id`` of a policyd-rate-limit.yaml (daemon defaults if absent)."""
    import yaml  # noqa: PLC0415 (only for --config)

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not YAML: {' '.join(str(exc).split())[:120]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a policyd-rate-limit configuration")
    limits = RateLimits()
    pairs = limits.limits if data.get("limits") is None else _pairs(data["limits"], "limits")
    by_id_raw = data.get("limits_by_id") or {}
    if not isinstance(by_id_raw, dict):
        raise ConfigError("limits_by_id is not a mapping of id -> limits")
    by_id = {str(k): _pairs(v or [], f"limits_by_id {k}") for k, v in by_id_raw.items()}
    sql = data.get("sql_limits_by_id") or ""
    if not isinstance(sql, str):
        raise ConfigError("sql_limits_by_id is not an SQL query")
    return RateLimits(pairs, by_id, sql.strip())
