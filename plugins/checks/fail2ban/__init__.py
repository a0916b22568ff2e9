"""check_fail2ban: fail2ban running, its jails present, watching live logs, and what they ban."""
