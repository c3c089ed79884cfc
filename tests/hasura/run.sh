#!/usr/bin/env bash
# Runs the Hasura/compose tests in a throw-away virtualenv.
#
#   TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres tests/hasura/run.sh [pytest args]
#   tests/hasura/run.sh --write-permissions   # regenerate the `user` remote schema permission
#
# TEST_DATABASE_URL: any PostgreSQL 13+ server the tests may CREATE DATABASE on (they create and
# drop their own scratch databases). with-postgres.sh starts a private server and calls this.
# Optional: STRIPE_GRAPHQL_SCHEMA (server SDL, default <repo>/schema.graphql),
# PYTHON (default python3),
# HASURA_TESTS_VENV (reuse this virtualenv instead of a temporary one).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

if [[ -n "${HASURA_TESTS_VENV:-}" ]]; then
    venv="$HASURA_TESTS_VENV"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    venv="$tmp/venv"
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$here/requirements.txt"

cd "$here"
if [[ "${1:-}" == "--write-permissions" ]]; then
    shift
    "$venv/bin/python" remote_schema_permissions.py --write "$@"
    exit
fi

if [[ -z "${TEST_DATABASE_URL:-}" ]]; then
    echo "run.sh: TEST_DATABASE_URL is not set (see tests/hasura/README.md)" >&2
    exit 2
fi
# No .pyc files in the work tree.
export PYTHONDONTWRITEBYTECODE=1
# Not `exec`: the EXIT trap must still delete the temporary virtualenv.
"$venv/bin/python" -m pytest -c "$here/pytest.ini" --rootdir "$here" "$@"
