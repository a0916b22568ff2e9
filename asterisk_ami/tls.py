"""TLS client contexts for AMI over TLS (Asterisk ``tlsenable``, port 5039 by convention)."""

from __future__ import annotations

import ssl


def client_context(ca_file: str | None = None, verify: bool = True) -> ssl.SSLContext:
    """A client context: system CAs or ``ca_file``; ``verify=False`` accepts any certificate."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def verified(context: ssl.SSLContext | None) -> bool:
    """Whether a context checks the server's certificate (False for plain TCP too)."""
    return context is not None and context.verify_mode != ssl.CERT_NONE
