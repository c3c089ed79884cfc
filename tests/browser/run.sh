#!/usr/bin/env bash
# GraphiQL in headless Chromium, offline (tests/browser/graphiql_in_chromium.py):
#   1. installs Playwright (the Python driver only) into a throw-away venv; Chromium is
#      Debian's (/usr/bin/chromium: apt-get install -y chromium),
#   2. builds the server and starts it twice with --demo on free loopback ports, once
#      without and once with GRAPHQL_AUTH_TOKEN,
#   3. opens /graphiql, checks the editor renders, runs the query, checks the data, and fails
#      on any request to another host or any console error.
# BIN overrides the server binary (default: target/debug/stripe-graphql, built if missing).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[[ -x /usr/bin/chromium ]] || { echo "browser test: /usr/bin/chromium is missing (apt-get install -y chromium)" >&2; exit 1; }

tmp="$(mktemp -d)"
cleanup() {
    for pidfile in "$tmp"/*.pid; do
        [[ -e "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt"

bin="${BIN:-$root/target/debug/stripe-graphql}"
if [[ -z "${BIN:-}" ]]; then
    (cd "$root" && cargo build --quiet)
fi

# Starts the demo server as NAME with extra environment ("VAR=value" arguments); prints its
# base URL once its log names the GraphQL endpoint. Runs in $(...), so the server's stdout
# must not be the substitution's pipe, and its pid goes to a file for the cleanup.
start() {
    local name="$1"
    shift
    local log="$tmp/$name.log"
    env -i PATH="$PATH" LISTEN_ADDR=127.0.0.1:0 LOG_FORMAT=json "$@" "$bin" --demo \
        >/dev/null 2>"$log" &
    echo "$!" >"$tmp/$name.pid"
    for _ in $(seq 1 300); do
        local url
        url="$(grep -o '"message":"GraphQL endpoint: [^"]*' "$log" | head -n 1 | sed 's/.*GraphQL endpoint: //; s#/graphql$##')" || true
        if [[ -n "$url" ]]; then
            echo "$url"
            return
        fi
        sleep 0.1
    done
    echo "browser test: the server did not start; its log:" >&2
    cat "$log" >&2
    exit 1
}

base="$(start open)"
"$tmp/venv/bin/python" "$here/graphiql_in_chromium.py" "$base"

token="browser-test-token-$RANDOM$RANDOM"
base="$(start with-token GRAPHQL_AUTH_TOKEN="$token")"
"$tmp/venv/bin/python" "$here/graphiql_in_chromium.py" "$base" "$token"
