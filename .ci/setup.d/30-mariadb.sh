#!/usr/bin/env bash
# MariaDB for the check_ratelimit_offenders tests and benchmark: Debian's mariadb-server,
# loopback only, started without systemd, with a test database and a password-protected user.
# Idempotent and non-interactive; run as root by .ci/run.
# The tests read the same defaults (tests/ratelimit_helpers.py): override both together with
# RATELIMIT_MYSQL_DB / _USER / _PASSWORD / _HOST / _PORT.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

DB=${RATELIMIT_MYSQL_DB:-isp_ratelimit_test}
USER_NAME=${RATELIMIT_MYSQL_USER:-isp_ratelimit}
PASSWORD=${RATELIMIT_MYSQL_PASSWORD:-rl-test-Pw7}

if ! command -v mariadbd >/dev/null 2>&1 && ! dpkg -s mariadb-server >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
        mariadb-server mariadb-client >/dev/null
fi

answers() { mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; }

if ! answers; then
    # No systemd in the container: the SysV script if it works, else mysqld_safe detached.
    service mariadb start >/dev/null 2>&1 || true
    if ! answers; then
        install -d -o mysql -g mysql /run/mysqld
        (setsid mysqld_safe --bind-address=127.0.0.1 </dev/null >/dev/null 2>&1 &)
    fi
    for _ in $(seq 1 60); do
        answers && break
        sleep 1
    done
fi
answers || { echo "MariaDB does not answer" >&2; exit 1; }

# root on Debian authenticates by unix_socket; the test user logs in over TCP with a password.
mariadb --protocol=socket -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`${DB}\`;
CREATE USER IF NOT EXISTS '${USER_NAME}'@'localhost' IDENTIFIED BY '${PASSWORD}';
CREATE USER IF NOT EXISTS '${USER_NAME}'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}';
ALTER USER '${USER_NAME}'@'localhost' IDENTIFIED BY '${PASSWORD}';
ALTER USER '${USER_NAME}'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}';
GRANT ALL PRIVILEGES ON \`${DB}\`.* TO '${USER_NAME}'@'localhost';
GRANT ALL PRIVILEGES ON \`${DB}\`.* TO '${USER_NAME}'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
mariadb --version
