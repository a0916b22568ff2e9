"""Start-up stays cheap: no plugin imports asyncio, panoramisk or a database driver up front,
and --help loads neither those nor nagiosplugin."""

from __future__ import annotations

import configparser
import subprocess
import sys

import pytest

from tests.conftest import ROOT

EXPENSIVE = {"asyncio", "panoramisk", "ssl", "pymysql", "psycopg", "psycopg2", "sqlite3"}
#: --help needs click only: the check's machinery loads after the options are parsed.
NOT_FOR_HELP = EXPENSIVE | {"nagiosplugin"}


def console_scripts() -> list[tuple[str, str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    entries = config["options.entry_points"]["console_scripts"].strip().splitlines()
    scripts = [tuple(part.strip() for part in line.split("=")) for line in entries if line]
    assert scripts
    return [(name, target.split(":")[0]) for name, target in scripts]


PROBE = """
import sys
sys.argv = [{name!r}, {arg!r}]
import {module} as plugin
loaded_at_import = set(sys.modules)
try:
    plugin.main()
except SystemExit:
    pass
print(sorted(loaded_at_import & {expensive!r}))
print(sorted(set(sys.modules) & {not_for_help!r}))
"""


@pytest.mark.parametrize(("name", "module"), console_scripts())
def test_import_and_help_load_nothing_expensive(name: str, module: str) -> None:
    code = PROBE.format(
        name=name, arg="--help", module=module, expensive=EXPENSIVE, not_for_help=NOT_FOR_HELP
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    at_import, after_help = done.stdout.splitlines()[-2:]
    assert at_import == "[]", f"{module} imports {at_import} at import time"
    assert after_help == "[]", f"{name} --help imports {after_help}"
