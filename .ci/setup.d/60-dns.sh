#!/usr/bin/env bash
# NSD (authoritative) and Unbound (recursive) for the check_dnsbl tests and make bench-dnsbl:
# Debian's packages only. The tests start private instances (their own configuration, zone
# files, pid files, loopback ports: tests/dns_lab.py), so the system services are stopped and
# kept from starting at boot, as a production relay's own resolver would not be touched.
# Idempotent and non-interactive; run as root by .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v nsd >/dev/null 2>&1 || ! command -v unbound >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
        nsd unbound >/dev/null
fi

for service in nsd unbound; do
    if [ -f "/run/$service.pid" ] || [ -f "/run/$service/$service.pid" ]; then
        service "$service" stop >/dev/null 2>&1 || true
    fi
    update-rc.d "$service" disable >/dev/null 2>&1 || true
    systemctl disable "$service" >/dev/null 2>&1 || true
done
# (no pipe into head: with pipefail, its early exit would fail the script)
nsd_version=$(nsd -v 2>&1 || true)
unbound_version=$(unbound -V 2>&1 || true)
echo "${nsd_version%%$'\n'*}; unbound ${unbound_version%%$'\n'*}"
