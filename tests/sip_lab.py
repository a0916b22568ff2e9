"""A SIP trunk lab on a real Asterisk 20: a "pbx" and a "provider" standing for the carrier.

Both are RealAsterisk instances (tests/asterisk_real.py) with chan_sip, PJSIP and chan_iax2
loaded and their own UDP ports. The pbx has, per technology, a trunk to the provider (qualify
on, and an outbound registration with the right password), a peer whose port nobody answers,
a phone that never registers; PJSIP and chan_sip also register once with a wrong password.
A UDP responder that answers OPTIONS and IAX2 POKEs late makes a chan_sip and an IAX2 peer
LAGGED and gives a PJSIP endpoint (slow-pj) a long round trip time. Stopping the
provider turns the trunks UNREACHABLE. ``python -m tests.sip_lab DIR`` starts the
lab and leaves it running, to look at it by hand.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.asterisk_real import MODULES, RealAsterisk, require_build
from tests.ports import free_port, free_ports

#: The build with chan_sip (20 is the last series that has it).
VERSION = "20"
#: What the lab loads after the defaults; PJSIP needs this order (../shared/asterisk/README.md).
SIP_MODULES = (
    "res_crypto.so",
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_pjproject.so",
    "res_statsd.so",
    "res_geolocation.so",
    "res_pjsip.so",
    "res_pjsip_session.so",
    "res_pjsip_pubsub.so",
    "res_rtp_asterisk.so",
    "res_timing_timerfd.so",
    "bridge_native_rtp.so",
    "res_http_websocket.so",
    "chan_pjsip.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_outbound_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_registrar.so",
    "res_pjsip_outbound_registration.so",
    "chan_sip.so",
    "chan_iax2.so",
)
#: The provider's password for the pbx's accounts; BAD_PASSWORD is what the pbx's second
#: registration of each technology sends. Tests assert neither ever appears in any output.
PASSWORD = "lab-Trunk-pw-7731"
BAD_PASSWORD = "lab-Wrong-pw-4410"
#: slow-sip: chan_sip calls a peer LAGGED when its qualify answer takes longer than
#: ``qualify=`` ms, and UNREACHABLE when none comes within twice that (chan_sip.c,
#: sip_poke_peer); the responder answers halfway between.
SLOW_QUALIFY_MS = 500
SLOW_DELAY_S = 0.75


#: IAX2 full frames (RFC 5456 8.1.1): the F bit on the source call number, type 6 is IAX.
IAX_FULL, IAX_FRAME, IAX_POKE, IAX_PONG = 0x8000, 6, 0x1E, 0x03


class SlowResponder:
    """A UDP "SIP server" that answers OPTIONS with 200 OK, and an IAX2 one that answers POKE
    with PONG (chan_iax2's qualify), both SLOW_DELAY_S late, on one port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = int(self.sock.getsockname()[1])
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="slow-sip", daemon=True)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                continue
            text = data.decode("utf-8", "replace")
            if text.startswith("OPTIONS "):
                timer = threading.Timer(SLOW_DELAY_S, self._answer, (text, peer))
            elif len(data) >= 12 and data[0] & 0x80 and data[10:12] == bytes([IAX_FRAME, IAX_POKE]):
                timer = threading.Timer(SLOW_DELAY_S, self._pong, (data, peer))
            else:
                continue
            timer.daemon = True
            timer.start()

    def _pong(self, poke: bytes, peer: tuple[str, int]) -> None:
        """PONG to the POKE's call, its timestamp echoed: chan_iax2 takes the time since."""
        caller = struct.unpack("!H", poke[0:2])[0] & 0x7FFF
        header = struct.pack("!HH", IAX_FULL | 1, caller) + poke[4:8]
        pong = header + bytes([0, poke[8] + 1, IAX_FRAME, IAX_PONG])
        with contextlib.suppress(OSError):
            self.sock.sendto(pong, peer)

    def _answer(self, request: str, peer: tuple[str, int]) -> None:
        keep = ("via:", "from:", "to:", "call-id:", "cseq:")
        headers = [h for h in request.split("\r\n") if h.lower().startswith(keep)]
        headers = [f"{h};tag=slow" if h.lower().startswith("to:") else h for h in headers]
        reply = "\r\n".join(["SIP/2.0 200 OK", *headers, "Content-Length: 0", "", ""])
        with contextlib.suppress(OSError):
            self.sock.sendto(reply.encode(), peer)

    def __enter__(self) -> SlowResponder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


