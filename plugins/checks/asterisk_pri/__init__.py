"""check_asterisk_pri: PRI spans up, down and in alarm, from AMI ``pri show spans``."""
