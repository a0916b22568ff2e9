"""The wheel as users install it: exactly two import names, beside the PyPI packages whose
names the suite once took (ratelimit, logtail-python), and a simulator that serves its
scenarios from a plain install."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

IMPORT_NAMES = {"asterisk_ami", "isp_plugins"}
#: Packages on PyPI whose import names (ratelimit, logtail) an older layout overwrote.
NEIGHBOURS = ("ratelimit==2.2.1", "logtail-python")


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
        check=True,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # a copy of the sources, so the build leaves nothing in the checkout (and tests running
    # in parallel do not share a build directory)
    source = out / "source"
    ignore = shutil.ignore_patterns(".*", "*.egg-info", "build", "dist", "__pycache__")
    shutil.copytree(ROOT, source, ignore=ignore)
    _pip(Path(sys.executable), "wheel", "--no-deps", "-w", str(out), str(source))
    (built,) = out.glob("isp_plugins-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv with the wheel (and its dependencies) and the two neighbours."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    try:
        _pip(python, "install", *NEIGHBOURS, str(wheel))
    except subprocess.CalledProcessError as exc:  # no package index here: say so, plainly
        pytest.skip(f"cannot install from the package index: {exc}")
    yield python


def test_setup_cfg_lists_every_package_of_the_tree() -> None:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    listed = set(parser["options"]["packages"].split())
    in_tree = {
        ".".join(("isp_plugins", *p.parent.relative_to(ROOT / "plugins").parts)).rstrip(".")
        for p in (ROOT / "plugins").rglob("__init__.py")
    } | {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "asterisk_ami").rglob("__init__.py")
    }
    assert listed == in_tree


def test_wheel_installs_exactly_two_import_names(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {
        name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")
    }
    assert top == IMPORT_NAMES
    scenarios = [n for n in names if n.startswith("asterisk_ami/scenarios/")]
    assert "asterisk_ami/scenarios/18/pri_all_up/pri_show_spans.txt" in scenarios
    assert len(scenarios) == sum(
        1 for p in (ROOT / "asterisk_ami" / "scenarios").rglob("*") if p.is_file()
    )


def test_neighbours_keep_working_beside_the_suite(installed: Path) -> None:
    program = (
        "import ratelimit, logtail\n"
        "from ratelimit import limits, sleep_and_retry\n"
        "from logtail import LogtailHandler\n"
        "import asterisk_ami.session, isp_plugins.checks\n"
        "print(sorted(c.script for c in isp_plugins.checks.CHECKS))\n"
    )
    done = subprocess.run(
        [str(installed), "-c", program], capture_output=True, text=True, check=False, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")
    from isp_plugins.checks import CHECKS

    assert done.stdout.strip() == str(sorted(c.script for c in CHECKS))


def test_simulator_serves_its_scenarios_from_a_plain_install(installed: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ISP_PLUGINS_FIXTURES"}
    sim = subprocess.Popen(
        [str(installed), "-m", "asterisk_ami.simulator", "--asterisk", "13", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd="/",  # not the checkout: only the installed package data can serve
    )
    try:
        assert sim.stdout is not None
        port = sim.stdout.readline().rsplit(":", 1)[1].strip()
        plugin = installed.with_name("check_asterisk_pri")
        done = subprocess.run(
            [str(plugin), "-p", port, "-U", "monitor", "-P", "s3cret", "-n", "4"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            cwd="/",
        )
    finally:
        sim.terminate()
        sim.wait(10)
    assert done.stdout.splitlines()[0] == (
        "ASTERISK_PRI OK - 4 of 4 spans up | spans_alarm=0;;;0;4 spans_down=0;;;0;4 "
        "spans_up=4;4:;1:;0;4"
    )
    assert done.returncode == 0
