#!/usr/bin/env bash
# Real Asterisk for the tests of the AMI checks and asterisk-watch (tests/asterisk_real.py):
# 13.38.3 and 22.10.1 with chan_dahdi, 20.20.1 with chan_dahdi plus chan_sip, chan_iax2 and
# PJSIP, each built once per machine from the source releases in ../shared/asterisk (no
# download) into a cache outside the checkout. A second run finds the builds and costs seconds.
#
#   ISP_PLUGINS_ASTERISK_SOURCES  the source releases and build.sh (default ../shared/asterisk)
#   ISP_PLUGINS_ASTERISK_CACHE    the cache (default /var/cache/isp-plugins/asterisk); one
#                                 directory per VERSION-FLAVOUR, which build.sh keys itself
#
# Without the sources the tests that need them skip (fail with ISP_PLUGINS_REQUIRE_SERVICES=1,
# as here in CI). Idempotent and non-interactive; run as root by .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
checkout=$(cd "$(dirname "$0")/../.." && pwd)
sources=${ISP_PLUGINS_ASTERISK_SOURCES:-$(dirname "$checkout")/shared/asterisk}
cache=${ISP_PLUGINS_ASTERISK_CACHE:-/var/cache/isp-plugins/asterisk}

if [ ! -x "$sources/build.sh" ]; then
    echo "asterisk: no source releases in $sources (set ISP_PLUGINS_ASTERISK_SOURCES)" >&2
    if [ "${ISP_PLUGINS_REQUIRE_SERVICES:-0}" = 1 ]; then
        exit 1
    fi
    exit 0
fi

# The runtime side the tests use: openssl for the throw-away CA of the TLS tests.
if ! command -v openssl >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 openssl >/dev/null
fi

for build in 13.38.3:dahdi 22.10.1:dahdi 20.20.1:sip; do
    version=${build%%:*}
    flavour=${build##*:}
    started=$SECONDS
    JOBS=$(nproc) bash "$sources/build.sh" "$version" "$cache/$version-$flavour" "$flavour"
    echo "asterisk $version-$flavour: $((SECONDS - started)) s"
done
