"""The click command class of every check: usage errors are one UNKNOWN status line, exit 3."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

UNKNOWN = 3


def status_line(check_name: str, state: str, text: str) -> str:
    """A one-line status for failures that happen outside nagiosplugin's run."""
    flat = " ".join(text.replace("|", "/").split())
    return f"{check_name} {state} - {flat}"


class PluginCommand(click.Command):
    """A click command whose usage errors are one UNKNOWN line on stdout, exit 3.

    Click exits 2 on usage errors and writes to stderr: Nagios would read CRITICAL and show
    nothing. ``--help`` and ``--version`` still exit 0.
    """

    def __init__(self, *args: Any, check_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        super().__init__(*args, **kwargs)
        self.check_name = check_name

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spell_out_short_options(self.get_params(ctx), args))

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as exc:
            self._unknown(f"{exc.format_message()} (see --help)")
        except click.Abort:
            self._unknown("aborted")
        except Exception as exc:  # a bug of ours: still one status line, never a traceback
            self._unknown(f"internal error: {type(exc).__name__}: {exc}")
        sys.exit(code if isinstance(code, int) else 0)

    def _unknown(self, text: str) -> NoReturn:
        print(status_line(self.check_name, "UNKNOWN", text), flush=True)
        sys.exit(UNKNOWN)


def spell_out_short_options(params: list[click.Parameter], args: list[str]) -> list[str]:
    """``args`` with each separate short option (``-H``) replaced by its long name.

    Click tries every argument as a long option first and builds a "No such option" error,
    with difflib's close matches, for each short one that misses: about 1 ms per option, on
    every run. The rewrite stops at the first argument it does not fully understand (``-vv``,
    ``-Hhost``, ``--``, an unknown option) and leaves the rest to click as it was; an option's
    value is never rewritten, even when it looks like an option.
    """
    short: dict[str, tuple[str, bool]] = {}
    long: dict[str, bool] = {}  # long name -> takes a value
    for param in params:
        if not isinstance(param, click.Option):
            continue
        longs = [name for name in param.opts if name.startswith("--")]
        takes_value = not (param.is_flag or param.count)
        long.update(dict.fromkeys(longs + list(param.secondary_opts), takes_value))
        for name in param.opts:
            if longs and len(name) == 2 and name[0] == "-" and name != "--":
                short[name] = (longs[0], takes_value)
    spelled: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in short:
            name, takes_value = short[arg]
        elif arg in long:
            name, takes_value = arg, long[arg]
        elif arg.startswith("-") and arg != "-":
            break  # click reads this and everything after it unchanged
        else:
            name, takes_value = arg, False
        if takes_value and index + 1 >= len(args):
            break  # click's "requires an argument" error names the option as typed
        spelled.append(name)
        if takes_value:
            spelled.append(args[index + 1])
            index += 1
        index += 1
    return spelled + args[index:]