@dataclass
class Ports:
    """One instance's SIP (chan_sip), PJSIP and IAX2 UDP ports."""

    sip: int = field(default_factory=free_port)
    pjsip: int = field(default_factory=free_port)
    iax: int = field(default_factory=free_port)


def provider_files(ports: Ports) -> dict[str, str]:
    """The carrier: accounts the pbx registers to, and answers to its qualify."""
    return {
        "sip.conf": (
            "[general]\n"
            f"udpbindaddr = 127.0.0.1:{ports.sip}\n"
            "tcpenable = no\nallowguest = no\nalwaysauthreject = yes\n\n"
            f"[pbxsip]\ntype = friend\nhost = dynamic\nsecret = {PASSWORD}\n"
            "context = from-pbx\n\n"
            f"[pbxsip2]\ntype = friend\nhost = dynamic\nsecret = {PASSWORD}\n"
            "context = from-pbx\n"
        ),
        "pjsip.conf": (
            f"[udp]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:{ports.pjsip}\n\n"
            + "".join(
                f"[{user}]\ntype = endpoint\ncontext = from-pbx\naors = {user}\n"
                f"auth = {user}\ndisallow = all\nallow = ulaw\n\n"
                f"[{user}]\ntype = aor\nmax_contacts = 1\n\n"
                f"[{user}]\ntype = auth\nauth_type = userpass\nusername = {user}\n"
                f"password = {PASSWORD}\n\n"
                for user in ("pbxpj", "pbxpj2")
            )
        ),
        "iax.conf": (
            f"[general]\nbindport = {ports.iax}\nbindaddr = 127.0.0.1\n\n"
            f"[pbxiax]\ntype = friend\nhost = dynamic\nsecret = {PASSWORD}\n"
            "context = from-pbx\n\n"
            f"[pbxiax2]\ntype = friend\nhost = dynamic\nsecret = {PASSWORD}\n"
            "context = from-pbx\n"
        ),
        "extensions.conf": "[from-pbx]\n",
    }


