"""Secrets: the one reader of a secret file's first line, and the AMI secret's three sources."""

from __future__ import annotations

import os
import stat

import click

SECRET_ENV = "ASTERISK_AMI_SECRET"


class SecretFileError(ValueError):
    """A secret file that cannot be read; the message names the file and why, in one line."""


def read_first_line(path: str, what: str) -> str:
    """The first line of the secret file ``path`` (``what`` names it in errors), without its
    line break; possibly empty. A FIFO or a device would block the check, so only a regular
    file is read."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SecretFileError(f"{what} {path} is not a regular file")
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except OSError as exc:
        raise SecretFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SecretFileError(f"cannot read {what} {path}: not UTF-8 text") from None


def read_secret(password: str | None, secret_file: str | None) -> str:
    """The AMI secret from -P or --secret-file (not both), else $ASTERISK_AMI_SECRET."""
    if password is not None and secret_file is not None:
        raise click.UsageError("give the secret with -P or with --secret-file, not both")
    if password is not None:
        secret = password
    elif secret_file is not None:
        try:
            secret = read_first_line(secret_file, "secret file")
        except SecretFileError as exc:
            raise click.UsageError(str(exc)) from None
    else:
        secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        raise click.UsageError(f"no AMI secret: give -P, --secret-file or set {SECRET_ENV}")
    return secret
