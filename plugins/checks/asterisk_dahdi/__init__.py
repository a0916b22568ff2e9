"""asterisk dahdi: its command line (command) and its nagiosplugin check (check)."""
