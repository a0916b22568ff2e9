"""check_asterisk_dahdi: DAHDI span alarms (RED, YEL, BLU...), from AMI ``dahdi show status``."""
