"""make demo: start the AMI simulator as several Asterisk versions and run the AMI checks on it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
CASES = [
    # (Asterisk version, fixture scenario, plugin options, what it shows)
    (
        "1.4",
        "pri_all_up",
        "-w 2 -c 1 -n 4",
        "the classic command line on Asterisk 1.4 ('Provisioned, ' wording)",
    ),
    (
        "13",
        "pri_span3_alarm",
        "-w 2 -c 1 -n 4",
        "Asterisk 13 (Response: Follows); span 3 in red alarm, still above -w 2",
    ),
    (
        "18",
        "pri_span3_alarm",
        "-n 4",
        "Asterisk 18 (Output: headers); default thresholds: WARNING below 4 up",
    ),
    (
        "22",
        "pri_all_alarm",
        "-w 2 -c 1 -n 4 --auth md5",
        "Asterisk 22, MD5 login; the whole card in alarm",
    ),
    (
        "20",
        "pri_nfas",
        "-v",
        "NFAS: span 3's primary D-channel failed, its backup carries; -v adds connection details",
    ),
    ("16", "no_libpri", "-n 4", "chan_dahdi without libpri: 'pri show spans' does not exist"),
    (
        "22",
        "pri_all_up",
        "--calls-warning 30 --calls-critical 40",
        "calls per span (pri show channels), WARNING above 30 calls in all",
    ),
]
FXO_CASES = [
    (
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


def main() -> int:
    with tempfile.NamedTemporaryFile("w", prefix="ami-", suffix=".secret", delete=False) as f:
        f.write("s3cret\n")
    try:
        for plugin, version, scenario, options, story in [
            ("check_asterisk_pri", *case) for case in CASES
        ] + [("check_asterisk_fxo", *case) for case in FXO_CASES]:
            proc, port = start_simulator(version, scenario)
            try:
                args = [
                    str(BIN / plugin),
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
