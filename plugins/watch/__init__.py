"""asterisk-watch: one resident AMI session per PBX, results pushed to Nagios/Icinga 2."""

#: The [watch] settings' defaults (here, not in config: --help shows them without loading it).
DEFAULT_INTERVAL = 5.0
DEFAULT_STALE = 30.0
DEFAULT_HEARTBEAT = 240.0
