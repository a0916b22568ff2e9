"""Each daemon's own rule, in SQL that the daemon's indexes serve, then checked in Python.

The SQL selects the few senders at or above --near (and the highest usage of all); the
offender decision on those rows repeats the daemon's arithmetic exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ratelimit.db import Connection, require
from ratelimit.model import Report, Usage, by_sender, human_seconds, percent

BACKENDS = ("policyd1", "cluebringer", "policyd-rate-limit")


def _placeholders(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def _not_in(column: str, values: Sequence[object]) -> str:
    return f" AND {column} NOT IN ({_placeholders(values)})" if values else ""


def _greatest(kind: str, *exprs: str) -> str:
    return f"{'MAX' if kind == 'sqlite' else 'GREATEST'}({', '.join(exprs)})"


def _finish(usages: Iterable[Usage], max_usage: float | None, report: Report) -> Report:
    report.senders = by_sender(usages)
    highest = max((s.percent for s in report.senders), default=0.0)
    report.max_usage = max(highest, max_usage or 0.0)
    return report


# -- policyd v1 (postfix-policyd 1.8x) ----------------------------------------------------
@dataclass(frozen=True)
class Policyd1Defaults:
    """policyd.conf's SENDERMSGLIMIT, SENDERRCPTLIMIT, SENDERQUOTALIMIT, SENDERTIMELIMIT."""

    msg: int = 512
    rcpt: int = 3600
    quota: int = 250000000
    window: int = 86400


POLICYD1_COLUMNS = {
    "throttle": (
        "_from",
        "_count_max",
        "_count_cur",
        "_date",
        "_quota_cur",
        "_quota_max",
        "_time_limit",
        "_rcpt_max",
        "_rcpt_cur",
        "_abuse_cur",
        "_abuse_tot",
    )
}


def policyd1(
    conn: Connection, defaults: Policyd1Defaults, near: float, now: int, exclude: Sequence[str]
) -> Report:
    """Fixed window, lazy reset: a row counts only while ``now <= _date + _time_limit``.

    The daemon refuses while ``_count_cur >= _count_max`` or ``_quota_cur >= _quota_max`` or
    ``_rcpt_cur >= _rcpt_max`` (0 in a row means the policyd.conf default), and sets
    ``_abuse_cur`` when it does.
    """
    require(conn.columns(), POLICYD1_COLUMNS, "policyd v1")
    cm = f"(CASE WHEN _count_max = 0 THEN {int(defaults.msg)} ELSE _count_max END)"
    qm = f"(CASE WHEN _quota_max = 0 THEN {int(defaults.quota)} ELSE _quota_max END)"
    rm = f"(CASE WHEN _rcpt_max = 0 THEN {int(defaults.rcpt)} ELSE _rcpt_max END)"
    tl = f"(CASE WHEN _time_limit = 0 THEN {int(defaults.window)} ELSE _time_limit END)"
    is_open = f"_date + {tl} >= ?"
    excluded = _not_in("_from", exclude)
    rows = conn.query(
        f"SELECT _from, _count_cur, {cm}, _quota_cur, {qm}, _rcpt_cur, {rm}, {tl}, _abuse_cur "
        f"FROM throttle WHERE {is_open}{excluded} AND (_abuse_cur >= 1 "
        f"OR _count_cur * 100.0 >= ? * {cm} OR _quota_cur * 100.0 >= ? * {qm} "
        f"OR _rcpt_cur * 100.0 >= ? * {rm})",
        (now, *exclude, near, near, near),
    )
    pct = _greatest(
        conn.kind,
        f"_count_cur * 100.0 / {cm}",
        f"_quota_cur * 100.0 / {qm}",
        f"_rcpt_cur * 100.0 / {rm}",
    )
    top = conn.query(f"SELECT MAX({pct}) FROM throttle WHERE {is_open}{excluded}", (now, *exclude))
    usages: list[Usage] = []
    for ident, count, cmax, quota, qmax, rcpt, rmax, window, abuse in rows:
        span = human_seconds(int(window))
        items = [
            Usage(str(ident), int(count), int(cmax), "messages", span, int(count) >= int(cmax)),
            Usage(str(ident), int(quota), int(qmax), "bytes", span, int(quota) >= int(qmax)),
            Usage(str(ident), int(rcpt), int(rmax), "recipients", span, int(rcpt) >= int(rmax)),
        ]
        if int(abuse or 0) >= 1 and not any(u.offender for u in items):
            worst = max(items, key=lambda u: u.percent)
            items[items.index(worst)] = Usage(
                worst.identity, worst.used, worst.limit, worst.unit, span, True, "abuse flag set"
            )
        usages += items
    value = top[0][0] if top else None
    return _finish(usages, float(value) if value is not None else None, Report())


# -- cluebringer (policyd v2) quotas ------------------------------------------------------
TRACK_TYPES = ("Sender", "SenderIP", "SASLUsername", "Recipient", "Policy")


def cluebringer_columns(prefix: str) -> dict[str, tuple[str, ...]]:
    return {
        f"{prefix}quotas": ("ID", "Name", "Period", "Disabled"),
        f"{prefix}quotas_limits": ("ID", "QuotasID", "Type", "CounterLimit", "Disabled"),
        f"{prefix}quotas_tracking": ("QuotasLimitsID", "TrackKey", "LastUpdate", "Counter"),
    }


def cluebringer_keys(exclude: Sequence[str]) -> list[str]:
    """--exclude bob matches TrackKey bob, Sender:bob, SASLUsername:bob and the like."""
    keys: list[str] = []
    for item in exclude:
        keys.append(item)
        if ":" not in item or item.split(":", 1)[0] not in TRACK_TYPES:
            keys += [f"{kind}:{item}" for kind in TRACK_TYPES]
    return keys


