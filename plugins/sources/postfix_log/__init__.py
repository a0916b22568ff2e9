"""Postfix deliveries, smtpd rejects and amavisd-new verdicts in a mail log, counted per run.

Pure: bytes in, records and counts out; no Nagios, no thresholds. :mod:`.providers` holds the
receivers (domains, MX hosts) and their reply texts as data; :mod:`.lines` turns one log line
into a record; :mod:`.tally` counts them and reads the log incrementally through
:mod:`logtail`.
"""
