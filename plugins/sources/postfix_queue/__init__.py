"""Postfix queue reading, knowing nothing of Nagios.

``reader`` turns ``postqueue -j`` lines into messages, ``spool`` reads the queue directories
and each queue file's first records, ``instances`` lists Postfix instances, ``runner`` runs
Postfix commands under a deadline, and ``stats`` adds messages up with bounded memory.
"""

from __future__ import annotations

# The queues showq (so postqueue -j) lists, in its own order; the spool walk adds "corrupt".
QUEUES = ("maildrop", "active", "incoming", "deferred", "hold")
# Postfix's var_empty_addr default: how showq names the null sender of bounces.
EMPTY_SENDER = "MAILER-DAEMON"