def decayed(counter: float, last_update: float | None, period: float, now: float) -> float:
    """Quotas.pm: the counter shrinks linearly to 0 over the quota's Period."""
    elapsed = period if last_update is None else max(0.0, now - last_update)
    if elapsed > period:
        return 0.0
    return (1 - elapsed / period) * counter


def cluebringer(
    conn: Connection, prefix: str, near: float, now: int, exclude: Sequence[str]
) -> Report:
    """Linear decay over ``Period``; a sender is refused when the decayed counter is strictly
    greater than ``CounterLimit``. Disabled quotas and limits are skipped."""
    require(conn.columns(), cluebringer_columns(prefix), "cluebringer")
    q, lim, t = f"{prefix}quotas", f"{prefix}quotas_limits", f"{prefix}quotas_tracking"
    periods = conn.query(f"SELECT MAX(Period) FROM {q} WHERE Disabled = 0 AND Period > 0")
    longest = periods[0][0] if periods and periods[0][0] is not None else None
    if longest is None:
        return Report(notes=["no enabled quota with a period"])
    keys = cluebringer_keys(exclude)
    elapsed = "(CASE WHEN t.LastUpdate > ? THEN 0 ELSE ? - t.LastUpdate END)"
    current = f"(t.Counter * (1 - {elapsed} * 1.0 / q.Period))"
    base = (
        f"FROM {t} t JOIN {lim} l ON l.ID = t.QuotasLimitsID "
        f"JOIN {q} q ON q.ID = l.QuotasID "
        "WHERE t.LastUpdate >= ? AND l.Disabled = 0 AND q.Disabled = 0 AND q.Period > 0 "
        f"AND t.LastUpdate >= ? - q.Period{_not_in('t.TrackKey', keys)}"
    )
    since = now - int(longest)
    params = (since, now, *keys)
    rows = conn.query(
        f"SELECT t.TrackKey, q.Name, l.Type, l.CounterLimit, t.Counter, t.LastUpdate, q.Period "
        f"{base} AND {current} * 100.0 >= ? * l.CounterLimit AND {current} > 0",
        (*params, now, now, near, now, now),
    )
    pct = f"{current} * 100.0 / l.CounterLimit"
    top = conn.query(f"SELECT MAX({pct}) {base} AND l.CounterLimit > 0", (now, now, *params))
    usages = []
    for key, name, kind, limit, counter, last, period in rows:
        used = decayed(
            float(counter or 0), None if last is None else float(last), float(period), now
        )
        unit = "bytes" if str(kind).lower() == "messagecumulativesize" else "messages"
        usages.append(
            Usage(
                str(key),
                round(used, 2),
                float(limit),
                unit,
                f"{human_seconds(int(period))} decaying",
                used > float(limit),
                f"quota {name}",
            )
        )
    value = top[0][0] if top else None
    return _finish(usages, float(value) if value is not None else None, Report())


# -- policyd-rate-limit ------------------------------------------------------------------
@dataclass(frozen=True)
class RateLimits:
    """``limits`` ([mails, seconds] pairs) and ``limits_by_id`` from the daemon's YAML."""

    limits: tuple[tuple[int, int], ...] = ((10, 60), (150, 86400))
    by_id: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    def of(self, ident: str) -> tuple[tuple[int, int], ...]:
        return self.by_id.get(ident, self.limits)


PRL_COLUMNS = {"mail_count": ("id", "date", "recipient_count")}


def policyd_rate_limit(
    conn: Connection, limits: RateLimits, near: float, now: int, exclude: Sequence[str]
) -> Report:
    """Sliding windows: for each (N, S) the daemon sums ``recipient_count`` over
    ``date >= int(now - S)`` and refuses when that sum plus the new message exceeds N, so a
    sender whose sum is N or more is refused."""
    found = conn.columns()
    require(found, PRL_COLUMNS, "policyd-rate-limit")
    windows = sorted({s for pairs in (limits.limits, *limits.by_id.values()) for _, s in pairs})
    report = Report()
    if not windows:
        report.notes.append("no limit configured")
        return report
    sums = ", ".join("SUM(CASE WHEN date >= ? THEN recipient_count ELSE 0 END)" for _ in windows)
    since = [int(now - s) for s in windows]
    rows = conn.query(
        f"SELECT id, {sums} FROM mail_count WHERE date >= ?{_not_in('id', exclude)} GROUP BY id",
        (*since, min(since), *exclude),
    )
    hits: dict[str, list[tuple[int, int]]] = {}
    if "limit_report" in found and {"id", "delta", "hit"} <= found["limit_report"]:
        for ident, delta, hit in conn.query(
            f"SELECT id, delta, hit FROM limit_report WHERE hit > 0{_not_in('id', exclude)}",
            tuple(exclude),
        ):
            hits.setdefault(str(ident), []).append((int(delta), int(hit)))
    usages: list[Usage] = []
    highest = 0.0
    for row in rows:
        ident, used_by_window = str(row[0]), dict(zip(windows, row[1:]))
        for mails, seconds in limits.of(ident):
            used = int(used_by_window.get(seconds) or 0)
            share = percent(used, mails)
            highest = max(highest, share)
            if share >= near or used >= mails:
                note = ", ".join(f"{h} hits ({human_seconds(d)})" for d, h in hits.get(ident, []))
                usages.append(
                    Usage(
                        ident,
                        used,
                        mails,
                        "recipients",
                        human_seconds(seconds),
                        used >= mails,
                        note,
                    )
                )
    for ident, items in sorted(hits.items()):
        total = sum(h for _, h in items)
        report.notes.append(f"limit_report: {ident} hit a limit {total} times since the last clean")
    return _finish(usages, highest, report)
