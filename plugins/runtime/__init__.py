"""The nagiosplugin side every check shares, loaded only once the options are parsed.

- :mod:`.run`: run a check under the suite's output rules, with the backstop timer;
- :mod:`.deadline`: the one rule for the deadline a check's I/O gets from ``-t``;
- :mod:`.failures`: failures (AMI or other) as states and status texts;
- :mod:`.contexts`: the Contexts and Summary the checks share;
- :mod:`.ami`: the Resource glue for checks that acquire over one AMI session;
- :mod:`.text`: text helpers for status lines (sanitize, age, plural).
"""
