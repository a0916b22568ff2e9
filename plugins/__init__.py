"""isp-plugins: Nagios/Icinga checks for ISP telephony (Asterisk) and mail relays (Postfix)."""
