"""check_dnsbl: the relays' addresses and domains on DNS blocklists, without false alarms.

This module is the command line only; the check (``check``), nagiosplugin and asyncio load
after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

import os
import re
import stat
from typing import TYPE_CHECKING, NamedTuple, NoReturn

import click

from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import apply_options, options_object, run_options, state_dir_option
from isp_plugins.cli.secrets import SecretFileError, read_first_line
from isp_plugins.cli.types import Duration, RangeType

if TYPE_CHECKING:
    import nagiosplugin

    from isp_plugins.sources.dnsbl.lists import BlockList
    from isp_plugins.sources.dnsbl.names import Target

NAME = "dnsbl"
DQS_ENV = "DNSBL_DQS_KEY"
#: A zones or address file larger than this is not one (a /24 per line is 20 bytes).
MAX_FILE = 1 << 20


class Options(NamedTuple):
    """The parsed command line, handed whole to the check; the last four are derived from it
    by :func:`plan` (what to look up, on which lists, through which resolvers)."""

    addresses: tuple[str, ...]
    address_file: str | None
    domains: tuple[str, ...]
    zones: tuple[str, ...]
    zones_file: str | None
    no_default_zones: bool
    dqs_key_file: str | None
    nameservers: tuple[str, ...]
    query_timeout: float
    retries: int
    retest: float
    warning: nagiosplugin.Range | None
    critical: nagiosplugin.Range | None
    state_dir: str | None
    timeout: float
    verbose: int
    targets: tuple[Target, ...] = ()
    blocklists: tuple[BlockList, ...] = ()
    resolvers: tuple[tuple[str, int], ...] = ()
    dqs: bool = False


def read_small_file(path: str, what: str) -> str:
    """A regular text file's content (a FIFO would block the check, a huge file is not ours)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise click.UsageError(f"{what} {path} is not a regular file")
        if info.st_size > MAX_FILE:
            raise click.UsageError(f"{what} {path} is larger than {MAX_FILE >> 20} MiB")
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise click.UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise click.UsageError(f"cannot read {what} {path}: not UTF-8 text") from None


def dqs_key(key_file: str | None) -> str:
    """The Spamhaus DQS key from --dqs-key-file, else $DNSBL_DQS_KEY, else ''. Never echoed."""
    if key_file is not None:
        try:
            key = read_first_line(key_file, "DQS key file").strip()
        except SecretFileError as exc:
            raise click.UsageError(str(exc)) from None
        if not key:
            raise click.UsageError(f"DQS key file {key_file} is empty")
    else:
        key = os.environ.get(DQS_ENV, "").strip()
    # A DNS label of letters and digits (Spamhaus' keys are 26 of them); the key itself is
    # never part of a message.
    if key and not re.fullmatch(r"[A-Za-z0-9]{8,63}", key):
        where = f"the DQS key in {key_file}" if key_file else f"${DQS_ENV}"
        raise click.UsageError(f"{where} is not a DQS key (8 to 63 letters and digits)")
    return key.lower()


