"""Open files: each PBX's session holds one socket, so the open-files limit caps the PBXs one
watcher can keep. At start-up it raises its soft limit to the hard one and says how many PBXs
that allows.

Past the limit, every PBX would take its turn failing with "too many open files", a
different one each time a session drops: the watcher watches the PBXs that fit, in the
configuration's order, and names the others in one ERROR line (their passive services go
stale, and the freshness checks poll them actively meanwhile).
"""

from __future__ import annotations

#: Descriptors kept for everything but the sessions: stdio, the command file and Icinga 2
#: API connections, the resolver's threads, a TLS CA file, a reload's configuration file.
RESERVED = 64
#: A hard limit of "unlimited" is still capped by the kernel (fs.nr_open, 1048576 by default).
UNLIMITED = 1 << 20


def raise_open_files() -> int:
    """Raise the soft open-files limit as far as the hard limit allows; the soft limit now."""
    import resource  # noqa: PLC0415 (POSIX only)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = UNLIMITED if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return int(soft)
        return int(wanted)
    return int(UNLIMITED if soft == resource.RLIM_INFINITY else soft)


def pbx_capacity(limit: int) -> int:
    """How many PBXs an open-files limit of ``limit`` allows."""
    return max(0, limit - RESERVED)


def capacity_error(limit: int, configured: int) -> str | None:
    """The ERROR line when ``configured`` PBXs do not fit in an open-files limit of ``limit``
    (None when they do)."""
    allowed = pbx_capacity(limit)
    if configured <= allowed:
        return None
    return (
        f"open files: limit {limit} allows {allowed} PBX(s), but {configured} are configured: "
        f"watching the first {allowed}, not the other {configured - allowed} (raise "
        "LimitNOFILE= in the systemd unit, or shard the PBXs over more watchers)"
    )
