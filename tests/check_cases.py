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
}
