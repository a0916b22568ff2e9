"""The one rule for tests that need a real system service (Postfix, MariaDB, Nagios, ...).

On a developer's machine without the service such a test skips, naming the .ci/setup.d
script that installs it; with ISP_PLUGINS_REQUIRE_SERVICES=1 (CI, .ci/run) it fails instead,
so a broken set-up never passes as a run of skips.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

SETUP = Path(__file__).resolve().parent.parent / ".ci" / "setup.d"
#: Marks a test that runs a real service: .ci/run's other interpreters leave these out
#: (-m "not services"), the suite's Python side being tested there without them.
services = pytest.mark.services

#: CI says every service is there: a missing one is a failure, not a skip.
REQUIRED = os.environ.get("ISP_PLUGINS_REQUIRE_SERVICES") == "1"


def service_missing(script: str, why: str) -> NoReturn:
    """Skip (or, in CI, fail) because ``why``; ``script`` is the .ci/setup.d file that fixes it."""
    assert (SETUP / script).is_file(), f"no .ci/setup.d/{script}"
    reason = f"{' '.join(why.split())} (Debian: .ci/setup.d/{script})"
    if REQUIRED:
        pytest.fail(f"{reason}, and ISP_PLUGINS_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def exclusive(service: str) -> Iterator[None]:
    """Hold the machine-wide lock of a system service the tests share (the one Postfix queue,
    the one test database): its tests wait for each other across pytest-xdist workers, and
    across suites run at once."""
    path = Path(tempfile.gettempdir()) / f"isp-plugins-tests-{service}.lock"
    lock = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)  # read-only: any user may lock it
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)
