#!/usr/bin/env bash
# Postfix for the check_postfix_queue tests: Debian's package, loopback only, with a relayhost on
# a closed local port so every message to a remote domain defers and stays in the queue.
# Idempotent and non-interactive; run as root by .ci/run (works without systemd).
# tests/test_postfix_deliveries_real.py runs a private instance of these binaries (its own
# config, queue and log under a temporary directory); nothing here is changed for it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# The closed port the relayhost points at: nothing listens there, so delivery defers with
# "Connection refused" and no mail ever leaves the machine.
RELAY_PORT=${POSTFIX_CLOSED_PORT:-2}

if ! command -v postqueue >/dev/null 2>&1 || ! dpkg -s monitoring-plugins-standard time >/dev/null 2>&1; then
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    echo "postfix postfix/mailname string ci.isp-plugins.test" | debconf-set-selections
    apt-get update -qq
    # Replaces any other MTA (exim4 on stock Debian images). monitoring-plugins-standard gives
    # check_mailq and time gives /usr/bin/time, for the benchmark (not run in CI).
    apt-get install -y -qq --no-install-recommends postfix monitoring-plugins-standard time >/dev/null
fi

# Loopback only, IPv4 (containers often lack IPv6), no chroot (no init script to populate it),
# every remote domain through a relayhost nobody answers on.
postconf -e \
    "myhostname = ci.isp-plugins.test" \
    "mydestination = localhost" \
    "inet_interfaces = loopback-only" \
    "inet_protocols = ipv4" \
    "mynetworks = 127.0.0.0/8" \
    "relayhost = [127.0.0.1]:${RELAY_PORT}" \
    "default_transport = smtp" \
    "relay_transport = relay" \
    "smtp_connect_timeout = 5s" \
    "compatibility_level = 3.6" \
    "maillog_file = /var/log/postfix.log"
postconf -F '*/*/chroot = n'
# The syslog-free log file needs postlogd in master.cf (Debian ships it commented out or not).
if ! postconf -M postlog/unix-dgram >/dev/null 2>&1 || [ -z "$(postconf -M postlog/unix-dgram)" ]; then
    postconf -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"
fi
newaliases

if postfix status >/dev/null 2>&1; then
    postfix reload >/dev/null 2>&1
else
    postfix start >/dev/null 2>&1
fi
postfix status
postconf -h mail_version
