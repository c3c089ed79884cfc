#!/usr/bin/env bash
# Fuzzes POST /graphql with schemathesis in GraphQL mode (tests/fuzz/fuzz.py): queries generated
# from the introspected schema, sent to `stripe-graphql --demo` (its Stripe is the in-process
# sandbox on loopback: nothing leaves the machine), each answer checked by tests/fuzz/hooks.py
# (no 5xx, no error only a defect can cause, the GraphQL-over-HTTP answer shape) and against the
# schema.
#   1. installs schemathesis (pinned in requirements.txt) into a throwaway venv;
#   2. builds the server with `cargo build` (a no-op when it is up to date), unless
#      STRIPE_GRAPHQL_BIN names the binary to test;
#   3. fuzzes for FUZZ_SECONDS (default 90), the driver bounded to that plus 90 seconds
#      (extra arguments go to `st run`, e.g. `--seed N` to replay a run).
# Needs python3 (3.11+, for schemathesis 4) with the venv module, and network access to PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${FUZZ_SECONDS:-90}"

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "run.sh: schemathesis 4 needs Python 3.11 or later; python3 is $(python3 --version 2>&1)" >&2
    exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt"
echo "fuzzer: schemathesis $("$tmp/venv/bin/python" -c 'from importlib.metadata import version; print(version("schemathesis"))')"

if [[ -z "${STRIPE_GRAPHQL_BIN:-}" ]]; then
    (cd "$root" && cargo build --quiet --bin stripe-graphql)
    target="${CARGO_TARGET_DIR:-target}"
    [[ "$target" == /* ]] || target="$root/$target"
    STRIPE_GRAPHQL_BIN="$target/debug/stripe-graphql"
fi
[[ -x "$STRIPE_GRAPHQL_BIN" ]] || { echo "run.sh: no server binary at $STRIPE_GRAPHQL_BIN" >&2; exit 2; }
echo "server: $STRIPE_GRAPHQL_BIN"
export STRIPE_GRAPHQL_BIN FUZZ_SECONDS="$seconds"

# No .pyc files in the work tree. Not `exec`: the EXIT trap must still delete the venv.
export PYTHONDONTWRITEBYTECODE=1
timeout --kill-after=10 "$((seconds + 90))" "$tmp/venv/bin/python" "$here/fuzz.py" "$@"
