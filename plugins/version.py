"""The suite's version, importable without any dependency."""

__version__ = "0.1.0"
