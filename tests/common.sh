# Shared by the suites that run the server binary from Python (tests/browser/run.sh,
# tests/fuzz/run.sh). Source it after setting `root` (the repository) and `here` (the suite).

# make_venv REQUIREMENTS: a throwaway venv in "$tmp/venv" (deleted on exit) with REQUIREMENTS
# installed; sets `tmp`.
make_venv() {
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    python3 -m venv "$tmp/venv"
    "$tmp/venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$1"
}

# venv_version PACKAGE: the installed version of PACKAGE in the venv.
venv_version() {
    "$tmp/venv/bin/python" -c "from importlib.metadata import version; print(version('$1'))"
}

# server_binary: exports STRIPE_GRAPHQL_BIN, building the debug binary with cargo (a no-op when
# it is up to date) unless it is already set; fails when no executable is there.
server_binary() {
    if [[ -z "${STRIPE_GRAPHQL_BIN:-}" ]]; then
        (cd "$root" && cargo build --quiet --bin stripe-graphql)
        local target="${CARGO_TARGET_DIR:-target}"
        [[ "$target" == /* ]] || target="$root/$target"
        STRIPE_GRAPHQL_BIN="$target/debug/stripe-graphql"
    fi
    [[ -x "$STRIPE_GRAPHQL_BIN" ]] || { echo "run.sh: no server binary at $STRIPE_GRAPHQL_BIN" >&2; exit 2; }
    echo "server: $STRIPE_GRAPHQL_BIN"
    export STRIPE_GRAPHQL_BIN
}
