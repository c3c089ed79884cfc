#!/usr/bin/env bash
# Starts a private PostgreSQL server on 127.0.0.1 (a fresh cluster in a temp dir), runs
# tests/hasura/run.sh against it with TEST_DATABASE_URL set, then stops and deletes it.
#
#   apt-get install -y postgresql      # Debian; any PostgreSQL 13+ with initdb/pg_ctl works
#   tests/hasura/with-postgres.sh [pytest args]
#
# PG_BIN overrides the directory holding initdb and pg_ctl (default: newest
# /usr/lib/postgresql/*/bin). As root, the server runs as the `postgres` user, because
# PostgreSQL refuses to run as root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

pg_bin="${PG_BIN:-}"
if [[ -z "$pg_bin" ]]; then
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" ]]; then
    echo "with-postgres.sh: initdb not found; install PostgreSQL (apt-get install -y postgresql) or set PG_BIN" >&2
    exit 2
fi

as_pg=()
if [[ "$(id -u)" == 0 ]]; then
    as_pg=(runuser -u postgres --)
fi

tmp="$(mktemp -d)"
data="$tmp/data"
log="$tmp/postgres.log"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
[[ ${#as_pg[@]} -gt 0 ]] && chown postgres: "$tmp"

cleanup() {
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"${as_pg[@]}" "$pg_bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$tmp -c fsync=off" \
    start >/dev/null || { cat "$log" >&2; exit 1; }

echo "with-postgres.sh: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres" "$here/run.sh" "$@"
