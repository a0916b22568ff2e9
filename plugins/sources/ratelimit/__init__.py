"""Rate-limit offenders: policy daemon databases and Postfix logs, knowing nothing of Nagios.

- :mod:`ratelimit.model`: what a backend reports (one :class:`Usage` per sender and limit).
- :mod:`ratelimit.dsn`: database URLs, passwords kept out of every text.
- :mod:`ratelimit.db`: connections (sqlite3, PyMySQL, psycopg imported on use) and failures.
- :mod:`ratelimit.backends`: each daemon's own rule (policyd v1, cluebringer, policyd-rate-limit).
- :mod:`ratelimit.config`: the daemons' configuration files (policyd.conf, the YAML).
- :mod:`ratelimit.logscan`: Postfix reject lines since the last run, across rotation.
"""
