"""Fixtures for the GraphiQL browser tests: the server binary in --demo mode on a free loopback
port, and a headless Chromium (the system's, driven by Playwright) that records every request,
console error, page error and Content-Security-Policy violation of the page.

Environment (run.sh sets both): STRIPE_GRAPHQL_BIN, the server binary; CHROMIUM, the browser
(default /usr/bin/chromium).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# No network of its own (updates, sync, QUIC probes): the only traffic is the page's.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Upper bound on every wait for the page (milliseconds).
TIMEOUT_MS = 20_000
# Upper bound on the server's start-up (seconds).
STARTUP_S = 30


def _stop_on_sigterm(signum, frame):
    # run.sh bounds the run with `timeout`, which sends SIGTERM: unwind so the fixtures'
    # finalizers stop the server and the browser.
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _stop_on_sigterm)


@dataclass
class Server:
    """A running `stripe-graphql --demo`."""

    process: subprocess.Popen
    base: str  # http://127.0.0.1:PORT
    token: str | None
    log: list[str] = field(default_factory=list)


def start_server(token: str | None = None) -> Server:
    """Starts the binary with --demo on 127.0.0.1:0 (JSON logs) and returns once its
    "listening" event names the port. The environment is cleared but for PATH, so a developer's
    STRIPE_* or GRAPHQL_AUTH_TOKEN cannot leak in."""
    binary = os.environ["STRIPE_GRAPHQL_BIN"]
    env = {"PATH": os.environ.get("PATH", ""), "LISTEN_ADDR": "127.0.0.1:0", "LOG_FORMAT": "json"}
    if token is not None:
        env["GRAPHQL_AUTH_TOKEN"] = token
    process = subprocess.Popen(
        [binary, "--demo"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        # Drains the log for the whole run, so the server never blocks on a full pipe.
        for line in process.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    log: list[str] = []
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            raise RuntimeError(f"no 'listening' event within {STARTUP_S} s:\n{''.join(log)}")
        if line is None:
            raise RuntimeError(f"the server exited ({process.wait()}):\n{''.join(log)}")
        log.append(line)
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("message") == "listening" and "addr" in event:
            return Server(process, f"http://{event['addr']}", token, log)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@dataclass
class Session:
    """One fresh browser profile on one page, and what the page did."""

    context: BrowserContext
    page: Page
    server: Server
    requests: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (text, url)
    page_errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        """Requests to anything but the server: any other host, port or scheme. `data:` URLs
        (fonts and images embedded in GraphiQL's CSS) are not network requests."""
        own = urlsplit(self.server.base)
        foreign = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme == "data":
                continue
            if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
                foreign.append(url)
        return foreign

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("() => window.__cspViolations")


# Runs in the page before its own scripts: keeps every CSP violation the page reports.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} ${e.sample || ""}`);
});
"""


@pytest.fixture(scope="session")
def playwright():
    with sync_playwright() as p:
        yield p


@pytest.fixture
def open_session(playwright):
    """`open_session(server)` opens a page in a fresh Chromium profile; closed after the test."""
    opened: list[tuple[BrowserContext, tempfile.TemporaryDirectory]] = []

    def open_(server: Server) -> Session:
        profile = tempfile.TemporaryDirectory(prefix="graphiql-browser-")
        context = playwright.chromium.launch_persistent_context(
            profile.name,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        opened.append((context, profile))
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = context.pages[0] if context.pages else context.new_page()
        session = Session(context, page, server)
        context.on("request", lambda request: session.requests.append(request.url))

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                session.console_errors.append((message.text, message.location.get("url", "")))

        page.on("console", on_console)
        page.on("pageerror", lambda error: session.page_errors.append(str(error)))
        return session

    yield open_
    for context, profile in opened:
        context.close()
        profile.cleanup()


@pytest.fixture
def server():
    """The demo server without a token."""
    running = start_server()
    yield running
    stop_server(running)


@pytest.fixture
def token_server():
    """The demo server with GRAPHQL_AUTH_TOKEN set to a random token (`.token`)."""
    running = start_server(token=secrets.token_urlsafe(24))
    yield running
    stop_server(running)


def pytest_sessionstart(session):
    if "STRIPE_GRAPHQL_BIN" not in os.environ:
        sys.exit("STRIPE_GRAPHQL_BIN is not set: run tests/browser/run.sh")
