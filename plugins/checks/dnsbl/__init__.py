"""check_dnsbl: the relays' addresses and domains on DNS blocklists, without false alarms."""
