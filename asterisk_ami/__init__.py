"""Reusable Asterisk Manager Interface layer: one-shot sessions, CLI-output parsers, a simulator."""
