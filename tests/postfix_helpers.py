"""A fake Postfix for CLI tests: postconf, postqueue and postmulti scripts first on PATH."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import PluginRun, run_script

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "postfix"

POSTCONF = """#!/bin/sh
# postconf [-c DIR] -h NAME...: one value per line, like the real one.
echo "postconf $*" >> "{log}"
[ "$1" = "-c" ] && {{ dir=$2; shift 2; }}
if [ -n "$dir" ] && [ ! -d "$dir" ]; then
    echo "postconf: fatal: open $dir/main.cf: No such file or directory" >&2
    exit 1
fi
[ "$1" = "-h" ] && shift
for name in "$@"; do
    case $name in
        command_directory) echo "{command_dir}" ;;
        queue_directory) echo "{queue_dir}" ;;
        mail_version) echo "{version}" ;;
        config_directory) echo "/etc/postfix" ;;
        multi_instance_directories) echo "{multi_dirs}" ;;
        *) echo "postconf: warning: $name: unknown parameter" >&2 ;;
    esac
done
"""

POSTQUEUE = """#!/bin/sh
echo "postqueue $*" >> "{log}"
{sleep}
cat "{output}"
printf '%s' "{stderr}" >&2
exit {code}
"""

POSTMULTI = """#!/bin/sh
echo "postmulti $*" >> "{log}"
cat "{listing}"
"""


@dataclass
class FakePostfix:
    """Scripts in ``bin``; ``env`` puts them first on PATH for run_script."""

    root: Path
    fixture: str | None = "postqueue-3.11.jsonl"
    version: str = "3.7.11"
    code: int = 0
    stderr: str = ""
    sleep: float = 0
    queue_dir: str = "/var/spool/postfix"
    postqueue: bool = True
    postmulti: str | None = None
    multi_dirs: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "calls.log"
        self.log.write_text("")
        output = self.root / "postqueue.out"
        if self.fixture is not None:
            shutil.copy(FIXTURES / self.fixture, output)
        else:
            output.write_text("")
        values = {
            "log": self.log,
            "command_dir": self.bin,
            "queue_dir": self.queue_dir,
            "version": self.version,
            "multi_dirs": self.multi_dirs,
            "output": output,
            "stderr": self.stderr.replace('"', '\\"'),
            "code": self.code,
            "sleep": f"sleep {self.sleep}" if self.sleep else "",
        }
        self._script("postconf", POSTCONF.format(**values))
        if self.postqueue:
            self._script("postqueue", POSTQUEUE.format(**values))
        if self.postmulti is not None:
            listing = self.root / "postmulti.out"
            listing.write_text(self.postmulti)
            self._script("postmulti", POSTMULTI.format(log=self.log, listing=listing))
        self.env = {"PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"}

    def _script(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)

    @property
    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()

    def run(self, *args: str) -> PluginRun:
        return run_script("check_postfix_queue", *args, env=self.env)


def run_timed(fake: FakePostfix, oldest: int, *args: str) -> tuple[PluginRun, set[int]]:
    """Run the plugin; the ages of a message that arrived at ``oldest`` it may have seen."""
    before = int(time.time())
    done = fake.run(*args)
    after = int(time.time())
    return done, {before - oldest, after - oldest}
