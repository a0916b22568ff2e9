"""Each daemon's own rule, in SQL that the daemon's indexes serve, then checked in Python.

The SQL selects the few senders at or above --near (and the highest usage of all); the
offender decision on those rows repeats the daemon's arithmetic exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from isp_plugins.sources.ratelimit.db import Connection, require
from isp_plugins.sources.ratelimit.model import Report, Usage, by_sender, human_seconds, percent


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


#: policyd v1 rows at or above --near fetched at most (more are only counted).
HOT_ROWS = 1000


def _text_order(kind: str, column: str) -> str:
    """``column`` in code point order, as Python sorts (ties at the --top cut-off)."""
    if kind == "mysql":
        return f"BINARY {column}"
    if kind == "postgresql":
        return f'{column} COLLATE "C"'
    return column


def policyd1(
    conn: Connection,
    defaults: Policyd1Defaults,
    near: float,
    now: int,
    exclude: Sequence[str],
    top: int | None = None,
) -> Report:
    """Fixed window, lazy reset: a row counts only while ``now <= _date + _time_limit``.

    The daemon refuses while ``_count_cur >= _count_max`` or ``_quota_cur >= _quota_max`` or
    ``_rcpt_cur >= _rcpt_max`` (0 in a row means the policyd.conf default), and sets
    ``_abuse_cur`` when it does.

    ``throttle`` has no index but its unique ``_from`` (DATABASE.mysql), so a query is one
    scan of the table, and the aim is one scan per run. With ``top`` given, the scan ranks the
    window's rows flagged first, then by usage, and keeps the first HOT_ROWS + 1 (a top-N
    sort, flat memory): the hot rows (flagged, or at or above --near) come first, and the
    highest usage of all is among the rows kept. Only when more than HOT_ROWS rows are hot do
    two more scans list the first of them in the report's order and count them all. The SQL
    does floating point arithmetic (MariaDB's DECIMAL costs a third more) and no CASE in the
    window test; which rows are hot and which are offenders is decided in Python, in
    integers, as the daemon does.
    """
    require(conn.columns(), POLICYD1_COLUMNS, "policyd v1")
    cm = f"(CASE WHEN _count_max = 0 THEN {int(defaults.msg)} ELSE _count_max END)"
    qm = f"(CASE WHEN _quota_max = 0 THEN {int(defaults.quota)} ELSE _quota_max END)"
    rm = f"(CASE WHEN _rcpt_max = 0 THEN {int(defaults.rcpt)} ELSE _rcpt_max END)"
    tl = f"(CASE WHEN _time_limit = 0 THEN {int(defaults.window)} ELSE _time_limit END)"
    where = (
        "FROM throttle WHERE (_time_limit <> 0 AND _date + _time_limit >= ? "
        f"OR _time_limit = 0 AND _date >= ?){_not_in('_from', exclude)}"
    )
    window = (now, now - int(defaults.window), *exclude)
    pct = _greatest(
        conn.kind,
        f"_count_cur * 1e2 / {cm}",
        f"_quota_cur * 1e2 / {qm}",
        f"_rcpt_cur * 1e2 / {rm}",
    )
    columns = f"_from, _count_cur, {cm}, _quota_cur, {qm}, _rcpt_cur, {rm}, {tl}, _abuse_cur"
    totals: tuple[int, int] | None = None
    if top is None:  # every hot row, then the highest usage if none is at or above --near
        hot = (
            f"(_abuse_cur >= 1 OR _count_cur * 1e2 >= ? * {cm} OR _quota_cur * 1e2 >= ? * {qm} "
            f"OR _rcpt_cur * 1e2 >= ? * {rm})"
        )
        rows = conn.query(f"SELECT {columns}, {pct} {where} AND {hot}", (*window, *[near] * 3))
        value = max((r[9] for r in rows if r[9] is not None), default=None)
        if value is None or float(value) < near:
            value = conn.query(f"SELECT MAX({pct}) {where}", window)[0][0]
    else:
        fetch = max(top, HOT_ROWS)
        offender = (
            f"(_abuse_cur >= 1 OR _count_cur >= {cm} OR _quota_cur >= {qm} OR _rcpt_cur >= {rm})"
        )
        # Flagged rows first, then by usage: every hot row comes before every other one.
        flagged_first = _greatest(conn.kind, pct, "_abuse_cur * 1e9")
        rows = conn.query(
            f"SELECT {columns}, {flagged_first} AS rank_key {where} ORDER BY rank_key DESC, "
            f"{_text_order(conn.kind, '_from')} LIMIT {int(fetch) + 1}",
            window,
        )
        value = max((_policyd1_usage(r) for r in rows), default=None)
        if len(rows) > fetch and _policyd1_hot(rows[fetch], near):
            # More hot rows than fetched: those listed must be the report's first ones
            # (offenders, then by usage: a dearer order, ~30 % on MariaDB, so only here), and
            # the rest are counted. SUM() of 2**32 per offender and 1 per near-limit sender,
            # so that the predicates are evaluated once per row.
            report_order = f"{pct} + (CASE WHEN {offender} THEN 1e9 ELSE 0e0 END)"
            rows = conn.query(
                f"SELECT {columns}, {report_order} AS rank_key {where} ORDER BY rank_key DESC, "
                f"{_text_order(conn.kind, '_from')} LIMIT {int(fetch)}",
                window,
            )
            hot = (
                f"(_abuse_cur >= 1 OR _count_cur * 100 >= ? * {cm} "
                f"OR _quota_cur * 100 >= ? * {qm} OR _rcpt_cur * 100 >= ? * {rm})"
            )
            counted = conn.query(
                f"SELECT SUM(CASE WHEN {hot} THEN (CASE WHEN {offender} THEN {1 << 32} "
                f"ELSE 1 END) ELSE 0 END), MAX({pct}) {where}",
                (near, near, near, *window),
            )
            total, value = counted[0] if counted else (0, None)
            totals = divmod(int(total or 0), 1 << 32)
        rows = [r for r in rows[:fetch] if _policyd1_hot(r, near)]
        if totals is None:
            offenders = sum(1 for r in rows if _policyd1_offender(r))
            totals = (offenders, len(rows) - offenders)
    usages: list[Usage] = []
    for ident, count, cmax, quota, qmax, rcpt, rmax, limit, abuse, _ in rows:
        span = human_seconds(int(limit))
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
    report = _finish(usages, float(value) if value is not None else None, Report())
    report.totals = totals
    if top is not None:
        del report.senders[top:]
    return report


def _policyd1_offender(row: Sequence[Any]) -> bool:
    """The daemon's own test on a fetched throttle row (columns as :func:`policyd1` reads)."""
    _, count, cmax, quota, qmax, rcpt, rmax, _, abuse, _ = row
    return bool(
        int(abuse or 0) >= 1
        or int(count) >= int(cmax)
        or int(quota) >= int(qmax)
        or int(rcpt) >= int(rmax)
    )


def _policyd1_usage(row: Sequence[Any]) -> float:
    """The row's highest usage in percent (the same arithmetic as Usage.percent)."""
    _, count, cmax, quota, qmax, rcpt, rmax, _, _, _ = row
    pairs = ((count, cmax), (quota, qmax), (rcpt, rmax))
    return max(percent(int(used), int(limit)) for used, limit in pairs)


def _policyd1_hot(row: Sequence[Any], near: float) -> bool:
    """Flagged, or at or above ``near`` % of a limit."""
    return int(row[8] or 0) >= 1 or _policyd1_usage(row) >= near


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
    conn: Connection,
    prefix: str,
    near: float,
    now: int,
    exclude: Sequence[str],
    top: int | None = None,
) -> Report:
    """Linear decay over ``Period``; a sender is refused when the decayed counter is strictly
    greater than ``CounterLimit``. Disabled quotas and limits are skipped, and so are the
    quotas of a disabled policy (the policy engine never reaches them)."""
    found = conn.columns()
    require(found, cluebringer_columns(prefix), "cluebringer")
    q, lim, t = f"{prefix}quotas", f"{prefix}quotas_limits", f"{prefix}quotas_tracking"
    policies = f"{prefix}policies"
    in_policy = in_policy_where = ""
    if {"id", "disabled"} <= found.get(policies.lower(), set()) and "policyid" in found.get(
        q.lower(), set()
    ):
        in_policy = f"LEFT JOIN {policies} p ON p.ID = q.PolicyID "
        in_policy_where = " AND (p.Disabled IS NULL OR p.Disabled = 0)"
    periods = conn.query(f"SELECT MAX(Period) FROM {q} WHERE Disabled = 0 AND Period > 0")
    longest = periods[0][0] if periods and periods[0][0] is not None else None
    if longest is None:
        return Report(notes=["no enabled quota with a period"])
    keys = cluebringer_keys(exclude)
    elapsed = "(CASE WHEN t.LastUpdate > ? THEN 0 ELSE ? - t.LastUpdate END)"
    current = f"(t.Counter * (1 - {elapsed} * 1.0 / q.Period))"
    base = (
        f"FROM {t} t JOIN {lim} l ON l.ID = t.QuotasLimitsID "
        f"JOIN {q} q ON q.ID = l.QuotasID {in_policy}"
        "WHERE t.LastUpdate >= ? AND l.Disabled = 0 AND q.Disabled = 0 AND q.Period > 0 "
        f"AND t.LastUpdate >= ? - q.Period{in_policy_where}{_not_in('t.TrackKey', keys)}"
    )
    since = now - int(longest)
    params = (since, now, *keys)
    rows = conn.query(
        f"SELECT t.TrackKey, q.Name, l.Type, l.CounterLimit, t.Counter, t.LastUpdate, q.Period "
        f"{base} AND {current} * 100.0 >= ? * l.CounterLimit AND {current} > 0",
        (*params, now, now, near, now, now),
    )
    pct = f"{current} * 100.0 / l.CounterLimit"
    highest = conn.query(f"SELECT MAX({pct}) {base} AND l.CounterLimit > 0", (now, now, *params))
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
    value = highest[0][0] if highest else None
    report = _finish(usages, float(value) if value is not None else None, Report())
    return report.keep(top)


