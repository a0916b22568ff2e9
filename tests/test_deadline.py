"""The one deadline rule: a check's I/O gives up before -t, counted from the backstop's start."""

from __future__ import annotations

import pytest

from isp_plugins.runtime import deadline


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(deadline.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(deadline, "_armed_at", None)
    return fake


def test_without_a_backstop_the_budget_is_a_little_under_t(clock: Clock) -> None:
    assert deadline.session_deadline(10) == 9.0
    assert deadline.session_deadline(1) == pytest.approx(0.9)


def test_time_spent_before_the_io_comes_off_the_budget(clock: Clock) -> None:
    """Imports and option parsing on a loaded machine must not let the SIGALRM backstop
    (armed with -t) fire before the session's own deadline."""
    deadline.arm()
    clock.now += 0.4  # importing panoramisk, say
    assert deadline.session_deadline(1) == pytest.approx(0.5)
    assert deadline.deadline_instant(1) == pytest.approx(1000.9)
    clock.now += 5
    assert deadline.session_deadline(1) == 0.0
