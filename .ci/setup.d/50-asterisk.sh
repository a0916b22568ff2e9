#!/usr/bin/env bash
# Real Asterisk for the tests of the AMI checks and asterisk-watch (tests/asterisk_real.py):
# 13.38.3 and 22.10.1 with chan_dahdi, 20.20.1 with chan_dahdi plus chan_sip, chan_iax2 and
# PJSIP, each built once per machine from the source releases in ../shared/asterisk (no
# download) into a cache outside the checkout. A second run finds the builds and costs seconds.
#
#   ISP_PLUGINS_ASTERISK_SOURCES  the source releases and build.sh (default: shared/asterisk
#                                 beside the checkout or a directory above it, or
#                                 /work/shared/asterisk); needed only for a missing build
#   ISP_PLUGINS_ASTERISK_CACHE    the cache (default /var/cache/isp-plugins/asterisk); one
#                                 directory per VERSION-FLAVOUR, which build.sh keys itself
#
# Without the sources the tests that need them skip (fail with ISP_PLUGINS_REQUIRE_SERVICES=1,
# as here in CI). Idempotent and non-interactive; run as root by .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cache=${ISP_PLUGINS_ASTERISK_CACHE:-/var/cache/isp-plugins/asterisk}
BUILDS="13.38.3:dahdi 22.10.1:dahdi 20.20.1:sip"
built() { [ "$(cat "$cache/$1-$2/.built" 2>/dev/null)" = "$1 $2" ]; }
missing=""
for build in $BUILDS; do
    built "${build%%:*}" "${build##*:}" || missing="$missing $build"
done
if [ -z "$missing" ]; then
    echo "asterisk: every build is in $cache"
    exit 0
fi

checkout=$(cd "$(dirname "$0")/../.." && pwd)
# shared/asterisk beside the checkout, or beside a directory above it (a CI clone may sit
# deeper than the developers' one), or the workplace's /work/shared.
sources=${ISP_PLUGINS_ASTERISK_SOURCES:-}
if [ -z "$sources" ]; then
    dir=$checkout
    while [ "$dir" != / ]; do
        dir=$(dirname "$dir")
        if [ -x "$dir/shared/asterisk/build.sh" ]; then
            sources=$dir/shared/asterisk
            break
        fi
    done
    if [ -z "$sources" ] && [ -x /work/shared/asterisk/build.sh ]; then
        sources=/work/shared/asterisk
    fi
    sources=${sources:-$(dirname "$checkout")/shared/asterisk}
fi

if [ ! -x "$sources/build.sh" ]; then
    echo "asterisk: no source releases in $sources (set ISP_PLUGINS_ASTERISK_SOURCES)" >&2
    if [ "${ISP_PLUGINS_REQUIRE_SERVICES:-0}" = 1 ]; then
        exit 1
    fi
    exit 0
fi

for build in $missing; do
    version=${build%%:*}
    flavour=${build##*:}
    started=$SECONDS
    JOBS=$(nproc) bash "$sources/build.sh" "$version" "$cache/$version-$flavour" "$flavour"
    echo "asterisk $version-$flavour: $((SECONDS - started)) s"
done
