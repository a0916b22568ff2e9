"""The simulator and the checks against what real Asterisk 13, 20 and 22 answered.

fixtures/asterisk/captured/<release>/ holds raw AMI replies captured from real instances by
tests/capture_asterisk.py (no DAHDI hardware: a PBX with chan_dahdi and no spans, then with
chan_dahdi unloaded). Where the simulator and the real server disagree on a case both can play,
the simulator is wrong: these tests replay every captured exchange against the simulator
playing the same generation and compare the bytes. They need no Asterisk (the captures are
files); tests/test_real_asterisk.py holds the files to what the real servers answer today.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from isp_plugins.checks import AMI_CHECKS
from tests.asterisk_real import BUILDS, MONITOR, NO_COMMAND, SECRET
from tests.capture_asterisk import CAPTURED, SCENARIO, Server, capture, stable
from tests.check_cases import REAL_CASES
from tests.conftest import run_script

RELEASES = {build.release: build for build in BUILDS.values()}


def captured(release: str) -> dict[str, bytes]:
    directory = CAPTURED / release
    return {path.stem: path.read_bytes() for path in sorted(directory.glob("*.txt"))}


def test_every_build_has_its_captures() -> None:
    assert sorted(path.name for path in CAPTURED.iterdir() if path.is_dir()) == sorted(RELEASES)
    assert (CAPTURED.parent / "README.md").is_file()


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_the_simulator_answers_every_captured_exchange_byte_for_byte(
    release: str, simulator
) -> None:
    profile = RELEASES[release].profile
    sim = simulator(profile, SCENARIO, secret=SECRET, username=MONITOR)
    viewer = simulator(
        profile, SCENARIO, secret=SECRET, username=NO_COMMAND, failure="no-permission"
    )

    def unload() -> None:
        sim.scenario = "dahdi_not_loaded"

    server = Server(
        {MONITOR: sim.port, NO_COMMAND: viewer.port},
        unload,
        lambda: sim.emit("Reload", Module="All", Status="0"),
    )
    played = capture(server)
    real = captured(release)
    assert sorted(played) == sorted(real)
    differ = {
        name: (stable(played[name]), stable(real[name]))
        for name in real
        if stable(played[name]) != stable(real[name])
    }
    assert differ == {}


@pytest.mark.parametrize("script", [check.script for check in AMI_CHECKS])
@pytest.mark.parametrize("release", sorted(RELEASES))
def test_each_check_says_of_the_captured_pbx_what_it_says_of_the_real_one(
    release: str, script: str, simulator
) -> None:
    sim = simulator(RELEASES[release].profile, SCENARIO)
    run = run_script(
        script,
        "-H",
        "127.0.0.1",
        "-p",
        str(sim.port),
        "-U",
        "monitor",
        env={"ASTERISK_AMI_SECRET": "s3cret-Zq81"},
    )
    assert (run.code, run.status) == REAL_CASES[script].bare


def test_the_captures_say_how_they_were_made() -> None:
    readme = (CAPTURED.parent / "README.md").read_text(encoding="utf-8")
    for release in RELEASES:
        assert release in readme
    assert "python -m tests.capture_asterisk" in readme


def test_captured_files_keep_their_bytes() -> None:
    """CRLF line ends must survive git: .gitattributes marks the captures -text."""
    attributes = (Path(__file__).resolve().parent.parent / ".gitattributes").read_text()
    assert "fixtures/asterisk/captured/** -text" in attributes
    for release in RELEASES:
        assert captured(release)["login"].endswith(b"\r\n\r\n")
