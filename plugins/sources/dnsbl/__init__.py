"""DNS blocklists (RFC 5782): the built-in list set, query names, answers, zone files, lookups.

Knows nothing of Nagios: :mod:`.names` turns addresses and domains into query names,
:mod:`.lists` holds the curated list set as data, :mod:`.answers` says what an answer means,
:mod:`.zonefile` reads a zones file (ours or check_rbl's), :mod:`.wire` is the DNS wire
format of a query and its reply, and :mod:`.lookup` asks a resolver, all queries at once.
"""
