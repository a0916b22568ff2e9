"""The command-line side every check shares; light enough that ``--help`` loads no nagiosplugin.

- :mod:`.command`: the click command class (usage errors are one UNKNOWN line) and the
  options object every check's command receives whole;
- :mod:`.types`: option types (thresholds, ranges, durations, number lists);
- :mod:`.options`: the shared option groups (AMI connection, run, counts, state directory);
- :mod:`.secrets`: the one reader of secret files and the AMI secret's sources.
"""
