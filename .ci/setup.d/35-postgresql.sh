#!/usr/bin/env bash
# PostgreSQL for the check_ratelimit_offenders tests (postgresql:// DSNs): Debian's server,
# loopback only, started without systemd, with a test database owned by a password-protected
# user. Idempotent and non-interactive; run as root by .ci/run.
# The tests read the same defaults (tests/ratelimit_helpers.py): override both together with
# RATELIMIT_PG_DB / _USER / _PASSWORD / _HOST / _PORT.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

DB=${RATELIMIT_PG_DB:-isp_ratelimit_test}
USER_NAME=${RATELIMIT_PG_USER:-isp_ratelimit}
PASSWORD=${RATELIMIT_PG_PASSWORD:-rl-test-Pw7}

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
        postgresql >/dev/null
fi

answers() { su postgres -c "psql -qtAc 'SELECT 1'" >/dev/null 2>&1; }

if ! answers; then
    # Debian's package creates the "main" cluster; pg_ctlcluster starts it without systemd.
    cluster=$(pg_lsclusters -h | awk 'NR == 1 {print $1 " " $2}')
    if [ -z "$cluster" ]; then
        version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
        pg_createcluster "$version" main >/dev/null
        cluster="$version main"
    fi
    # shellcheck disable=SC2086  # "VERSION NAME", two words on purpose
    pg_ctlcluster $cluster start
    for _ in $(seq 1 60); do
        answers && break
        sleep 1
    done
fi
answers || { echo "PostgreSQL does not answer" >&2; exit 1; }

su postgres -c "psql -v ON_ERROR_STOP=1 -q" <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${USER_NAME}') THEN
        CREATE ROLE "${USER_NAME}" LOGIN PASSWORD '${PASSWORD}';
    ELSE
        ALTER ROLE "${USER_NAME}" LOGIN PASSWORD '${PASSWORD}';
    END IF;
END
\$\$;
SQL
if ! su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = '${DB}'\"" | grep -q 1; then
    su postgres -c "createdb -O '${USER_NAME}' '${DB}'"
fi
PGPASSWORD=$PASSWORD psql -h 127.0.0.1 -U "$USER_NAME" -d "$DB" -qtAc 'SELECT 1' >/dev/null
echo "PostgreSQL ready: ${USER_NAME}@127.0.0.1/${DB}"
