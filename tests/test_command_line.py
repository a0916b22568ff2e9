"""The shared command-line layer: short options spelled out, and the fast process exit."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from isp_plugins.cli.command import spell_out_short_options
from tests.conftest import ROOT


@click.command()
@click.option("-H", "--hostname")
@click.option("-P", "--password")
@click.option("-n", "--expected", type=int)
@click.option("-v", "--verbose", count=True)
@click.option("--tls", is_flag=True)
@click.option("--secret-file")
@click.option("-x")  # a short option without a long name stays as it is
def sample(**_: object) -> None:
    """A command with the kinds of options the plugins have."""


PARAMS = sample.params


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-H", "pbx", "-n", "4"], ["--hostname", "pbx", "--expected", "4"]),
        # a value is never rewritten, even when it looks like an option
        (["-P", "-H", "-H", "pbx"], ["--password", "-H", "--hostname", "pbx"]),
        (["--secret-file", "-n", "-n", "2"], ["--secret-file", "-n", "--expected", "2"]),
        (["-v", "--tls", "-H", "h"], ["--verbose", "--tls", "--hostname", "h"]),
        # the first argument it does not fully understand ends the rewrite
        (["-vv", "-H", "h"], ["-vv", "-H", "h"]),
        (["-Hpbx", "-n", "4"], ["-Hpbx", "-n", "4"]),
        (["-n", "4", "--", "-H"], ["--expected", "4", "--", "-H"]),
        (["-H", "h", "--hostname=x", "-n", "1"], ["--hostname", "h", "--hostname=x", "-n", "1"]),
        (["-x", "1", "-H", "h"], ["-x", "1", "-H", "h"]),
        # a missing value is left for click, whose error names the option as typed
        (["-H", "h", "-n"], ["--hostname", "h", "-n"]),
        ([], []),
    ],
)
def test_spell_out_short_options(args: list[str], expected: list[str]) -> None:
    assert spell_out_short_options(PARAMS, args) == expected


@pytest.mark.parametrize(
    "args",
    [["-H", "pbx", "-n", "4", "-vv"], ["-P", "-n", "-n", "3", "-x", "y"], ["-H", "a", "-H", "b"]],
)
def test_click_reads_the_same_values_either_way(args: list[str]) -> None:
    plain = sample.make_context("sample", list(args)).params
    spelled = sample.make_context("sample", spell_out_short_options(PARAMS, args)).params
    assert plain == spelled


def test_end_process_flushes_a_large_output_and_keeps_the_code() -> None:
    # The status goes out through buffered stdout and stderr; os._exit must not lose any of it.
    code = (
        "import sys\n"
        "from isp_plugins.runtime.run import end_process\n"
        "sys.stdout.write('x' * 200000 + '\\nEND\\n')\n"
        "sys.stderr.write('err\\n')\n"
        "end_process(2)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 2
    assert done.stdout.endswith("x\nEND\n") and len(done.stdout) == 200005
    assert done.stderr == "err\n"


@pytest.mark.parametrize(("code", "status"), [(None, 0), (1, 1), ("text", 3)])
def test_end_process_exit_codes(code: object, status: int) -> None:
    program = f"from isp_plugins.runtime.run import end_process\nend_process({code!r})\n"
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, check=False)
    assert done.returncode == status
