"""check_asterisk_sipauth: SIP brute-force attempts in Asterisk's log since the last run."""
