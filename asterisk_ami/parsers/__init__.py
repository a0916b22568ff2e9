"""Pure functions from Asterisk CLI text to records, one module per command family."""
