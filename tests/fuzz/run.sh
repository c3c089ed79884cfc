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
# shellcheck source=../common.sh
source "$here/../common.sh"
seconds="${FUZZ_SECONDS:-90}"

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "run.sh: schemathesis 4 needs Python 3.11 or later; python3 is $(python3 --version 2>&1)" >&2
    exit 2
fi

make_venv "$here/requirements.txt"
echo "fuzzer: schemathesis $(venv_version schemathesis)"
server_binary
export FUZZ_SECONDS="$seconds"

# No .pyc files in the work tree. Not `exec`: the EXIT trap must still delete the venv.
export PYTHONDONTWRITEBYTECODE=1
timeout --kill-after=10 "$((seconds + 90))" "$tmp/venv/bin/python" "$here/fuzz.py" "$@"
