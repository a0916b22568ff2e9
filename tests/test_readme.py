"""README.md's option lists are the commands' own ``--help``, so they cannot drift from it.

Each check of the registry, and asterisk-watch, has one block in README.md: a marker comment,
then a ``text`` fence holding the "Options:" part of its ``--help`` at 80 columns. The tests
fail when a block differs from what the installed command prints now, or when a command has no
block. ``python -m tests.test_readme --write`` rewrites the blocks from the current --help.
"""

from __future__ import annotations

import re
import sys

import pytest

from isp_plugins.checks import CHECKS
from tests.conftest import ROOT, run_script

README = ROOT / "README.md"
COMMANDS = [check.script for check in CHECKS] + ["asterisk-watch"]
MARKER = "<!-- {script} --help: python -m tests.test_readme --write rewrites this block -->"
#: A block: the marker, then the fenced options.
BLOCK = re.compile(
    r"^<!-- (?P<script>\S+) --help: [^\n]*-->\n```text\n(?P<options>.*?)```$",
    re.MULTILINE | re.DOTALL,
)


def current_options(script: str) -> str:
    """The "Options:" part of the command's --help, as the installed script prints it."""
    run = run_script(script, "--help", env={"COLUMNS": "80"})
    assert (run.code, run.stderr) == (0, ""), run.stdout
    at = run.stdout.index("\nOptions:\n")
    return run.stdout[at + 1 :]


def readme_blocks(text: str) -> dict[str, str]:
    """Script -> the options its README block holds; a script with two blocks is an error."""
    blocks: dict[str, str] = {}
    for match in BLOCK.finditer(text):
        assert match.group("script") not in blocks, f"two blocks for {match.group('script')}"
        blocks[match.group("script")] = match.group("options")
    return blocks


def test_readme_has_one_options_block_per_command() -> None:
    text = README.read_text(encoding="utf-8")
    assert sorted(readme_blocks(text)) == sorted(COMMANDS)
    # Every marker is part of a block the pattern reads (none hides in a broken fence).
    assert text.count("<!-- check_") + text.count("<!-- asterisk-watch") == len(COMMANDS)


@pytest.mark.parametrize("script", COMMANDS)
def test_readme_options_are_the_current_help(script: str) -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    assert blocks[script] == current_options(script), (
        f"README.md's options of {script} differ from its --help: "
        "python -m tests.test_readme --write rewrites them"
    )


def test_the_block_pattern_reads_a_block() -> None:
    marker = MARKER.format(script="check_x")
    text = f"Intro\n\n{marker}\n```text\nOptions:\n  -h, --help  Help.\n```\n\nMore\n"
    assert readme_blocks(text) == {"check_x": "Options:\n  -h, --help  Help.\n"}
    assert write_blocks(text, {"check_x": "Options:\n  -V\n"}) == text.replace(
        "  -h, --help  Help.\n", "  -V\n"
    )


def write_blocks(text: str, options: dict[str, str]) -> str:
    """text with each block's options replaced by options[script]."""

    def replace(match: re.Match[str]) -> str:
        script = match.group("script")
        return f"{MARKER.format(script=script)}\n```text\n{options[script]}```"

    return BLOCK.sub(replace, text)


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print("usage: python -m tests.test_readme --write", file=sys.stderr)
        return 2
    text = README.read_text(encoding="utf-8")
    options = {script: current_options(script) for script in readme_blocks(text)}
    written = write_blocks(text, options)
    README.write_text(written, encoding="utf-8")
    missing = sorted(set(COMMANDS) - set(options))
    for script in missing:  # a new check: its block goes where its section says
        print(f"README.md has no block for {script}; add this where its options belong:")
        print(MARKER.format(script=script) + "\n```text\n```")
    print("README.md's option blocks " + ("rewritten" if written != text else "unchanged"))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
