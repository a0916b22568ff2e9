"""The state rules of the peers check, pure: which peers are watched, which are trunks, what
each peer and registration is worth, and the status line's words."""

from __future__ import annotations

import fnmatch
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from asterisk_ami.parsers.peers import NAME_WIDTH
from isp_plugins.runtime.text import plural, sanitize

if TYPE_CHECKING:
    from asterisk_ami.parsers.peers import Peer, Registration

OK, WARNING, CRITICAL = 0, 1, 2
#: Registration states (chan_sip, IAX2 and PJSIP words): Registered is up, these are down,
#: anything else (Request Sent, Auth. Sent, Unregistering, Unknown) is on its way: WARNING.
REGISTERED = "Registered"
REGISTRATION_DOWN = frozenset(
    {"Rejected", "Failed", "No Authentication", "Unregistered", "Timeout"}
)
#: At most this many problems are named on the status line.
NAMED = 5
#: A PJSIP registration still Registered this many seconds after its refresh was due
#: (``(exp. Ns ago)``) is WARNING: the refresh went unanswered. Under it, a refresh may
#: simply be on its way.
OVERDUE_GRACE = 10


class Rules(NamedTuple):
    """What the options say about watching and judging."""

    peer: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    trunk: tuple[str, ...] = ()
    registration: tuple[str, ...] = ()
    rtt_warning: float | None = None
    rtt_critical: float | None = None
    #: -w/-c given: they replace the default rules (any other peer down WARNING, a trunk
    #: down CRITICAL).
    count_warning: bool = False
    count_critical: bool = False
    expected: int | None = None


class Verdict(NamedTuple):
    """One peer or registration and what it is worth."""

    state: int
    text: str  # "trunk SIP/carrier1 UNREACHABLE"; "" when OK


class PeerReport(NamedTuple):
    watched: tuple[Peer, ...]
    trunks: frozenset[tuple[str, str]]
    unmonitored: tuple[Peer, ...]
    registrations: tuple[Registration, ...]
    verdicts: tuple[Verdict, ...]
    expected: int | None
    # Counted once by report() (the status line, -n and the perfdata each read them):
    #: watched peers reachable (OK or LAGGED), UNREACHABLE, LAGGED; the slowest qualify time.
    reachable: int = 0
    unreachable: int = 0
    lagged: int = 0
    rtt_max: float | None = None

    @property
    def registrations_ok(self) -> int:
        return sum(registration_up(r) for r in self.registrations)

    @property
    def state(self) -> int:
        return max((v.state for v in self.verdicts), default=OK)

    def is_trunk(self, peer: Peer) -> bool:
        return (peer.tech, peer.name) in self.trunks


OK_VERDICT = Verdict(OK, "")


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _tokens(pattern: str) -> list[str]:
    """A shell pattern as fnmatch reads it: ``*``, ``?``, ``[...]`` classes, literal chars."""
    tokens, i = [], 0
    while i < len(pattern):
        end = i + 1
        if pattern[i] == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "!":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            close = pattern.find("]", j)
            if close >= 0:
                end = close + 1  # else a lone "[" is a literal
        tokens.append(pattern[i:end])
        i = end
    return tokens


def _after(cut: str, tokens: list[str]) -> set[int]:
    """The pattern positions reached once the tokens have read all of ``cut`` (an NFA: a
    ``*`` may take any number of characters); empty when the pattern cannot start so."""
    reached = {0}
    for char in cut:
        following = set()
        for k in _stars(tokens, reached):
            if k == len(tokens):
                continue
            token = tokens[k]
            if token == "*":
                following.add(k)
            elif token in ("?", char) or (len(token) > 1 and _in_class(char, token)):
                following.add(k + 1)
        if not following:
            return set()
        reached = following
    return reached


def _could_match(cut: str, pattern: str) -> bool:
    """Whether some name beginning with ``cut`` matches ``pattern``."""
    return bool(_after(cut, _tokens(pattern)))


