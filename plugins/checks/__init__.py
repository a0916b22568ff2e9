"""The registry: the one list of every check the suite installs.

Each check is a package here with ``command`` (its click command ``main`` and its ``Options``,
light enough for a fast ``--help``) and ``check`` (the Resource, Contexts and Summary, and
``build_check``, which builds the nagiosplugin Check from the parsed options; the rate-limit
check has one builder per mode), loaded after the options are parsed. setup.cfg's console
scripts, asterisk-watch, the demo, the benchmark, the tests and the command definitions in
nagios-config/ all follow this list; tests/test_registry.py holds them to it.
"""

from __future__ import annotations

from typing import NamedTuple

#: AMI events that re-evaluate every AMI check in asterisk-watch. Alarm and AlarmClear are
#: channel alarms on 12+ (span alarms too before 12); all are in the 'system' class.
ANY_CHANGE = frozenset({"alarm", "alarmclear", "fullybooted", "reload"})
#: Span alarms (Asterisk 12+): they re-evaluate the checks that watch spans.
SPAN_ALARMS = frozenset({"spanalarm", "spanalarmclear"})
#: A peer reachable, unreachable or lagged (chan_sip, IAX2, PJSIP), a PJSIP contact's
#: qualify, a registration's state (all three), all in class 'system'.
PEER_EVENTS = frozenset({"peerstatus", "contactstatus", "registry"})
#: Starts the name of each Icinga 2 CheckCommand (and so of its custom variables) in
#: nagios-config/icinga2/: the Icinga Template Library, which Debian's icinga2.conf includes
#: whole, has names like ours ("fail2ban"), and a name defined twice stops Icinga 2.
ICINGA2_PREFIX = "isp_"


class CheckInfo(NamedTuple):
    """One check: its console script, its package and what asterisk-watch needs to know."""

    script: str  # the console script, check_NAME; its package is isp_plugins.checks.NAME
    ami: bool  # acquires over AMI: asterisk-watch can run it over its session
    events: frozenset[str] = frozenset()  # AMI events (lower case) that re-evaluate it

    @property
    def package(self) -> str:
        """Its package under isp_plugins.checks: asterisk_pri for check_asterisk_pri."""
        return self.script[len("check_") :]

    @property
    def name(self) -> str:
        """The status line's prefix: ASTERISK_PRI for check_asterisk_pri."""
        return self.package.upper()

    @property
    def icinga2_command(self) -> str:
        """Its Icinga 2 CheckCommand, the prefix of its custom variables: isp_asterisk_pri."""
        return ICINGA2_PREFIX + self.package

    @property
    def module(self) -> str:
        """The module of its click command (the console script's entry point is its main)."""
        return f"isp_plugins.checks.{self.package}.command"

    @property
    def check_module(self) -> str:
        """The module of its nagiosplugin check (``build_check``), loaded after parsing."""
        return f"isp_plugins.checks.{self.package}.check"

    @property
    def entry_point(self) -> str:
        return f"{self.script} = {self.module}:main"


CHECKS: tuple[CheckInfo, ...] = (
    CheckInfo("check_asterisk_pri", True, ANY_CHANGE | SPAN_ALARMS),
    CheckInfo("check_asterisk_bri", True, ANY_CHANGE | SPAN_ALARMS),
    CheckInfo("check_asterisk_fxo", True, ANY_CHANGE),
    CheckInfo("check_asterisk_dahdi", True, ANY_CHANGE | SPAN_ALARMS),
    CheckInfo("check_asterisk_peers", True, ANY_CHANGE | PEER_EVENTS),
    CheckInfo("check_postfix_queue", False),
    CheckInfo("check_ratelimit_offenders", False),
    CheckInfo("check_asterisk_sipauth", False),
    CheckInfo("check_fail2ban", False),
    CheckInfo("check_dnsbl", False),
    CheckInfo("check_postfix_deliveries", False),
)
BY_SCRIPT = {check.script: check for check in CHECKS}
AMI_CHECKS = tuple(check for check in CHECKS if check.ami)
