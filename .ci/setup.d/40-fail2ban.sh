#!/usr/bin/env bash
# fail2ban for the check_fail2ban tests: Debian's package only. The tests start their own
# fail2ban-server (private configuration, socket and pidfile, a banaction that touches no
# firewall), so the system service is stopped and kept from starting at boot.
# Idempotent and non-interactive; run as root by .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v fail2ban-server >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
        fail2ban >/dev/null
fi

# The packaged service (jail sshd, iptables actions) is not what the tests talk to.
if [ -S /run/fail2ban/fail2ban.sock ] || [ -S /var/run/fail2ban/fail2ban.sock ]; then
    fail2ban-client stop >/dev/null 2>&1 || service fail2ban stop >/dev/null 2>&1 || true
fi
update-rc.d fail2ban disable >/dev/null 2>&1 || true
fail2ban-server --version | head -n 1
