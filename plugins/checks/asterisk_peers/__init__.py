"""check_asterisk_peers: SIP, PJSIP and IAX2 peers, qualify latency and registrations, over AMI."""
