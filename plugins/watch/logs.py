"""Every log line about a session names its PBX.

asterisk_ami's lines ("connected to 127.0.0.1:5038", "'pri show spans': 4 lines") do not know
which PBX they serve. Each PBX's task, and the worker threads that evaluate its services,
run with :data:`PBX` set to the PBX's name (a context variable: asyncio copies it into every
task, callback and transport the PBX's task starts); the handler's filter writes it before
the message. asterisk_watch's own lines name their PBX already.
"""

from __future__ import annotations

import contextvars
import logging

PBX: contextvars.ContextVar[str | None] = contextvars.ContextVar("pbx", default=None)
FORMAT = "%(levelname)s %(pbx)s%(message)s"


class NamePbx(logging.Filter):
    """Sets ``record.pbx`` to ``"NAME: "`` for the lines of other libraries about a PBX."""

    def filter(self, record: logging.LogRecord) -> bool:
        pbx = PBX.get()
        own = record.name == "asterisk_watch" or record.name.startswith("asterisk_watch.")
        record.pbx = f"{pbx}: " if pbx is not None and not own else ""
        return True
