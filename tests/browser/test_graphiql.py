"""GraphiQL in a real browser: the page served by the binary renders, runs the README's query
against the --demo data, and everything it loads comes from the server itself (the offline
proof), with no console error and no Content-Security-Policy violation."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import Session

README = Path(__file__).resolve().parents[2] / "README.md"

CONTAINER = ".graphiql-container"
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_TAB = ".graphiql-editor-tools button[data-name='headers']"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESULT = ".result-window .CodeMirror"
RUN_BUTTON = ".graphiql-execute-button"

PLACEHOLDER_HEADERS = {"Authorization": "Bearer <paste GRAPHQL_AUTH_TOKEN here>"}


def readme_query() -> str:
    """The first ```graphql block of the README: the query the page must offer and run."""
    match = re.search(r"```graphql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert match, "README.md has a graphql block"
    return match.group(1).strip()


def editor_text(session: Session, selector: str) -> str:
    return session.page.eval_on_selector(selector, "el => el.CodeMirror.getValue()")


def wait_for_editor_text(session: Session, selector: str, needle: str) -> None:
    session.page.wait_for_function(
        """([selector, needle]) => {
            const el = document.querySelector(selector);
            return !!(el && el.CodeMirror && el.CodeMirror.getValue().includes(needle));
        }""",
        arg=[selector, needle],
    )


def open_graphiql(session: Session) -> str:
    """Opens /graphiql and waits until GraphiQL has rendered with the README's query in its
    editor. Returns the HTML the server sent."""
    response = session.page.goto(f"{session.server.base}/graphiql")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    session.page.wait_for_selector(CONTAINER, state="visible")
    session.page.wait_for_selector(RUN_BUTTON, state="visible")
    wait_for_editor_text(session, QUERY_EDITOR, 'customer(id: "cus_AvaMartinez")')
    offered = "\n".join(
        line for line in editor_text(session, QUERY_EDITOR).splitlines() if not line.startswith("#")
    ).strip()
    assert offered == readme_query(), "the editor starts with the README's query"
    return response.text()


def wait_for_demo_customer(session: Session) -> dict:
    """Waits for the result pane to show the demo customer and returns the parsed response."""
    wait_for_editor_text(session, RESULT, '"id": "cus_AvaMartinez"')
    response = json.loads(editor_text(session, RESULT))
    assert "errors" not in response, response
    customer = response["data"]["customer"]
    assert customer["id"] == "cus_AvaMartinez"
    subscription = customer["subscriptions"]["data"][0]
    assert subscription["status"] == "active"
    nicknames = [item["price"]["nickname"] for item in subscription["items"]["data"]]
    assert "Pro monthly" in nicknames, nicknames
    return response


def assert_offline_and_clean(session: Session, allowed_console_errors: int = 0) -> None:
    """Every request went to the server; no page error, no CSP violation, and no console error
    beyond the first `allowed_console_errors` (checked by the caller)."""
    assert session.requests, "the page made requests"
    assert session.foreign_requests() == [], "requests to another host"
    assert session.page_errors == []
    assert session.csp_violations() == []
    assert session.console_errors[allowed_console_errors:] == []


def test_graphiql_renders_offline_and_runs_the_readme_query_from_its_run_button(server, open_session):
    session = open_session(server)
    open_graphiql(session)
    # The schema arrived through introspection: the documentation explorer lists the root type.
    session.page.click("[aria-label='Show Documentation Explorer']")
    session.page.wait_for_selector(".graphiql-doc-explorer >> text=QueryRoot", state="visible")

    with session.page.expect_response(
        lambda r: r.url == f"{server.base}/graphql" and r.request.method == "POST"
    ) as executed:
        session.page.click(RUN_BUTTON)
    assert executed.value.status == 200
    wait_for_demo_customer(session)

    loaded = {url.removeprefix(server.base) for url in session.requests}
    assert "/graphiql" in loaded and "/graphql" in loaded
    assert any(p.startswith("/graphiql/assets/graphiql-4.1.2.min.js") for p in loaded), loaded
    assert_offline_and_clean(session)


