"""Test data per AMI check, keyed by console script: how to run it so that it is OK.

The checks themselves come from the registry (isp_plugins.checks); this table only adds what
a test needs to run one. tests/test_registry.py holds it to the registry's AMI checks, so a new
AMI check without its line here fails a test.
"""

from __future__ import annotations

from typing import NamedTuple


class AmiCase(NamedTuple):
    """Options and a simulator scenario under which the check is OK."""

    options: tuple[str, ...]
    healthy: str


AMI_CASES: dict[str, AmiCase] = {
    "check_asterisk_pri": AmiCase(("-n", "4"), "pri_all_up"),
    "check_asterisk_bri": AmiCase(("-n", "4", "--idle-ok"), "bri_misdn_all_up"),
    "check_asterisk_fxo": AmiCase(("-n", "2"), "fxo_ok"),
    "check_asterisk_dahdi": AmiCase(("--span", "1-4"), "dahdi_all_ok"),
    "check_asterisk_peers": AmiCase((), "peers_ok"),
}


class RealCase(NamedTuple):
    """What each check says of a real Asterisk with chan_dahdi and no telephony hardware
    (tests/test_real_asterisk.py): (exit code, status line) for a user with ``write =
    command``, for one without, and once chan_dahdi is unloaded."""

    bare: tuple[int, str]
    no_command: tuple[int, str]
    unloaded: tuple[int, str]


def _no_command(name: str) -> tuple[int, str]:
    return (
        3,
        f"{name} UNKNOWN - AMI user 'viewer' may not run CLI commands: Permission denied "
        "(manager.conf needs write = command)",
    )


def _none_listed(name: str, what: str, hint: str) -> tuple[int, str]:
    return (3, f"{name} UNKNOWN - no {what} listed and none expected (give -n to expect {hint})")


#: What check_asterisk_peers says of a PBX with neither chan_sip, res_pjsip nor chan_iax2.
_NO_VOIP = (
    2,
    "ASTERISK_PEERS CRITICAL - no SIP, PJSIP or IAX2 channel driver is loaded "
    "(chan_sip, res_pjsip and chan_iax2 all missing)",
)

REAL_CASES: dict[str, RealCase] = {
    "check_asterisk_pri": RealCase(
        _none_listed("ASTERISK_PRI", "PRI spans", "spans"),
        _no_command("ASTERISK_PRI"),
        (
            2,
            "ASTERISK_PRI CRITICAL - 'pri show spans' not available: chan_dahdi is not loaded "
            "or was built without libpri",
        ),
    ),
    "check_asterisk_bri": RealCase(
        _none_listed("ASTERISK_BRI", "BRI ports", "ports"),
        _no_command("ASTERISK_BRI"),
        (
            2,
            "ASTERISK_BRI CRITICAL - no BRI source: neither chan_misdn ('misdn show stacks') nor "
            "chan_dahdi with libpri ('pri show spans') is loaded",
        ),
    ),
    "check_asterisk_fxo": RealCase(
        _none_listed("ASTERISK_FXO", "FXO ports", "lines"),
        # DAHDIShowChannels needs only read permission: the user without `command` gets as far.
        _none_listed("ASTERISK_FXO", "FXO ports", "lines"),
        (
            2,
            "ASTERISK_FXO CRITICAL - 'dahdi show channels' not available: chan_dahdi is not loaded",
        ),
    ),
    "check_asterisk_dahdi": RealCase(
        (
            2,
            "ASTERISK_DAHDI CRITICAL - DAHDI is missing: chan_dahdi found no DAHDI device "
            "(are the DAHDI kernel modules loaded?)",
        ),
        _no_command("ASTERISK_DAHDI"),
        (
            2,
            "ASTERISK_DAHDI CRITICAL - 'dahdi show status' not available: DAHDI is missing "
            "(chan_dahdi is not loaded)",
        ),
    ),
    # The real instances load chan_dahdi only (tests/sip_lab.py runs the SIP lab).
    "check_asterisk_peers": RealCase(_NO_VOIP, _NO_VOIP, _NO_VOIP),
}
