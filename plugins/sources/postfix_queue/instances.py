"""Postfix instances: ``postmulti -l`` (Postfix >= 2.6) or ``multi_instance_directories``."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAME = "-"  # postmulti's name for the default instance
DEFAULT_CONFIG_DIR = "/etc/postfix"  # where Postfix looks without -c or MAIL_CONFIG


@dataclass(frozen=True)
class Instance:
    """One Postfix instance: its postmulti name ("-" for the default), config dir, enabled."""

    name: str
    config_dir: str
    enabled: bool = True

    @property
    def label(self) -> str:
        return self.config_dir if self.name == DEFAULT_NAME else self.name


def parse_postmulti(text: str) -> list[Instance]:
    """``postmulti -l`` lines: name, group, enabled (y/n), config directory.

    Postfix prints them as ``%-15s %-15s %-9s %s``; a config directory may contain spaces, so
    it is the rest of the line. Lines that do not have four fields are skipped.
    """
    instances = []
    for line in text.splitlines():
        fields = line.split(None, 3)
        if len(fields) != 4 or not fields[3].startswith("/"):
            continue
        name, _group, enabled, config_dir = fields
        instances.append(Instance(name, config_dir.strip(), enabled.lower() == "y"))
    return instances


def from_directories(default_config_dir: str, multi_instance_directories: str) -> list[Instance]:
    """The default instance and each of ``multi_instance_directories`` (comma or space list).

    Without postmulti the names are unknown: each instance is named by its directory.
    """
    dirs = [d for d in multi_instance_directories.replace(",", " ").split() if d]
    instances = [Instance(DEFAULT_NAME, default_config_dir)]
    instances += [Instance(d, d) for d in dirs if d != default_config_dir]
    return instances
