"""Behaviour stays byte for byte: every golden case of tests/golden.py renders as recorded."""

from __future__ import annotations

import pytest

from tests import golden

CASES = list(golden.cases())


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    golden.warm()


@pytest.mark.parametrize(("name", "how"), CASES, ids=[name for name, _ in CASES])
def test_golden_output(name: str, how: tuple[object, ...]) -> None:
    expected = (golden.GOLDEN / name).read_text()
    assert golden.render(how) == expected, f"{name} differs (python -m tests.golden rewrites it)"


def test_every_golden_file_is_a_case() -> None:
    on_disk = {str(p.relative_to(golden.GOLDEN)) for p in golden.GOLDEN.rglob("*.txt")}
    assert on_disk == {name for name, _ in CASES}
