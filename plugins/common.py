"""The command-line side every check shares: click command class, option types, secrets.

Nothing here imports nagiosplugin, asyncio or panoramisk, so ``--help`` and option errors stay
fast; :mod:`isp_plugins.runtime` holds what runs the check.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import sys
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, NoReturn

import click

from isp_plugins.version import __version__

if TYPE_CHECKING:
    import nagiosplugin

    from asterisk_ami.session import Target

SECRET_ENV = "ASTERISK_AMI_SECRET"
UNKNOWN = 3
#: Names that moved to isp_plugins.runtime (kept importable from here lazily).
_RUNTIME_NAMES = frozenset(
    {
        "Failure",
        "classify",
        "FailureContext",
        "failure_metric",
        "failure_of",
        "SuiteOutput",
        "run_check",
        "connection_notes",
    }
)


def status_line(check_name: str, state: str, text: str) -> str:
    """A one-line status for failures that happen outside nagiosplugin's run."""
    flat = " ".join(text.replace("|", "/").split())
    return f"{check_name} {state} - {flat}"


# -- click ------------------------------------------------------------------------------
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


class CountThreshold(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A threshold on a count of things that are up (spans, ports, lines).

    A plain whole number K keeps the classic meaning "alert when K or fewer are up" (the range
    ``K+1:``); anything with ``:``, ``~`` or ``@`` is a Monitoring Plugins range.
    """

    name = "K|RANGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> nagiosplugin.Range:
        import nagiosplugin  # noqa: PLC0415 (not needed for --help)

        if isinstance(value, nagiosplugin.Range):
            return value
        text = str(value).strip()
        if re.fullmatch(r"\d+", text):
            return nagiosplugin.Range(f"{int(text) + 1}:")
        if not re.search(r"[:~@]", text):
            self.fail(f"{text!r} is neither a whole number nor a range like 3: or @0:1", param, ctx)
        try:
            return nagiosplugin.Range(text)
        except ValueError as exc:
            self.fail(f"{text!r} is not a valid range: {exc}", param, ctx)


class RangeType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A Monitoring Plugins range (``10`` alerts above 10, ``10:`` below, ``@10:20`` inside)."""

    name = "RANGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> nagiosplugin.Range:
        import nagiosplugin  # noqa: PLC0415 (not needed for --help)

        if isinstance(value, nagiosplugin.Range):
            return value
        text = str(value).strip()
        if not re.fullmatch(r"@?(~|[-+]?\d+(\.\d+)?)?(:([-+]?\d+(\.\d+)?)?)?", text) or not text:
            self.fail(f"{text!r} is not a range like 100, 10:, ~:10 or @10:20", param, ctx)
        try:
            return nagiosplugin.Range(text)
        except ValueError as exc:
            self.fail(f"{text!r} is not a valid range: {exc}", param, ctx)


UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = r"(\d+(?:\.\d+)?)([smhdw]?)"


def duration_seconds(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``2h``, ``1d``, ``1w`` as seconds; ValueError otherwise."""
    match = re.fullmatch(_DURATION, text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 2h or 1d")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """``90``, ``90s``, ``30m``, ``2h``, ``1d`` as seconds (0 allowed: "never", "off")."""

    name = "AGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return duration_seconds(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class DurationRange(click.ParamType):  # type: ignore[type-arg]
    """A range whose ends may carry s/m/h/d/w: ``30m`` alerts above 1800 s, ``@1h:2h`` inside."""

    name = "AGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> nagiosplugin.Range:
        import nagiosplugin  # noqa: PLC0415 (not needed for --help)

        if isinstance(value, nagiosplugin.Range):
            return value
        text = str(value).strip().lower()
        match = re.fullmatch(rf"(@?)(?:(~|{_DURATION})?:)?({_DURATION})?", text)
        if not text or not match or (match.group(2) is None and match.group(5) is None):
            self.fail(f"{value!r} is not an age like 30m, 2h, 1d or a range of them", param, ctx)
        invert, start, _, _, end = match.group(1, 2, 3, 4, 5)

        def secs(part: str) -> str:
            return f"{duration_seconds(part):g}"

        spec = invert
        if ":" in text:
            spec += ("~" if start == "~" else secs(start) if start else "") + ":"
        spec += secs(end) if end else ""
        try:
            return nagiosplugin.Range(spec)
        except ValueError as exc:
            self.fail(f"{value!r} is not a valid age range: {exc}", param, ctx)


class NumberList(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """Numbers and ranges such as ``1-4,7``, as a sorted tuple of ints (channels, spans)."""

    name = "LIST"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        numbers: set[int] = set()
        for part in str(value).split(","):
            match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if not match:
                self.fail(f"{part.strip()!r} is not a number or a range like 1-4", param, ctx)
            first, last = int(match.group(1)), int(match.group(2) or match.group(1))
            if first < 1:
                self.fail(f"{part.strip()!r}: numbers start at 1", param, ctx)
            if first > last or last - first > 10000:
                self.fail(f"{part.strip()!r} is not a valid range", param, ctx)
            numbers.update(range(first, last + 1))
        return tuple(sorted(numbers))


def run_options(timeout_help: str, verbose_help: str) -> list[Callable[[Any], Any]]:
    """-t/--timeout (default 10), counted -v/--verbose and -V/--version, for every check."""
    return [
        click.option(
            "-t",
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=10.0,
            show_default=True,
            help=timeout_help,
        ),
        click.option("-v", "--verbose", count=True, help=verbose_help),
        click.version_option(
            __version__, "-V", "--version", message="%(prog)s (isp-plugins) %(version)s"
        ),
    ]


def state_dir_option(kept: str) -> Callable[[Any], Any]:
    """--state-dir of the checks that remember something between runs (``kept`` says what)."""
    return click.option(
        "--state-dir",
        metavar="DIR",
        help=f"{kept} Default: $XDG_STATE_HOME/isp-plugins or ~/.local/state/isp-plugins "
        "(private to the user).",
    )


def apply_options(*options: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Any]:
    """One decorator made of several click option decorators, in the order given."""

    def decorate(func: Callable[..., Any]) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def ami_options() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The connection, authentication, timeout and verbosity options of every AMI check.

    The command receives them as one :class:`AmiOptions`, its first argument.
    """
    options = [
        click.option(
            "-H",
            "--hostname",
            default="127.0.0.1",
            show_default=True,
            help="AMI host: name, IPv4 or IPv6 address.",
        ),
        click.option(
            "-p",
            "--port",
            type=click.IntRange(1, 65535),
            help="AMI TCP port.  [default: 5038, or 5039 with --tls]",
        ),
        click.option(
            "--tls",
            is_flag=True,
            help="Connect with TLS (manager.conf tlsenable) and verify the certificate "
            "against the system CAs or --ca-file.",
        ),
        click.option(
            "--ca-file",
            type=click.Path(dir_okay=False),
            metavar="FILE",
            help="CA certificates (PEM) that sign the AMI certificate; needs --tls.",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            help="With --tls, accept any certificate (the long output says so).",
        ),
        click.option("-U", "--username", required=True, help="manager.conf user."),
        click.option(
            "-P",
            "--password",
            metavar="SECRET",
            help=f"AMI secret. Visible in the process list: prefer --secret-file "
            f"or the {SECRET_ENV} environment variable.",
        ),
        click.option(
            "--secret-file",
            type=click.Path(dir_okay=False),
            metavar="FILE",
            help="Read the AMI secret from the first line of FILE.",
        ),
        click.option(
            "--auth",
            type=click.Choice(["plain", "md5"]),
            default="plain",
            show_default=True,
            help="Login with the plain secret, or by MD5 challenge (the secret does "
            "not cross the network).",
        ),
        *run_options(
            "Seconds for the whole check; on expiry the state is UNKNOWN.",
            "-v adds connection details to the long output, -vv the AMI exchange, -vvv every "
            "message (secrets hidden).",
        ),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def with_ami(**params: Any) -> Any:
            ami = AmiOptions(*(params.pop(name) for name in AmiOptions._fields))
            return func(ami, **params)

        for option in reversed(options):
            with_ami = option(with_ami)
        return with_ami

    return decorate


class AmiOptions(NamedTuple):
    """The options of ami_options(), handed to the command as its first argument."""

    hostname: str
    port: int | None
    tls: bool
    ca_file: str | None
    insecure: bool
    username: str
    password: str | None
    secret_file: str | None
    auth: str
    timeout: float
    verbose: int

    def target(self) -> Target:
        """Where to log in, with the secret from -P, --secret-file or the environment."""
        secret = read_secret(self.password, self.secret_file)
        return make_target(
            self.hostname,
            self.port,
            self.username,
            secret,
            self.auth,
            self.tls,
            self.ca_file,
            self.insecure,
        )


def count_options(
    things: str, excluded_by: str, up: str = "are up"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """-w, -c and -n of the checks that count things up (spans, ports, lines).

    ``things`` names them in the help ("spans", "FXO lines"), ``up`` says what counts ("have
    line"); ``excluded_by`` is the option that leaves some out before -n counts.
    """
    options = [
        click.option(
            "-w",
            "--warning",
            type=CountThreshold(),
            metavar="K|RANGE",
            help=f"WARNING when K or fewer {things} {up}, or when that number is outside "
            "RANGE. Default: fewer than expected.",
        ),
        click.option(
            "-c",
            "--critical",
            type=CountThreshold(),
            metavar="K|RANGE",
            help=f"CRITICAL when K or fewer {things} {up}, or outside RANGE. Default: none.",
        ),
        click.option(
            "-n",
            "--expected",
            type=click.IntRange(min=0),
            metavar="N",
            help=f"{things[0].upper()}{things[1:]} that should be listed (after {excluded_by}). "
            "Default: the number listed.",
        ),
    ]

    return apply_options(*options)


# -- secrets ----------------------------------------------------------------------------
def read_secret(password: str | None, secret_file: str | None) -> str:
    """The AMI secret from -P or --secret-file (not both), else $ASTERISK_AMI_SECRET."""
    if password is not None and secret_file is not None:
        raise click.UsageError("give the secret with -P or with --secret-file, not both")
    if password is not None:
        secret = password
    elif secret_file is not None:
        try:
            info = os.stat(secret_file)
            if not stat.S_ISREG(info.st_mode):  # a FIFO would block the check forever
                raise click.UsageError(f"secret file {secret_file} is not a regular file")
            with open(secret_file, encoding="utf-8") as handle:
                secret = handle.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise click.UsageError(f"cannot read secret file {secret_file}: {reason}") from None
    else:
        secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        raise click.UsageError(f"no AMI secret: give -P, --secret-file or set {SECRET_ENV}")
    return secret


def make_target(
    hostname: str,
    port: int | None,
    username: str,
    secret: str,
    auth: str,
    tls: bool = False,
    ca_file: str | None = None,
    insecure: bool = False,
) -> Target:
    """The AMI target; a line break in a header value would inject a second AMI header."""
    from asterisk_ami.session import Target  # noqa: PLC0415 (keeps asyncio out of --help)
    from asterisk_ami.tls import client_context  # noqa: PLC0415

    for what, value in (("username", username), ("secret", secret), ("hostname", hostname)):
        if "\r" in value or "\n" in value:
            raise click.UsageError(f"the {what} must not contain a line break")
    if (ca_file or insecure) and not tls:
        raise click.UsageError("--ca-file and --insecure apply to --tls only")
    if ca_file and insecure:
        raise click.UsageError("give --ca-file or --insecure, not both")
    context = None
    if tls:
        try:
            context = client_context(ca_file, verify=not insecure)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise click.UsageError(f"cannot load CA file {ca_file}: {reason}") from None
    port = port or (5039 if tls else 5038)
    return Target(hostname.strip("[]"), port, username, secret, auth, context)


def session_deadline(timeout: float) -> float:
    """The AMI session's own deadline: a little under -t, so it can still report UNKNOWN."""
    return timeout - min(1.0, timeout * 0.1)


def __getattr__(name: str) -> Any:
    """Lazy access to the runtime names, for code written before they moved."""
    if name in _RUNTIME_NAMES:
        from isp_plugins import runtime  # noqa: PLC0415

        return getattr(runtime, name)
    raise AttributeError(name)
