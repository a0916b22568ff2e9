"""Shared test helpers: an AMI simulator per test, and the real console script as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from asterisk_ami.simulator import PROFILES, SCENARIOS, Simulator

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = SCENARIOS  # the simulator's scenarios, shipped in asterisk_ami
VERSIONS = sorted(PROFILES, key=lambda v: tuple(int(x) for x in v.split(".")))
OLD_FORMAT = [v for v in VERSIONS if not PROFILES[v].output_headers]
SECRET = "s3cret-Zq81"
#: Seconds a test of a deadline allows beyond it, for a loaded machine. Tests never hold the
#: machine to a speed: speed goals are measured in benchmarks/.
SLACK = 3.0


@dataclass
class PluginRun:
    """What one run of a console script printed and returned."""

    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def status(self) -> str:
        return self.lines[0] if self.lines else ""


def run_script(
    name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> PluginRun:
    """Run an installed console script the way Nagios does: a fresh process, no secret in env."""
    script = Path(sys.executable).with_name(name)
    assert script.exists(), f"{script} is not installed (pip install -e .)"
    environment = {k: v for k, v in os.environ.items() if k != "ASTERISK_AMI_SECRET"}
    environment.update(env or {})
    started = time.monotonic()
    done = subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
    )
    return PluginRun(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def started_in_threads(build: Callable[..., Any], **defaults: Any) -> Iterator[Callable[..., Any]]:
    """A fixture's body: ``start(...)`` builds a simulator (or a farm of them) with the tests'
    login delay and secret, and starts it in its own thread; all are stopped after the test."""
    started: list[Any] = []

    def start(*args: Any, **options: Any) -> Any:
        for name, value in {"auth_delay": 0.05, "secret": SECRET, **defaults}.items():
            options.setdefault(name, value)
        server = build(*args, **options)
        server.start_in_thread()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def simulator() -> Iterator[Callable[..., Simulator]]:
    """Start simulators on free loopback ports; all are stopped after the test."""

    def build(asterisk: str = "18", scenario: str = "pri_all_up", **options: Any) -> Simulator:
        return Simulator(asterisk=asterisk, scenario=scenario, **options)

    yield from started_in_threads(build, fixtures=FIXTURES)


def wait_for(predicate: Callable[[], bool], seconds: float = 2.0) -> bool:
    """Poll until predicate() holds: the simulator records actions from its own thread."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# -- check_postfix_deliveries's two ways of counting a block ------------------------------
#: One pass of the Aho-Corasick automaton (ahocorasick_rs installed), or the bytes.count/find
#: passes of the BlockCounter (no wheel for the platform). The scan tests run both.
POSTFIX_COUNTERS = ("automaton", "bytes")


@contextmanager
def postfix_counter(name: str) -> Iterator[None]:
    """check_postfix_deliveries counts blocks the ``name`` way inside the block."""
    from isp_plugins.sources.postfix_log import automaton

    saved = automaton.ahocorasick_rs
    if name == "automaton" and saved is None:
        pytest.skip("ahocorasick_rs is not installed")
    if name == "bytes":
        automaton.ahocorasick_rs = None
    try:
        yield
    finally:
        automaton.ahocorasick_rs = saved


@pytest.fixture(params=POSTFIX_COUNTERS)
def counter(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test runs once with each of :data:`POSTFIX_COUNTERS`."""
    with postfix_counter(request.param):
        yield request.param


# -- property-based tests ---------------------------------------------------------------
#: One seed per run, printed in the header, so a failing fuzz run can be repeated exactly.
FUZZ_SEED = int(os.environ.get("HYPOTHESIS_SEED") or int.from_bytes(os.urandom(4), "big"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_nagios_config.py checks the shipped configuration with the real nagios4 and
    icinga2: the whole module counts as service tests (tests/services.py)."""
    for item in items:
        if item.nodeid.startswith("tests/test_nagios_config.py::"):
            item.add_marker(pytest.mark.services)


def pytest_report_header() -> str:
    return f"fuzz seed: {FUZZ_SEED} (HYPOTHESIS_SEED={FUZZ_SEED} repeats this run's examples)"
