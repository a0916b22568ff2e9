"""asterisk-watch: one resident AMI session per PBX, results pushed to Nagios/Icinga 2."""