# -- policyd-rate-limit ------------------------------------------------------------------
@dataclass(frozen=True)
class RateLimits:
    """``limits`` ([mails, seconds] pairs) and ``limits_by_id`` from the daemon's YAML."""

    limits: tuple[tuple[int, int], ...] = ((10, 60), (150, 86400))
    by_id: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    #: The YAML's sql_limits_by_id query: per-ID limits kept in the ``rate_limits`` table.
    sql_by_id: str = ""

    def of(self, ident: str) -> tuple[tuple[int, int], ...]:
        return self.by_id.get(ident, self.limits)


PRL_COLUMNS = {"mail_count": ("id", "date", "recipient_count")}


#: mail_count rows with more recipients than this are "big": they are few, and a sender
#: without any has at most SMALL_ROW recipients per row (see _sums).
SMALL_ROW = 10
#: Senders whose sums are computed exactly on the first try (then 16 times more, then all).
CANDIDATES = 1000
#: Rows of the shorter windows (and big rows) brought over at most; beyond, bounds instead.
RECENT_ROWS = 100_000
_CHUNK = 500


def _sums(
    conn: Connection,
    limits: RateLimits,
    near: float,
    windows: Sequence[int],
    since: Sequence[int],
    exclude: Sequence[str],
    candidates: int | None,
) -> tuple[list[tuple[Any, ...]], float | None]:
    """Each sender's ``recipient_count`` sum over each window, for every sender that can be
    at or above min(--near, 100) % of a limit and for the one with the highest usage.

    Summing all rows of the window per sender reads each row through the daemon's only
    index, (id, date), which costs seconds for a million rows. Instead:

    1. the index alone (no row read) counts each sender's rows per window; a sender without
       a big row has at most count * SMALL_ROW recipients, so that bound ranks the senders
       and only the ``candidates`` highest are kept;
    2. one pass over the window's rows (no grouping) finds the senders with a big row, at
       the same time as 1, on a second connection;
    3. the exact sums of those senders, and of the ``limits_by_id`` ones, are read through
       the (id, date) index, one index range per sender.

    Returns the rows and the bound of the senders left out (None when none was): the caller
    checks that it is below both min(--near, 100) and the highest usage found, else the
    answer would not be exact and it asks again with more candidates (None: all senders).
    """
    oldest = min(since)
    sums = ", ".join("SUM(CASE WHEN date >= ? THEN recipient_count ELSE 0 END)" for _ in windows)
    excluded = _not_in("id", exclude)
    if candidates is None:
        rows = conn.query(
            f"SELECT id, {sums} FROM mail_count WHERE date >= ?{excluded} GROUP BY id",
            (*since, oldest, *exclude),
        )
        return rows, None
    by_id = sorted(set(limits.by_id) - set(exclude))
    wanted = set(by_id)
    left_out: float | None = None
    if limits.limits:
        window_of = dict(zip(windows, since))
        found = _recent_and_ranked(
            conn, limits, near, window_of, oldest, exclude, by_id, candidates
        )
        if found is None:  # the shorter windows hold too many rows to bring over
            found = _ranked_by_index(conn, limits, window_of, oldest, exclude, by_id, candidates)
        more, left_out = found
        wanted.update(more)
    rows = []
    ordered = sorted(wanted)
    for at in range(0, len(ordered), _CHUNK):
        chunk = ordered[at : at + _CHUNK]
        rows += conn.query(
            f"SELECT id, {sums} FROM mail_count WHERE id IN ({_placeholders(chunk)}) "
            "AND date >= ? GROUP BY id",
            (*since, *chunk, oldest),
        )
    return rows, left_out


