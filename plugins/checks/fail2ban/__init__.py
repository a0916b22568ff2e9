"""fail2ban: its command line (command) and its nagiosplugin check (check)."""
