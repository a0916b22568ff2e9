"""asterisk-watch: one resident AMI session per PBX, results pushed to Nagios/Icinga 2."""

#: The [watch] settings' defaults (here, not in config: --help shows them without loading it).
DEFAULT_INTERVAL = 5.0
DEFAULT_STALE = 30.0
DEFAULT_HEARTBEAT = 240.0

#: Reconnecting. A connection attempt that fails past the TCP handshake (no greeting, lost
#: during login, TLS refused, name not resolved) is retried after BACKOFF_FIRST seconds,
#: doubling up to BACKOFF_MAX; a healthy session starts the schedule over.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
#: A connection refused (or no answer to the TCP handshake) is retried this often, however
#: far the back-off has grown: it costs the PBX nothing (no AMI session, nothing in its log,
#: unlike a probe that connects and hangs up, which Asterisk logs as "unable to
#: authenticate"), and a restarted Asterisk is found within this long of opening its port.
CONNECT_RETRY = 1.0
#: fail2ban bans after a few failed logins: never log in again sooner than this after one.
AUTH_RETRY = 60.0