def _recent_and_ranked(
    conn: Connection,
    limits: RateLimits,
    near: float,
    window_of: dict[int, int],
    oldest: int,
    exclude: Sequence[str],
    by_id: Sequence[str],
    candidates: int,
) -> tuple[set[str], float | None] | None:
    """The senders to sum exactly, and the bound of the others (steps 1 and 2 of _sums).

    One pass over the table brings the rows of every window but the widest (the last minute,
    the last hour: few rows) and the big rows; from them the usage of every sender in those
    windows is exact. At the same time, on a second connection, the index counts each
    sender's rows in the widest window and ranks them (COUNT(*): no expression per row).
    None when the shorter windows hold more than RECENT_ROWS rows.
    """
    excluded = _not_in("id", exclude)
    recent_since = min((start for start in window_of.values() if start != oldest), default=None)
    recent = "date >= ? OR " if recent_since is not None else ""
    table_scan = (
        f"SELECT id, date, recipient_count FROM mail_count WHERE date >= ? "
        f"AND ({recent}recipient_count > ?){excluded} LIMIT {RECENT_ROWS + 1}",
        (oldest, *([] if recent_since is None else [recent_since]), SMALL_ROW, *exclude),
    )
    wide = [mails for mails, seconds in limits.limits if window_of[seconds] == oldest]
    if wide:
        ranking = (
            f"SELECT id, COUNT(*) AS n FROM mail_count WHERE date >= ?{excluded}"
            f"{_not_in('id', by_id)} GROUP BY id ORDER BY n DESC LIMIT {int(candidates)}",
            (oldest, *exclude, *by_id),
        )
        # The index scan and the table scan run side by side, on two connections.
        ranked, rows = conn.both(ranking, table_scan)
    else:
        ranked, rows = [], conn.query(*table_scan)
    if len(rows) > RECENT_ROWS:
        return None
    wanted = {str(row[0]) for row in ranked}
    wanted.update(str(ident) for ident, _, count in rows if int(count or 0) > SMALL_ROW)
    used: dict[tuple[str, int], int] = {}
    short = [(m, s) for m, s in limits.limits if window_of[s] != oldest]
    for ident, date, count in rows:
        for _, seconds in short:
            if int(date) >= window_of[seconds]:
                key = (str(ident), seconds)
                used[key] = used.get(key, 0) + int(count or 0)
    floor = min(near, 100.0)
    usage: dict[str, float] = {}  # under the default limits: limits_by_id senders are summed
    own = set(by_id)
    for (ident, seconds), total in used.items():
        if ident in own:
            continue
        for mails, limit_seconds in short:
            if limit_seconds == seconds:
                usage[ident] = max(usage.get(ident, 0.0), percent(total, mails))
    wanted.update(ident for ident, share in usage.items() if share >= floor)
    if usage:  # the highest usage of all must be read exactly
        wanted.add(max(usage, key=lambda ident: usage[ident]))
    left_out = None
    if len(ranked) >= candidates:
        left_out = float(ranked[-1][1] or 0) * SMALL_ROW * 100.0 / min(wide)
    return wanted - set(by_id), left_out


