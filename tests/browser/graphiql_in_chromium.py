"""GraphiQL in a real browser, offline: headless Chromium opens /graphiql served by a running
stripe-graphql, the editor renders, the default query runs, and data comes back.

Every request the page makes is recorded; any to another host fails the test (that is the
offline proof, on top of the machine having no internet). Any console error (a CSP violation,
a script error) fails it too, except, in token mode, the 401 answers to the schema requests
GraphiQL sends before the user has pasted the token.

    python graphiql_in_chromium.py BASE_URL [TOKEN]

With TOKEN, the server requires it: the test types it into GraphiQL's headers editor, as a
user would, before running the query.
"""

import json
import sys
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


def main(base: str, token: str | None) -> None:
    origin = urlsplit(base).netloc
    foreign: list[str] = []
    console_errors: list[str] = []
    before_token: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on(
            "request",
            lambda r: None
            if urlsplit(r.url).scheme in ("data", "blob") or urlsplit(r.url).netloc == origin
            else foreign.append(r.url),
        )
        page.on(
            "console",
            lambda m: console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: console_errors.append(str(e)))

        response = page.goto(f"{base}/graphiql", wait_until="load")
        assert response is not None and response.status == 200, response

        # The editor renders: GraphiQL's container with its query editor (CodeMirror).
        page.wait_for_selector(".graphiql-container")
        page.wait_for_selector(".graphiql-query-editor .CodeMirror")
        assert "cus_AvaMartinez" in page.inner_text(".graphiql-query-editor"), "default query"

        if token:
            # Until now GraphiQL could only send the placeholder: its schema requests got 401.
            before_token.extend(console_errors)
            console_errors.clear()
            assert all("401" in e for e in before_token), before_token
            # The page opened the headers editor with a placeholder; replace it.
            headers = page.locator(".graphiql-editor-tool .CodeMirror").last
            headers.wait_for()
            assert "GRAPHQL_AUTH_TOKEN" in headers.inner_text(), headers.inner_text()
            headers.click()
            page.keyboard.press("Control+A")
            page.keyboard.press("Delete")
            page.keyboard.insert_text(json.dumps({"Authorization": f"Bearer {token}"}))

        page.click(".graphiql-execute-button")
        result = page.locator(".graphiql-response .CodeMirror")
        page.wait_for_function(
            "() => { const r = document.querySelector('.graphiql-response');"
            " return r && r.innerText.includes('Pro monthly'); }"
        )
        text = result.inner_text()
        for expected in ['"id": "cus_AvaMartinez"', '"status": "active"', "Pro monthly"]:
            assert expected in text, f"{expected!r} not in the result: {text}"
        assert '"errors"' not in text, text

        browser.close()
    assert not foreign, f"the page reached another host: {foreign}"
    assert not console_errors, f"console errors: {console_errors}"
    mode = "with a bearer token" if token else "without a token"
    print(f"ok: GraphiQL rendered and ran the query {mode}; every request stayed on {origin}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