def test_graphiql_dialogs_and_editor_commands_stay_within_the_content_security_policy(
    server, open_session
):
    session = open_session(server)
    open_graphiql(session)
    page = session.page

    # Dialogs insert a <style> element (react-remove-scroll): it must carry the page's nonce.
    page.click("[aria-label='Open settings dialog']")
    page.wait_for_selector(".graphiql-dialog", state="visible")
    styles = page.evaluate("() => [...document.querySelectorAll('style')].map(s => s.nonce)")
    assert styles and all(styles), f"every <style> carries a nonce: {styles}"
    page.keyboard.press("Escape")
    page.wait_for_selector(".graphiql-dialog", state="detached")

    page.click("[aria-label='Open short keys dialog']")
    page.wait_for_selector(".graphiql-dialog", state="visible")
    page.keyboard.press("Escape")
    page.wait_for_selector(".graphiql-dialog", state="detached")

    # CodeMirror's jump-to-line dialog is HTML with style="…" attributes.
    page.click(QUERY_EDITOR)
    page.keyboard.press("Alt+g")
    page.wait_for_selector(".CodeMirror-dialog input", state="visible")
    width = page.eval_on_selector(".CodeMirror-dialog input", "el => el.style.width")
    assert width == "10em", "the dialog's inline style applies"
    page.keyboard.press("Escape")
    page.wait_for_selector(".CodeMirror-dialog", state="detached")

    # Ctrl-Enter runs the query too.
    page.click(QUERY_EDITOR)
    page.keyboard.press("Control+Enter")
    wait_for_demo_customer(session)
    assert_offline_and_clean(session)


def test_with_a_token_configured_the_page_asks_for_it_and_runs_the_query_once_it_is_in_the_headers_editor(
    token_server, open_session
):
    session = open_session(token_server)
    page = session.page
    token = token_server.token
    # On load GraphiQL introspects the schema with the placeholder header: the server refuses.
    with page.expect_response(
        lambda r: r.url == f"{token_server.base}/graphql" and r.status == 401
    ):
        html = open_graphiql(session)
    assert token not in html and token not in page.content(), "the page never holds the token"

    # The headers editor is open with the placeholder.
    page.wait_for_selector(f"{HEADERS_TAB}.active", state="visible")
    wait_for_editor_text(session, HEADERS_EDITOR, "GRAPHQL_AUTH_TOKEN")
    assert json.loads(editor_text(session, HEADERS_EDITOR)) == PLACEHOLDER_HEADERS
    refused = len(session.console_errors)
    assert refused >= 1
    for text, url in session.console_errors:
        assert url == f"{token_server.base}/graphql" and "401" in text, (text, url)

    # The user pastes the real token over the placeholder and runs the query.
    page.click(HEADERS_EDITOR)
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(json.dumps({"Authorization": f"Bearer {token}"}))
    assert json.loads(editor_text(session, HEADERS_EDITOR)) == {"Authorization": f"Bearer {token}"}
    page.click(QUERY_EDITOR)
    with page.expect_response(
        lambda r: r.url == f"{token_server.base}/graphql" and r.request.method == "POST"
    ) as executed:
        page.keyboard.press("Control+Enter")
    assert executed.value.status == 200
    assert executed.value.request.header_value("authorization") == f"Bearer {token}"
    wait_for_demo_customer(session)

    # GraphiQL writes the query to its history in localStorage after running it (GraphiQL
    # itself would store the headers with it): the token stays in memory.
    page.wait_for_function(
        "() => (localStorage.getItem('graphiql:queries') || '').includes('cus_AvaMartinez')"
    )
    stored = page.evaluate("() => JSON.stringify(localStorage)")
    assert token not in stored
    assert_offline_and_clean(session, allowed_console_errors=refused)


def readme_mutations() -> list[str]:
    """The operations of the README's ```graphql block of mutations, each brace-balanced."""
    blocks = re.findall(r"```graphql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    block = next(b for b in blocks if b.lstrip().startswith("mutation"))
    operations, depth, start = [], 0, None
    for i, ch in enumerate(block):
        if ch == "{":
            if depth == 0:
                start = block.rfind("mutation", 0, i)
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                operations.append(block[start : i + 1])
    assert operations, "README.md has a block of mutations"
    return operations


def test_graphiql_runs_the_readmes_first_mutation_against_the_demo(server, open_session):
    session = open_session(server)
    open_graphiql(session)
    mutation = readme_mutations()[0]
    assert "createCustomer" in mutation, mutation
    session.page.eval_on_selector(QUERY_EDITOR, "(el, text) => el.CodeMirror.setValue(text)", mutation)
    with session.page.expect_response(
        lambda r: r.url == f"{server.base}/graphql" and r.request.method == "POST"
    ) as executed:
        session.page.click(RUN_BUTTON)
    assert executed.value.status == 200
    wait_for_editor_text(session, RESULT, '"createCustomer"')
    response = json.loads(editor_text(session, RESULT))
    assert "errors" not in response, response
    created = response["data"]["createCustomer"]
    assert created["id"].startswith("cus_"), created
    assert created["email"] == "jane@example.com"
    assert_offline_and_clean(session)
