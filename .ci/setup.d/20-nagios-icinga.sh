#!/usr/bin/env bash
# Nagios 4, Icinga 2 and visudo for tests/test_nagios_config.py: Debian's packages, binaries only.
# The tests never use the system instances: they run `nagios4 -v`, start nagios4 and run
# `icinga2 daemon -C` on their own main configs in temporary directories, so nothing is
# configured or started here (there is no systemd in the CI container either).
# Idempotent and non-interactive; run as root by .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

wanted=()
# nagios4-core: the nagios4 binary (nagios4-common, its dependency, adds the nagios user).
dpkg -s nagios4-core >/dev/null 2>&1 || wanted+=(nagios4-core)
# icinga2: icinga2-bin (the daemon, `daemon -C`) and icinga2-common (the ITL our conf.d
# includes: itl, plugins, the `nagios` user). Without recommends: no icinga2-doc, no
# monitoring-plugins pulled in for nothing.
dpkg -s icinga2 >/dev/null 2>&1 || wanted+=(icinga2)
# sudo: visudo -c checks the sudoers lines nrpe/isp-plugins.cfg ships (no rule is installed).
dpkg -s sudo >/dev/null 2>&1 || wanted+=(sudo)

if [ "${#wanted[@]}" -gt 0 ]; then
    # Another setup script may hold the dpkg lock for a moment: apt waits for it.
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${wanted[@]}" >/dev/null
fi

# The packages' maintainer scripts may start the daemons where an init system exists; the
# tests need neither running, and a running system Icinga 2 or Nagios is left alone here.
# (Captured first: head closing the pipe early must not fail the script under pipefail.)
nagios_version=$(nagios4 --version 2>&1 || true)
icinga2_version=$(icinga2 --version 2>&1 || true)
grep -m 1 '^Nagios Core' <<<"$nagios_version"
grep -m 1 'version:' <<<"$icinga2_version"
