"""Failed and successful SIP authentications in Asterisk's logs, counted per source and account.

Pure: text in, records and counts out; no Nagios, no thresholds. :mod:`.lines` turns one
log line into an :class:`~asterisk_security.lines.AuthEvent` (chan_sip and PJSIP NOTICE
lines of every version, res_security_log's ``SecurityEvent=`` lines in both ``EventTV``
forms, both logger date formats); :mod:`.tally` counts them, and reads a log incrementally
through :mod:`logtail`.
"""