def _surely_matches(cut: str, pattern: str) -> bool:
    """Whether every name beginning with ``cut`` matches ``pattern``: what is left of the
    pattern once it has read the cut name is only ``*``."""
    tokens = _tokens(pattern)
    return any(k < len(tokens) and all(t == "*" for t in tokens[k:]) for k in _after(cut, tokens))


def _stars(tokens: list[str], positions: set[int]) -> set[int]:
    """Positions, and those reached by letting each ``*`` match nothing."""
    found, todo = set(positions), list(positions)
    while todo:
        k = todo.pop()
        if k < len(tokens) and tokens[k] == "*" and k + 1 not in found:
            found.add(k + 1)
            todo.append(k + 1)
    return found


def _in_class(char: str, token: str) -> bool:
    return fnmatch.fnmatchcase(char, token)


def selects(peer: Peer, patterns: Sequence[str], surely: bool = False) -> bool:
    """Whether a pattern names the peer. A possibly cut name (``iax2 show peers``) is named
    when some name beginning with it would be, or with ``surely`` when every one would: a
    peer is watched (or taken for a trunk) if it may be one of those asked for, and left out
    only if it must be one of those excluded. Either way no peer goes unwatched by doubt."""
    if _matches(peer.name, patterns):
        return True
    test = _surely_matches if surely else _could_match
    return peer.cut and any(test(peer.name, p) for p in patterns)


def label(peer: Peer) -> str:
    """How a peer is named in the output: Asterisk's own ``SIP/name``."""
    return sanitize(f"{peer.tech}/{peer.name}", 80)


def peer_verdict(peer: Peer, trunk: bool, rules: Rules) -> Verdict:
    """A watched peer's worth: down is CRITICAL for a trunk, WARNING otherwise; LAGGED and a
    slow qualify at least WARNING; UNKNOWN (never answered yet, or no address) no alarm."""
    if peer.state == "OK" and rules.rtt_warning is None and rules.rtt_critical is None:
        return OK_VERDICT  # the common case, on PBXs with thousands of phones
    name = f"{'trunk' if trunk else 'peer'} {label(peer)}"
    if peer.state == "UNREACHABLE":
        if trunk and not rules.count_critical:
            return Verdict(CRITICAL, f"{name} UNREACHABLE")
        if not trunk and not rules.count_warning:
            return Verdict(WARNING, f"{name} UNREACHABLE")
        return Verdict(OK, "")
    rtt = peer.rtt_ms
    if rtt is not None and rules.rtt_critical is not None and rtt > rules.rtt_critical:
        return Verdict(CRITICAL, f"{name} qualify {rtt:g} ms > {rules.rtt_critical:g} ms")
    if rtt is not None and rules.rtt_warning is not None and rtt > rules.rtt_warning:
        return Verdict(WARNING, f"{name} qualify {rtt:g} ms > {rules.rtt_warning:g} ms")
    if peer.state == "LAGGED":
        return Verdict(WARNING, f"{name} LAGGED ({rtt:g} ms)")
    return Verdict(OK, "")


def registration_label(registration: Registration) -> str:
    return sanitize(f"{registration.tech}/{registration.name}", 100)


def overdue(registration: Registration) -> bool:
    """Registered, but its refresh is OVERDUE_GRACE seconds or more past due (PJSIP)."""
    return registration.overdue is not None and registration.overdue >= OVERDUE_GRACE


def registration_up(registration: Registration) -> bool:
    return registration.state == REGISTERED and not overdue(registration)


def registration_verdict(registration: Registration) -> Verdict:
    """Registered is OK, unless its refresh is overdue (WARNING); Rejected, Failed, No
    Authentication, Unregistered, Timeout CRITICAL; any other state (a request on its way)
    WARNING."""
    name = f"registration {registration_label(registration)}"
    if registration.state == REGISTERED:
        if not overdue(registration):
            return Verdict(OK, "")
        return Verdict(WARNING, f"{name} Registered (exp. {registration.overdue}s ago)")
    text = f"{name} {sanitize(registration.state, 40)}"
    return Verdict(CRITICAL if registration.state in REGISTRATION_DOWN else WARNING, text)


