"""Runs schemathesis in GraphQL mode against `stripe-graphql --demo` (driven by run.sh).

1. Starts STRIPE_GRAPHQL_BIN with --demo on 127.0.0.1:0 (JSON logs; the environment cleared but
   for PATH, so no STRIPE_* or GRAPHQL_AUTH_TOKEN of the caller leaks in) and reads its port
   from the "listening" event. It refuses to fuzz unless the demo's Stripe (the in-process
   sandbox named by the "DEMO MODE" event) is on a loopback address: nothing the run does may
   reach the network.
2. Runs `st run http://127.0.0.1:PORT/graphql` for FUZZ_SECONDS (default 90) with the checks
   of hooks.py and the dictionaries of schemathesis.toml; extra arguments go to `st run`.
3. Stops the server and fails if schemathesis failed, or if the server's log shows a panic
   or an ERROR event of its own.

Exit status: schemathesis' own when it failed, 1 for a panic or error in the log, 2 when the
server could not be started.
"""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
STARTUP_S = 30


def _stop_on_sigterm(signum, frame):
    # run.sh bounds the run with `timeout`, which sends SIGTERM: unwind, so that schemathesis
    # and the server are stopped on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _stop_on_sigterm)


def start_server(binary: str) -> tuple[subprocess.Popen, str, list[str], threading.Thread]:
    env = {"PATH": os.environ.get("PATH", ""), "LISTEN_ADDR": "127.0.0.1:0", "LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [binary, "--demo"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        # Drains the log for the whole run, so the server never blocks on a full pipe.
        for line in process.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    addr = sandbox = None
    deadline = time.monotonic() + STARTUP_S
    while addr is None or sandbox is None:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            sys.exit(f"fuzz: no 'listening' and 'DEMO MODE' events within {STARTUP_S} s:\n{''.join(log)}")
        if line is None:
            sys.exit(f"fuzz: the server exited ({process.wait()}):\n{''.join(log)}")
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("message") == "listening":
            addr = event["addr"]
        elif str(event.get("message", "")).startswith("DEMO MODE"):
            sandbox = event.get("sandbox", "")
    host = urlsplit(sandbox).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        process.kill()
        sys.exit(f"fuzz: the demo's Stripe is at {sandbox!r}, not on a loopback address")
    return process, f"http://{addr}", log, reader


def stop_server(process: subprocess.Popen, reader: threading.Thread) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    reader.join(timeout=5)


def summary(base: str) -> str:
    """What the run reached, from the server's own metrics: GraphQL answers by outcome and
    Stripe calls (to the sandbox) by status."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        for family, label in (
            ("stripe_graphql_graphql_requests_total", "outcome"),
            ("stripe_graphql_stripe_requests_total", "status"),
        ):
            if line.startswith(family + "{"):
                labels, value = line.rsplit(" ", 1)
                key = labels.split(f'{label}="', 1)[1].split('"', 1)[0]
                name = f"graphql {key}" if label == "outcome" else f"stripe {key}"
                totals[name] = totals.get(name, 0) + float(value)
    return ", ".join(f"{name}: {int(count)}" for name, count in sorted(totals.items()))


def own_trouble(log: list[str]) -> list[str]:
    """Lines of the server's log that show a defect: a panic (printed as text, not JSON), or an
    ERROR event from the server's own code. (actix logs a request it cannot parse, such as
    schemathesis' probe with a NUL byte in a header, at ERROR under its own target; that is the
    HTTP layer refusing bad bytes, not a defect.)"""
    trouble = []
    for line in log:
        if "panicked" in line:
            trouble.append(line)
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("level") == "ERROR" and str(event.get("target", "")).startswith("stripe_graphql"):
            trouble.append(line)
    return trouble


def main() -> int:
    binary = os.environ["STRIPE_GRAPHQL_BIN"]
    seconds = int(os.environ.get("FUZZ_SECONDS", "90"))
    st = str(Path(sys.executable).with_name("st"))
    process, base, log, reader = start_server(binary)
    print(f"fuzz: {binary} --demo on {base}, {seconds} s of schemathesis", flush=True)
    command = [
        st,
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{base}/graphql",
        "--checks",
        "no_server_error,graphql_over_http_shape,response_schema_conformance",
        "--max-time",
        str(seconds),
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
        "--no-color",
        *sys.argv[1:],
    ]
    # Straight to the loopback server: no proxy, whatever the caller's environment says.
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["SCHEMATHESIS_HOOKS"] = str(HERE / "hooks.py")
    try:
        # Run in an empty directory: nothing schemathesis writes lands in the work tree.
        with tempfile.TemporaryDirectory(prefix="stripe-graphql-fuzz-") as scratch:
            status = subprocess.run(command, env=env, cwd=scratch).returncode
        if process.poll() is not None:
            print(f"fuzz: the server exited during the run ({process.returncode})", file=sys.stderr)
            status = status or 1
        else:
            print(f"fuzz: answers and Stripe calls: {summary(base)}", flush=True)
    finally:
        stop_server(process, reader)
    trouble = own_trouble(log)
    if trouble:
        print("fuzz: the server's log shows a defect:", *trouble[:20], sep="\n", file=sys.stderr)
        return status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
