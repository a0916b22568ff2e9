"""Golden outputs: every AMI check in every simulator scenario of every Asterisk version, the
SIP log check on every log fixture, and every console script's ``--help``, byte for byte.

Each case runs the console script's entry point in a forked child (the same code path as the
installed script, without the cost of a new interpreter per case). ``python -m tests.golden``
rewrites the files under tests/golden/; tests/test_golden.py compares against them.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from asterisk_ami.simulator import PROFILES, Simulator
from isp_plugins.checks import CHECKS

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
SECRET = "s3cret-Zq81"
VERSIONS = sorted(PROFILES, key=lambda v: tuple(int(x) for x in v.split(".")))

#: Per AMI console script: the option sets each scenario is run with, in the order the golden
#: files show them (tests/test_registry.py holds the keys to the registry's AMI checks).
AMI_CASES: dict[str, list[tuple[str, ...]]] = {
    "check_asterisk_pri": [(), ("-w", "2", "-c", "1", "-n", "4", "-v"), ("--calls", "-n", "4")],
    "check_asterisk_fxo": [(), ("-n", "2", "--include-fxs", "-v")],
    "check_asterisk_dahdi": [(), ("--span", "1-4", "-v")],
    "check_asterisk_bri": [(), ("-n", "4", "--idle-ok", "-v")],
    "check_asterisk_peers": [(), ("-n", "6", "--rtt-warning", "2", "--tech", "sip", "-v")],
}
SIPAUTH_OPTIONS: list[tuple[str, ...]] = [
    (),
    ("--attempts-warning", "3", "--sources-critical", "2", "--top", "1", "-v"),
]


def fixtures_dir() -> Path:
    from asterisk_ami.simulator import default_fixtures

    return default_fixtures()


def scenarios(version: str) -> list[str]:
    return sorted(p.name for p in (fixtures_dir() / version).iterdir() if p.is_dir())


def warm() -> None:
    """Import every module of the suite once in this process, so forked children start warm."""
    import importlib
    import pkgutil

    for package in ("asterisk_ami", "isp_plugins"):
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)


def _script(name: str) -> Any:
    found = entry_points()
    # Python 3.9's entry_points() takes no group: it maps every group to its entry points, and
    # may list one distribution twice (its metadata in the checkout and in the virtualenv).
    scripts = (
        found.select(group="console_scripts")
        if hasattr(found, "select")
        else found["console_scripts"]
    )
    (entry,) = {e.value: e for e in scripts if e.name == name}.values()
    return entry.load()


def _fork() -> int:
    """``os.fork()``, without Python 3.12+'s DeprecationWarning about other threads (one per
    case, thousands per run). The threads here are pytest-xdist's I/O thread and the
    simulator's loop; the child takes none of their locks: it replaces stdout and stderr,
    logging re-creates its locks after a fork, and the console script starts its own loop."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        return os.fork()


def run_forked(script: str, args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit code and everything the script wrote (stdout then stderr merged), run in a child."""
    main = _script(script)
    with tempfile.TemporaryFile() as out:
        pid = _fork()
        if pid == 0:  # the child: the console script with fds 1 and 2 on ``out``
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(out.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
                os.environ.pop("ASTERISK_AMI_SECRET", None)
                os.environ.update(env or {})
                main(args=args, prog_name=script)
            except SystemExit as done:
                code = done.code
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code if isinstance(code, int) else (0 if code is None else 1))
            except BaseException as exc:  # pragma: no cover - shows in the golden diff
                sys.stdout.write(f"golden: {type(exc).__name__}: {exc}\n")
                sys.stdout.flush()
                os._exit(99)
            os._exit(98)  # pragma: no cover
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return code, out.read().decode("utf-8", "replace")


def _block(command: str, code: int, text: str, port: int | None = None) -> str:
    if port is not None:
        text = text.replace(f":{port}", ":PORT").replace(f"port {port}", "port PORT")
    return f"$ {command}\n{text}(exit {code})\n\n"


def render_ami(version: str, scenario: str) -> str:
    """The golden text of one simulator scenario: every AMI check with each option set."""
    sim = Simulator(
        asterisk=version,
        scenario=scenario,
        fixtures=fixtures_dir(),
        secret=SECRET,
        auth_delay=0.0,
    )
    port = sim.start_in_thread()
    try:
        text = ""
        for script, option_sets in AMI_CASES.items():
            for options in option_sets:
                base = ["-H", "127.0.0.1", "-p", str(port), "-U", "monitor", "-P", SECRET]
                code, output = run_forked(script, [*base, *options])
                shown = " ".join([script, "-U", "monitor", *options])
                text += _block(shown, code, output, port)
        return text
    finally:
        sim.stop()


def sipauth_logs() -> list[Path]:
    logs = ROOT / "fixtures" / "asterisk_security"
    return sorted(p for p in logs.iterdir() if p.suffix == ".log")


def render_sipauth(log: Path) -> str:
    text = ""
    for options in SIPAUTH_OPTIONS:
        state = tempfile.mkdtemp(prefix="golden-sipauth-")
        try:
            args = ["--log", str(log), "--state-dir", state, *options]
            code, output = run_forked("check_asterisk_sipauth", args)
            output = output.replace(state, "STATE").replace(str(log.parent), "FIXTURES")
            output = normalize(output)
            text += _block(" ".join(["check_asterisk_sipauth", log.name, *options]), code, output)
        finally:
            shutil.rmtree(state, ignore_errors=True)
    return text


#: Every check of the registry; each golden help file is named after its script.
CONSOLE_SCRIPTS = sorted(check.script for check in CHECKS)


#: Option errors every script must answer with one UNKNOWN line.
BAD_OPTIONS: list[tuple[str, ...]] = [("--no-such-option",), ("-t", "0"), ("-t",)]


def render_help(script: str) -> str:
    code, output = run_forked(script, ["--help"], env={"COLUMNS": "80"})
    text = _block(f"{script} --help", code, output)
    for options in BAD_OPTIONS:
        code, output = run_forked(script, list(options), env={"COLUMNS": "80"})
        text += _block(" ".join([script, *options]), code, output)
    return text


def cases() -> Iterator[tuple[str, Any]]:
    """(golden file name, how to render it) for every case."""
    for version in VERSIONS:
        for scenario in scenarios(version):
            yield f"ami/{version}/{scenario}.txt", (render_ami, version, scenario)
    for log in sipauth_logs():
        yield f"sipauth/{log.stem}.txt", (render_sipauth, log)
    for script in CONSOLE_SCRIPTS:
        yield f"help/{script}.txt", (render_help, script)


def render(how: tuple[Any, ...]) -> str:
    func, *args = how
    return str(func(*args))


def normalize(text: str) -> str:
    """What varies from run to run: the time a read took, and a window that reaches back to a
    year-less syslog stamp (its length depends on today's date)."""
    text = re.sub(r"read in [0-9.]+s", "read in Ns", text)
    return re.sub(r"window \d{7,}s", "window Ns", text)


if __name__ == "__main__":
    warm()
    for name, how in cases():
        path = GOLDEN / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(how))
    print(f"golden files written under {GOLDEN}")