def _ranked_by_index(
    conn: Connection,
    limits: RateLimits,
    window_of: dict[int, int],
    oldest: int,
    exclude: Sequence[str],
    by_id: Sequence[str],
    candidates: int,
) -> tuple[set[str], float | None]:
    """Steps 1 and 2 of _sums when the shorter windows are long: each window's bound from
    the index (an expression per row) beside one pass for the senders with a big row."""
    excluded = _not_in("id", exclude)
    bounds: list[str] = []
    starts: list[int] = []
    for mails, seconds in limits.limits:
        if window_of[seconds] == oldest:  # the WHERE clause's own window: every row
            bounds.append(f"COUNT(*) * {SMALL_ROW * 100.0 / mails!r}")
        else:
            bounds.append(
                f"SUM(CASE WHEN date >= ? THEN 1 ELSE 0 END) * {SMALL_ROW * 100.0 / mails!r}"
            )
            starts.append(window_of[seconds])
    bound = bounds[0] if len(bounds) == 1 else _greatest(conn.kind, *bounds)
    ranking = (
        f"SELECT id, {bound} AS bound FROM mail_count WHERE date >= ?{excluded}"
        f"{_not_in('id', by_id)} GROUP BY id ORDER BY bound DESC LIMIT {int(candidates)}",
        (*starts, oldest, *exclude, *by_id),
    )
    big_rows = (
        # not DISTINCT: MariaDB would walk the (id, date) index and fetch every row
        f"SELECT id FROM mail_count WHERE date >= ? AND recipient_count > ?{excluded}",
        (oldest, SMALL_ROW, *exclude),
    )
    ranked, big = conn.both(ranking, big_rows)
    wanted = {str(row[0]) for row in ranked} | {str(row[0]) for row in big}
    left_out = float(ranked[-1][1] or 0) if len(ranked) >= candidates else None
    return wanted, left_out


