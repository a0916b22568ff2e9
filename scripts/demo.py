"""make demo: start the AMI simulator as several Asterisk versions and run the AMI checks on it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from isp_plugins.checks import BY_SCRIPT

BIN = Path(sys.executable).parent
#: The story: (console script, Asterisk version, scenario, plugin options, what it shows).
#: The scripts are the registry's (see script_path); the stories are the demo's own.
CASES = [
    (
        "check_asterisk_pri",
        "1.4",
        "pri_all_up",
        "-w 2 -c 1 -n 4",
        "the classic command line on Asterisk 1.4 ('Provisioned, ' wording)",
    ),
    (
        "check_asterisk_pri",
        "13",
        "pri_span3_alarm",
        "-w 2 -c 1 -n 4",
        "Asterisk 13 (Response: Follows); span 3 in red alarm, still above -w 2",
    ),
    (
        "check_asterisk_pri",
        "18",
        "pri_span3_alarm",
        "-n 4",
        "Asterisk 18 (Output: headers); default thresholds: WARNING below 4 up",
    ),
    (
        "check_asterisk_pri",
        "22",
        "pri_all_alarm",
        "-w 2 -c 1 -n 4 --auth md5",
        "Asterisk 22, MD5 login; the whole card in alarm",
    ),
    (
        "check_asterisk_pri",
        "20",
        "pri_nfas",
        "-v",
        "NFAS: span 3's primary D-channel failed, its backup carries; -v adds connection details",
    ),
    (
        "check_asterisk_pri",
        "16",
        "no_libpri",
        "-n 4",
        "chan_dahdi without libpri: 'pri show spans' does not exist",
    ),
    (
        "check_asterisk_pri",
        "22",
        "pri_all_up",
        "--calls-warning 30 --calls-critical 40",
        "calls per span (pri show channels), WARNING above 30 calls in all",
    ),
    (
        "check_asterisk_fxo",
        "13",
        "fxo_no_battery",
        "-n 2 --include-fxs",
        "check_asterisk_fxo on Asterisk 13: telco line 2 lost its battery",
    ),
]


def start_simulator(version: str, scenario: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asterisk_ami.simulator",
            "--asterisk",
            version,
            "--scenario",
            scenario,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "... listening on 127.0.0.1:PORT"
    return proc, int(line.rsplit(":", 1)[1])


def script_path(script: str) -> Path:
    """The installed console script of a check of the registry."""
    if script not in BY_SCRIPT:
        raise SystemExit(f"demo: {script} is not a check of isp_plugins.checks")
    path = BIN / script
    if not path.exists():
        raise SystemExit(f"demo: {path} is not installed (pip install -e .)")
    return path


def main() -> int:
    with tempfile.NamedTemporaryFile("w", prefix="ami-", suffix=".secret", delete=False) as f:
        f.write("s3cret\n")
    try:
        for plugin, version, scenario, options, story in CASES:
            proc, port = start_simulator(version, scenario)
            try:
                args = [
                    str(script_path(plugin)),
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "monitor",
                    "--secret-file",
                    f.name,
                    *options.split(),
                ]
                print(f"# {story}")
                print(
                    f"$ {plugin} -H 127.0.0.1 -p {port} -U monitor --secret-file {f.name} {options}"
                )
                run = subprocess.run(args, check=False, capture_output=True, text=True, timeout=30)
                print(run.stdout + run.stderr, end="")
                print(f"(exit {run.returncode})\n")
            finally:
                proc.terminate()
                proc.wait()
    finally:
        os.unlink(f.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
