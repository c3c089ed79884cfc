#!/usr/bin/env bash
# Runs the GraphiQL browser tests (tests/browser/test_graphiql.py): headless Chromium opens
# /graphiql on the server binary in --demo mode, runs the README's query from the page, and fails
# on any request to another host (the offline proof), any console error or CSP violation.
#   1. installs Playwright (Python) and pytest into a throwaway venv. Playwright drives the
#      system Chromium: no `playwright install`, no browser download;
#   2. builds the server with `cargo build` (a no-op when it is up to date), unless
#      STRIPE_GRAPHQL_BIN names the binary to test;
#   3. runs pytest, bounded to 180 seconds (extra arguments go to pytest).
# Needs Chromium (Debian: apt-get install -y chromium; CHROMIUM=/path for another), python3
# with the venv module, and network access to PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../common.sh
source "$here/../common.sh"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$chromium" ]]; then
    echo "run.sh: no Chromium at $chromium (apt-get install -y chromium, or set CHROMIUM)" >&2
    exit 2
fi
# Debian's wrapper script may print shell noise on stderr; the version is on stdout.
echo "browser: $("$chromium" --version 2>/dev/null)"

make_venv "$here/requirements.txt"
echo "driver: playwright $(venv_version playwright)"
server_binary
export CHROMIUM="$chromium"

cd "$here"
# No .pyc files in the work tree. Not `exec`: the EXIT trap must still delete the venv.
export PYTHONDONTWRITEBYTECODE=1
timeout --kill-after=10 180 "$tmp/venv/bin/python" -m pytest -c "$here/pytest.ini" --rootdir "$here" "$@"