def report(
    peers: Sequence[Peer], registrations: Sequence[Registration], rules: Rules
) -> PeerReport:
    """Keep the peers and registrations the options select, and judge each."""
    # No pattern selects nothing: without the options, no selects() call per peer.
    chosen = [p for p in peers if selects(p, rules.peer)] if rules.peer else list(peers)
    if rules.exclude:
        chosen = [p for p in chosen if not selects(p, rules.exclude, True)]
    watched = tuple(p for p in chosen if p.monitored)
    unmonitored = tuple(p for p in chosen if not p.monitored)
    named = rules.trunk
    trunks = frozenset(
        (p.tech, p.name) for p in chosen if p.static or (named and selects(p, named))
    )
    regs = tuple(
        r for r in registrations if not rules.registration or _matches(r.name, rules.registration)
    )
    # Trunks first, then the other peers, then the registrations: the line names the worst.
    verdicts = [peer_verdict(p, (p.tech, p.name) in trunks, rules) for p in watched]
    verdicts += [registration_verdict(r) for r in regs]
    states = Counter([p.state for p in watched])
    reachable = states["OK"] + states["LAGGED"]  # Peer.reachable
    if rules.expected is not None and not rules.count_warning and reachable < rules.expected:
        verdicts.append(Verdict(WARNING, ""))  # said by the count on the status line
    rtts = [p.rtt_ms for p in watched if p.rtt_ms is not None]
    return PeerReport(
        watched,
        trunks,
        unmonitored,
        regs,
        tuple(verdicts),
        rules.expected,
        reachable,
        states["UNREACHABLE"],
        states["LAGGED"],
        max(rtts) if rtts else None,
    )


def summarize(rep: PeerReport) -> str:
    """Problems first (worst first, at most NAMED), then the count of peers reachable."""
    problems = sorted((v for v in rep.verdicts if v.text), key=lambda v: -v.state)
    parts = []
    if problems:
        named = ", ".join(v.text for v in problems[:NAMED])
        more = len(problems) - NAMED
        parts.append(named + (f" and {more} more" if more > 0 else ""))
    total = len(rep.watched)
    count = f"{rep.reachable} of {plural(total, 'peer')} reachable"
    if rep.expected is not None and rep.expected != total:
        count += f" ({rep.expected} expected)"
    parts.append(count)
    if rep.registrations:
        regs = plural(len(rep.registrations), "registration")
        parts.append(f"{rep.registrations_ok} of {regs} up")
    return " - ".join(parts)


def describe_peer(peer: Peer, trunk: bool) -> str:
    """One long-output line: technology/name, kind, address, state and RTT."""
    kind = "trunk" if trunk else ("peer" if peer.monitored else "unmonitored")
    where = f" at {sanitize(peer.address, 60)}" if peer.address else ""
    rtt = f" ({peer.rtt_ms:g} ms)" if peer.rtt_ms is not None else ""
    state = peer.state if peer.monitored else "not qualified"
    about = f" - {sanitize(peer.detail, 120)}" if peer.tech == "PJSIP" and peer.detail else ""
    if peer.cut:
        about += f" (name cut to {NAME_WIDTH} characters by 'iax2 show peers')"
    return f"{label(peer)} ({kind}){where}: {state}{rtt}{about}"


def describe_registration(registration: Registration) -> str:
    """One long-output line: its state, when it last registered (chan_sip), the next try (PJSIP)."""
    extra = ""
    if registration.since:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(registration.since))
        extra += f", last registered {when} UTC"
    if registration.next_retry:
        extra += f", next try in {registration.next_retry}s"
    if registration.overdue is not None:
        extra += f", refresh due {registration.overdue}s ago and not answered"
    return (
        f"registration {registration_label(registration)}: "
        f"{sanitize(registration.state, 40)}{extra}"
    )
