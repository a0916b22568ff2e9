"""Data sources other than AMI, knowing nothing of Nagios: the Postfix queue, the policy
daemons' databases, the SIP security log, fail2ban's socket, and the incremental log reader."""
