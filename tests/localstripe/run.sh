#!/usr/bin/env bash
# Runs the localstripe conformance suite (tests/localstripe.rs):
#   1. installs localstripe from PyPI into a throwaway venv,
#   2. starts it on 127.0.0.1 on a free port (serve.py),
#   3. runs `cargo test --test localstripe -- --ignored` with LOCALSTRIPE_URL set,
#   4. stops it.
# Needs python3 with the venv module and network access to PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="${LOCALSTRIPE_VERSION:-1.15.10}"

tmp="$(mktemp -d)"
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check "localstripe==$version"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
"$tmp/venv/bin/python" "$here/serve.py" "$port" >"$tmp/localstripe.log" 2>&1 &
pid=$!

url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    # Any HTTP answer (401 without a key) means it is up.
    if python3 -c "import urllib.request, sys
try:
    urllib.request.urlopen('$url/v1/customers', timeout=1)
except urllib.error.HTTPError:
    sys.exit(0)
except Exception:
    sys.exit(1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "localstripe exited early:" >&2
        cat "$tmp/localstripe.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "localstripe $version on $url"

cd "$root"
LOCALSTRIPE_URL="$url" cargo test --test localstripe -- --ignored