def pbx_files(ports: Ports, provider: Ports, dead: int, slow: int) -> dict[str, str]:
    """The customer's PBX: trunks (up), a peer nobody answers, a phone that never registers."""
    qualify = "qualify = yes\nqualifyfreq = 2\n"
    iax_qualify = "qualify = yes\nqualifyfreqok = 2000\nqualifyfreqnotok = 2000\n"
    pj_endpoint = (
        "[{name}]\ntype = endpoint\ncontext = from-trunk\naors = {name}\n{auth}"
        "disallow = all\nallow = ulaw\n\n"
    )
    return {
        "sip.conf": (
            "[general]\n"
            f"udpbindaddr = 127.0.0.1:{ports.sip}\ntcpenable = no\n"
            "registertimeout = 5\nregisterattempts = 0\n"
            f"register => pbxsip:{PASSWORD}@127.0.0.1:{provider.sip}/pbxsip\n"
            f"register => pbxsip2:{BAD_PASSWORD}@127.0.0.1:{provider.sip}/pbxsip2\n\n"
            f"[provider-sip]\ntype = peer\nhost = 127.0.0.1\nport = {provider.sip}\n"
            f"username = pbxsip\nsecret = {PASSWORD}\n{qualify}"
            "description = Carrier trunk\n\n"
            f"[dead-sip]\ntype = peer\nhost = 127.0.0.1\nport = {dead}\n{qualify}\n"
            f"[phone-sip]\ntype = friend\nhost = dynamic\nsecret = {PASSWORD}\n{qualify}\n"
            f"[quiet-sip]\ntype = peer\nhost = 127.0.0.1\nport = {provider.sip}\nqualify = no\n\n"
            f"[slow-sip]\ntype = peer\nhost = 127.0.0.1\nport = {slow}\n"
            f"qualify = {SLOW_QUALIFY_MS}\nqualifyfreq = 2\n"
        ),
        "pjsip.conf": (
            f"[udp]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:{ports.pjsip}\n\n"
            + pj_endpoint.format(name="provider-pj", auth="outbound_auth = provider-pj-auth\n")
            + f"[provider-pj]\ntype = aor\ncontact = sip:127.0.0.1:{provider.pjsip}\n"
            "qualify_frequency = 2\n\n"
            + pj_endpoint.format(name="dead-pj", auth="")
            + f"[dead-pj]\ntype = aor\ncontact = sip:127.0.0.1:{dead}\nqualify_frequency = 2\n\n"
            # PJSIP has no LAGGED of its own: a late answer is a long RTT (--rtt-warning).
            + pj_endpoint.format(name="slow-pj", auth="")
            + f"[slow-pj]\ntype = aor\ncontact = sip:127.0.0.1:{slow}\nqualify_frequency = 2\n\n"
            + pj_endpoint.format(name="phone-pj", auth="auth = phone-pj-auth\n")
            + "[phone-pj]\ntype = aor\nmax_contacts = 1\nqualify_frequency = 30\n\n"
            "[phone-pj-auth]\ntype = auth\nauth_type = userpass\nusername = phone-pj\n"
            f"password = {PASSWORD}\n\n"
            "[provider-pj-auth]\ntype = auth\nauth_type = userpass\nusername = pbxpj\n"
            f"password = {PASSWORD}\n\n"
            "[provider-pj2-auth]\ntype = auth\nauth_type = userpass\nusername = pbxpj2\n"
            f"password = {BAD_PASSWORD}\n\n"
            "[provider-reg]\ntype = registration\n"
            f"server_uri = sip:127.0.0.1:{provider.pjsip}\n"
            f"client_uri = sip:pbxpj@127.0.0.1:{provider.pjsip}\n"
            "outbound_auth = provider-pj-auth\nretry_interval = 5\nexpiration = 60\n\n"
            "[wrong-reg]\ntype = registration\n"
            f"server_uri = sip:127.0.0.1:{provider.pjsip}\n"
            f"client_uri = sip:pbxpj2@127.0.0.1:{provider.pjsip}\n"
            "outbound_auth = provider-pj2-auth\nretry_interval = 5\nexpiration = 60\n"
        ),
        "iax.conf": (
            f"[general]\nbindport = {ports.iax}\nbindaddr = 127.0.0.1\n"
            f"register => pbxiax:{PASSWORD}@127.0.0.1:{provider.iax}\n\n"
            f"[provider-iax]\ntype = peer\nhost = 127.0.0.1\nport = {provider.iax}\n"
            f"username = pbxiax\nsecret = {PASSWORD}\n{iax_qualify}\n"
            f"[dead-iax]\ntype = peer\nhost = 127.0.0.1\nport = {dead}\n{iax_qualify}\n"
            f"[slow-iax]\ntype = peer\nhost = 127.0.0.1\nport = {slow}\n"
            f"qualify = {SLOW_QUALIFY_MS}\nqualifyfreqok = 2000\nqualifyfreqnotok = 2000\n\n"
            f"[phone-iax]\ntype = friend\nhost = dynamic\nsecret = {PASSWORD}\n{iax_qualify}"
        ),
        "extensions.conf": "[from-trunk]\n",
    }


@dataclass
class Lab:
    """The two running instances and their ports."""

    pbx: RealAsterisk
    provider: RealAsterisk
    pbx_ports: Ports
    provider_ports: Ports
    slow: SlowResponder


@contextlib.contextmanager
def sip_lab(directory: Path) -> Iterator[Lab]:
    """Configure and start the provider, then the pbx; both stopped (by PID) at the end."""
    build = require_build(VERSION)
    port = iter(free_ports(11))
    pbx_ports = Ports(next(port), next(port), next(port))
    provider_ports = Ports(next(port), next(port), next(port))
    dead = next(port)
    modules = MODULES + SIP_MODULES
    provider = RealAsterisk(
        build,
        directory / "provider",
        port=next(port),
        tls_port=next(port),
        modules=modules,
        extra_files=provider_files(provider_ports),
    )
    with SlowResponder() as slow:
        pbx = RealAsterisk(
            build,
            directory / "pbx",
            port=next(port),
            tls_port=next(port),
            modules=modules,
            extra_files=pbx_files(pbx_ports, provider_ports, dead, slow.port),
        )
        provider.configure()
        pbx.configure()
        provider.start()
        try:
            # The pbx registers at once, and AMI greets before the channels listen: a make test
            # on a loaded machine once saw the IAX2 registration still "Request Sent" after
            # the 40 s the tests wait (the likely cause; not reproduced).
            provider.wait_fully_booted()
            pbx.start()
            try:
                yield Lab(pbx, provider, pbx_ports, provider_ports, slow)
            finally:
                pbx.stop()
        finally:
            provider.stop()


if __name__ == "__main__":
    import time

    with sip_lab(Path(sys.argv[1])) as lab:
        print(f"pbx AMI 127.0.0.1:{lab.pbx.port}, provider AMI 127.0.0.1:{lab.provider.port}")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(60)