def _with_sql_limits(
    conn: Connection, limits: RateLimits, found: dict[str, set[str]], notes: list[str]
) -> RateLimits:
    """``limits`` with the per-ID limits of the ``rate_limits`` table (sql_limits_by_id).

    The daemon runs sql_limits_by_id for each sender and, when it returns a row, that row's
    Python-literal list replaces the sender's limits (ahead of the YAML's limits_by_id). Its
    documented query reads ``rate_limits`` (id, limits); that table is read whole here, since
    a query per sender could not find the senders whose own limit is the low one.
    """
    import ast  # noqa: PLC0415 (only with sql_limits_by_id)

    if "rate_limits" not in limits.sql_by_id.lower():
        notes.append("sql_limits_by_id does not read rate_limits: its per-ID limits are not used")
        return limits
    if not {"id", "limits"} <= found.get("rate_limits", set()):
        notes.append("sql_limits_by_id is set but there is no rate_limits (id, limits) table")
        return limits
    by_id = dict(limits.by_id)
    bad: list[str] = []
    for ident, text in conn.query("SELECT id, limits FROM rate_limits", ()):
        try:
            value = ast.literal_eval(str(text))
            pairs = tuple((int(m), int(s)) for m, s in value)
            if any(m < 0 or s < 0 for m, s in pairs) or any(
                isinstance(x, bool) or not isinstance(x, int) for pair in value for x in pair
            ):
                raise ValueError(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            bad.append(str(ident))
            continue
        by_id[str(ident)] = pairs
    if bad:
        shown = ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else "")
        notes.append(f"rate_limits: unreadable limits for {shown} (the daemon's own are used)")
    return dataclasses.replace(limits, by_id=by_id)


def policyd_rate_limit(
    conn: Connection,
    limits: RateLimits,
    near: float,
    now: int,
    exclude: Sequence[str],
    top: int | None = None,
) -> Report:
    """Sliding windows: for each (N, S) the daemon sums ``recipient_count`` over
    ``date >= int(now - S)`` and refuses when that sum plus the new message exceeds N, so a
    sender whose sum is N or more is refused."""
    found = conn.columns()
    require(found, PRL_COLUMNS, "policyd-rate-limit")
    report = Report()
    if limits.sql_by_id:
        limits = _with_sql_limits(conn, limits, found, report.notes)
    windows = sorted({s for pairs in (limits.limits, *limits.by_id.values()) for _, s in pairs})
    if not windows:
        report.notes.append("no limit configured")
        return report
    since = [int(now - s) for s in windows]
    hits: dict[str, list[tuple[int, int]]] = {}
    if "limit_report" in found and {"id", "delta", "hit"} <= found["limit_report"]:
        for ident, delta, hit in conn.query(
            f"SELECT id, delta, hit FROM limit_report WHERE hit > 0{_not_in('id', exclude)}",
            tuple(exclude),
        ):
            hits.setdefault(str(ident), []).append((int(delta), int(hit)))
    # The bounds of _sums need positive limits and a positive threshold; else read all.
    floor = min(near, 100.0)
    fast = floor > 0 and all(mails > 0 for mails, _ in limits.limits)
    for candidates in (CANDIDATES, CANDIDATES * 16, None) if fast else (None,):
        rows, left_out = _sums(conn, limits, near, windows, since, exclude, candidates)
        usages: list[Usage] = []
        highest = 0.0
        for row in rows:
            ident, used_by_window = str(row[0]), dict(zip(windows, row[1:]))
            for mails, seconds in limits.of(ident):
                used = int(used_by_window.get(seconds) or 0)
                share = percent(used, mails)
                highest = max(highest, share)
                if share >= near or used >= mails:
                    note = ", ".join(
                        f"{h} hits ({human_seconds(d)})" for d, h in hits.get(ident, [])
                    )
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
        # Exact when every sender left out is below the threshold and the highest usage
        # (a margin for the rounding of the bound's floating point product).
        if left_out is None or left_out * (1 + 1e-9) < min(floor, highest):
            break
    for ident, items in sorted(hits.items()):
        total = sum(h for _, h in items)
        report.notes.append(f"limit_report: {ident} hit a limit {total} times since the last clean")
    return _finish(usages, highest, report).keep(top)
