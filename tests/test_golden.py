"""Behaviour stays byte for byte: every golden case of tests/golden.py renders as recorded."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from tests import golden

CASES = list(golden.cases())
#: The help/ cases hold click 8.2+'s words for an unknown option ("No such option '--x'.");
#: click 8.1, the last for Python 3.9, says "No such option: --x".
CLICK_8_1 = tuple(int(part) for part in version("click").split(".")[:2]) < (8, 2)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    golden.warm()


@pytest.mark.parametrize(("name", "how"), CASES, ids=[name for name, _ in CASES])
def test_golden_output(name: str, how: tuple[object, ...]) -> None:
    if CLICK_8_1 and name.startswith("help/"):
        pytest.skip("recorded with click 8.2+, which words an unknown option differently")
    expected = (golden.GOLDEN / name).read_text()
    assert golden.render(how) == expected, f"{name} differs (python -m tests.golden rewrites it)"


def test_every_golden_file_is_a_case() -> None:
    on_disk = {str(p.relative_to(golden.GOLDEN)) for p in golden.GOLDEN.rglob("*.txt")}
    assert on_disk == {name for name, _ in CASES}
