"""The option groups the checks share: AMI connection and login, run (-t, -v, -V), counts
(-w, -c, -n) and the state directory."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import click

from isp_plugins.cli.secrets import SECRET_ENV, read_secret
from isp_plugins.cli.types import CountThreshold, Timeout
from isp_plugins.version import __version__

if TYPE_CHECKING:
    from asterisk_ami.session import Target


def run_options(timeout_help: str, verbose_help: str) -> list[Callable[[Any], Any]]:
    """-t/--timeout (default 10), counted -v/--verbose and -V/--version, for every check."""
    return [
        click.option(
            "-t",
            "--timeout",
            type=Timeout(),
            default=10.0,
            show_default=True,
            help=timeout_help,
        ),
        click.option("-v", "--verbose", count=True, help=verbose_help),
        click.version_option(
            __version__, "-V", "--version", message="%(prog)s (isp-plugins) %(version)s"
        ),
    ]


def top_option(listed: str, default: int = 5, most: int = 100) -> Callable[[Any], Any]:
    """--top N (the field ``top_n``): how many of the biggest items the long output lists;
    ``listed`` says which, in the help text."""
    return click.option(
        "--top",
        "top_n",
        type=click.IntRange(0, most),
        default=default,
        show_default=True,
        metavar="N",
        help=listed,
    )


def state_dir_option(kept: str) -> Callable[[Any], Any]:
    """--state-dir of the checks that remember something between runs (``kept`` says what)."""
    return click.option(
        "--state-dir",
        metavar="DIR",
        help=f"{kept} Default: $XDG_STATE_HOME/isp-plugins or ~/.local/state/isp-plugins "
        "(private to the user). Refused: a symlink, a directory anyone may write without the "
        "sticky bit, or one owned by neither the user nor root.",
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

    The check's options object receives them as one :class:`AmiOptions`, its field ``ami``.
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

    return apply_options(*options)


class AmiOptions(NamedTuple):
    """The options of ami_options(), the field ``ami`` of an AMI check's options object."""

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
    from asterisk_ami.protocol import wire_encodable  # noqa: PLC0415 (keeps asyncio out of --help)
    from asterisk_ami.session import Target  # noqa: PLC0415
    from asterisk_ami.tls import client_context  # noqa: PLC0415

    for what, value in (("username", username), ("secret", secret), ("hostname", hostname)):
        if "\r" in value or "\n" in value:
            raise click.UsageError(f"the {what} must not contain a line break")
        if not wire_encodable(value):  # bytes that are not UTF-8, from argv, env or a file
            raise click.UsageError(f"the {what} is not valid UTF-8 text")
    host = hostname.strip("[]")
    if not host or any(c.isspace() for c in host):
        raise click.UsageError("the hostname must not be empty or contain white space")
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
    return Target(host, port, username, secret, auth, context)


def options_object(cls: type[Any]) -> Callable[[Callable[[Any], Any]], Callable[..., Any]]:
    """Hand the command one options object, ``cls`` (a NamedTuple), built from click's values.

    A field ``ami`` gathers the options of :func:`ami_options` into an :class:`AmiOptions`.
    The callback's ``build_options(params)`` builds the same object without running the
    check: asterisk-watch parses a service's command line with the plugin's own command.
    """

    def build(params: dict[str, Any]) -> Any:
        values = dict(params)
        if "ami" in cls._fields:
            values["ami"] = AmiOptions(*(values.pop(name) for name in AmiOptions._fields))
        return cls(**values)

    def decorate(func: Callable[[Any], Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def callback(**params: Any) -> Any:
            return func(build(params))

        callback.build_options = build  # type: ignore[attr-defined]
        return callback

    return decorate