def parse_nameserver(text: str) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT``, ``[V6]:PORT`` or a bare IPv6 address -> (address, port)."""
    import ipaddress  # noqa: PLC0415

    value = text.strip()
    port = "53"
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", value)
    if match:
        value, port = match.group(1), match.group(2) or "53"
    elif value.count(":") == 1:
        value, port = value.split(":")
    try:
        address = str(ipaddress.ip_address(value))
    except ValueError:
        raise click.UsageError(
            f"--nameserver {text!r} is not an IP address with an optional :PORT"
        ) from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise click.UsageError(f"--nameserver {text!r}: the port is not 1 to 65535")
    return address, int(port)


def plan(options: Options) -> Options:
    """The options with what to look up, where and through whom; bad input is a UsageError."""
    from isp_plugins.sources.dnsbl import lists, names, zonefile  # noqa: PLC0415

    targets: list[Target] = []
    try:
        for text in options.addresses:
            targets.extend(names.parse_address(text))
        if options.address_file:
            content = read_small_file(options.address_file, "address file")
            targets.extend(names.parse_address_file(content, options.address_file))
        targets.extend(names.parse_domain(text) for text in options.domains)
        specs = []
        if options.zones_file:
            content = read_small_file(options.zones_file, "zones file")
            specs.extend(zonefile.parse_zones_file(content, options.zones_file))
        specs.extend(zonefile.parse_spec(text) for text in options.zones)
    except names.BadTarget as exc:
        raise click.UsageError(str(exc)) from None
    targets = list({target.key + target.kind: target for target in targets}.values())
    if not targets:
        raise click.UsageError("nothing to check: give -a/--address, --address-file or --domain")
    chosen = lists.select(specs, not options.no_default_zones)
    if not chosen:
        raise click.UsageError("no list to ask: give --zone or --zones-file")
    for kind, noun in (
        ("ipv4", "IPv4 addresses"),
        ("ipv6", "IPv6 addresses"),
        ("domain", "domains"),
    ):
        if any(t.kind == kind for t in targets) and not any(kind in b.kinds for b in chosen):
            raise click.UsageError(
                f"no list takes {noun}: add one with --zone NAME:critical:{kind}"
            )
    key = dqs_key(options.dqs_key_file)
    if key:
        chosen = lists.with_dqs(chosen, key)
    return options._replace(
        targets=tuple(targets),
        blocklists=tuple(chosen),
        resolvers=tuple(parse_nameserver(text) for text in options.nameservers),
        dqs=bool(key),
    )


@click.command(cls=PluginCommand, check_name=NAME.upper())
@click.option(
    "-a",
    "--address",
    "addresses",
    multiple=True,
    metavar="ADDR|CIDR",
    help="An IPv4 or IPv6 address to look up, or a block up to /24 (IPv4) or /120 (IPv6): "
    "every address in it. Repeatable.",
)
@click.option(
    "--address-file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Addresses and blocks to look up, one a line ('#' comments).",
)
@click.option(
    "--domain",
    "domains",
    multiple=True,
    metavar="DOMAIN",
    help="A domain to look up on the domain lists (the relays' HELO names, the sending "
    "domains). Repeatable.",
)
@click.option(
    "--zone",
    "zones",
    multiple=True,
    metavar="NAME[:SEVERITY[:KINDS]]",
    help="Ask this list too, or change a built-in one: SEVERITY critical, warning or info "
    "(default critical), KINDS ipv4,ipv6,domain (default ipv4). Repeatable.",
)
@click.option(
    "--zones-file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Lists to ask, one a line: 'NAME [SEVERITY] [KINDS]'; check_rbl's configuration "
    "file (server=NAME lines) is read as well.",
)
@click.option(
    "--no-default-zones",
    is_flag=True,
    help="Ask only the lists of --zone and --zones-file, not the built-in set.",
)
@click.option(
    "--dqs-key-file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help=f"Ask Spamhaus through its Data Query Service with the key on FILE's first line "
    f"(or in ${DQS_ENV}) instead of the public mirrors.",
)
@click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    metavar="ADDR[:PORT]",
    help="The resolver to ask (a retry goes to the next one). Repeatable. Default: those of "
    "/etc/resolv.conf.",
)
@click.option(
    "--query-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=3.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds each query waits for its answer.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 5),
    default=1,
    show_default=True,
    help="Times a query that got no answer is asked again.",
)
@click.option(
    "--retest",
    type=Duration(),
    default="1h",
    show_default=True,
    metavar="AGE",
    help="How long a list's test result is kept in --state-dir (0: test every list every run).",
)
@click.option(
    "-w",
    "--warning",
    type=RangeType(),
    metavar="RANGE",
    help="WARNING when the weighted listings are outside RANGE (a critical list's listing "
    "weighs 10, a warning list's 3, an info list's 1).",
)
@click.option(
    "-c",
    "--critical",
    type=RangeType(),
    metavar="RANGE",
    help="CRITICAL when the weighted listings are outside RANGE.",
)
@state_dir_option("Where the lists' test results are kept (--retest).")
@apply_options(
    *run_options(
        "Seconds for the whole check; lists that have not answered by then are reported.",
        "-v adds each list's answer time.",
    )
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check that the relays' addresses and domains are on no DNS blocklist.

    Looks every address (IPv4 reversed by octet, IPv6 by nibble) and domain up on each
    list (RFC 5782), all queries at once. Only the answers a list documents as listings
    count: an answer outside 127.0.0.0/8, 127.0.0.1 or an error code (Spamhaus's
    127.255.255.252/254/255: the list refuses this resolver) is an error of that list,
    never a listing. Each list is tested with its test points (127.0.0.2 must be listed,
    127.0.0.1 must not; the domain equivalents), once per --retest: a list that fails is
    broken, one that lists its never-listed point lists everything; both are ignored.

    \b
    States:
      OK        no address or domain on a critical or warning list
      WARNING   a listing on a warning list; -w reached; a list broken, listing
                everything or answering errors (its answers ignored)
      CRITICAL  a listing on a critical list; -c reached
      UNKNOWN   bad options; no resolver answers at all; every list failed

    \b
    Perfdata:
      listed_addresses  addresses and domains on a critical or warning list
      listings          listings, weighted by severity (critical 10, warning 3, info 1)
      lists_checked     lists that answered every query and passed their test
      lists_failed      lists that did not answer, or were broken or ignored
      time              seconds the queries took

    \b
    Examples:
      check_dnsbl -a 192.0.2.25 -a 192.0.2.26 --domain relay.example.net
      check_dnsbl -a 192.0.2.0/28 --nameserver 127.0.0.1 --dqs-key-file /etc/nagios/dqs.key
      check_dnsbl --address-file /etc/nagios/relays --zones-file /etc/nagios/check_rbl.ini
    """
    options = plan(options)
    from isp_plugins.checks.dnsbl import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime.run import run_check  # noqa: PLC0415

    secret = next((b.query_zone.split(".")[0] for b in options.blocklists if b.query_zone), "")
    run_check(check.build_check(options), options.verbose, options.timeout, secret)


if __name__ == "__main__":
    main()
