"""schemathesis checks for stripe-graphql (loaded by tests/fuzz/run.sh via SCHEMATHESIS_HOOKS).

Two checks, run on every response the fuzzer gets from `POST /graphql`:

- `no_server_error`: no 5xx, and no `errors` entry whose `extensions.code` only a defect can
  cause. Against the in-process demo sandbox, a generated query can legitimately be refused
  (parse/validation errors, a malformed id, an `after` cursor or filter that names nothing),
  but never fail on the server's side: `INTERNAL_SERVER_ERROR`, any `STRIPE_*` code for an
  outage, a refused key or a bad answer, or an error without a code is a bug. (schemathesis'
  own `not_a_server_error` counts every resolver error it cannot classify, such as the
  documented `STRIPE_NOT_FOUND` for a cursor that names nothing, as a server error, so this
  check takes its place.)
- `graphql_over_http_shape`: the GraphQL-over-HTTP `application/json` answer shape: a JSON
  object with `data` and/or `errors` (nothing else but `extensions`); `errors`, when present,
  a non-empty list of objects, each with a string `message`, well-formed `locations`/`path`,
  and a string `extensions.code` (every error this server sends carries one); when `data` is
  absent or null, `errors` says why.
"""

from __future__ import annotations

import json

import schemathesis

# Codes a generated query may legitimately get from the demo server (README, "Every error
# carries `extensions.code`").
INPUT_ERROR_CODES = frozenset(
    {
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_USER_INPUT",
        "BAD_REQUEST",
        # An `after` cursor, or a list filter, naming an object that does not exist.
        "STRIPE_NOT_FOUND",
        # A query over the per-request limits (docs/reliability.md, "Bounded cost per
        # request"): refused before any Stripe call.
        "QUERY_BUDGET_EXCEEDED",
        "QUERY_TOO_DEEP",
        "QUERY_TOO_COMPLEX",
    }
)
# What a write's own input can cause, and only a write's: Stripe refusing its parameters (an
# unknown price, no payment method), a card decline, an `idempotencyKey` reused with other
# arguments, and the profile write-back without Hasura (`--demo` runs without it).
MUTATION_INPUT_ERROR_CODES = frozenset(
    {
        "STRIPE_INVALID_REQUEST",
        "STRIPE_CARD_ERROR",
        "STRIPE_IDEMPOTENCY_ERROR",
        "HASURA_NOT_CONFIGURED",
    }
)
TOP_LEVEL_KEYS = frozenset({"data", "errors", "extensions"})


def _body(response) -> object:
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"the body is not JSON ({exc}): {response.content[:200]!r}") from None


def _errors(payload: object) -> list:
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        return payload["errors"]
    return []


def _is_mutation(response) -> bool:
    """Whether the request that got `response` sent a mutation."""
    try:
        sent = json.loads(response.request.body or b"{}")
    except (AttributeError, TypeError, ValueError):
        return False
    query = sent.get("query") if isinstance(sent, dict) else None
    return isinstance(query, str) and query.lstrip().startswith("mutation")


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 5xx, and no error a client's input cannot cause."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.content[:500]!r}")
    allowed = INPUT_ERROR_CODES | (MUTATION_INPUT_ERROR_CODES if _is_mutation(response) else frozenset())
    for error in _errors(_body(response)):
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if code not in allowed:
            raise AssertionError(f"an error no input should cause ({code}): {json.dumps(error)[:500]}")


@schemathesis.check
def graphql_over_http_shape(ctx, response, case):
    """The GraphQL-over-HTTP JSON answer shape, with this server's `extensions.code`."""
    content_type = ",".join(response.headers.get("content-type", []))
    if not content_type.startswith("application/json"):
        raise AssertionError(f"Content-Type is {content_type!r}, not application/json")
    payload = _body(response)
    if not isinstance(payload, dict):
        raise AssertionError(f"the body is a JSON {type(payload).__name__}, not an object")
    extra = set(payload) - TOP_LEVEL_KEYS
    if extra:
        raise AssertionError(f"unexpected top-level keys {sorted(extra)}")
    if "data" not in payload and "errors" not in payload:
        raise AssertionError("neither `data` nor `errors`")
    if "data" in payload and payload["data"] is not None and not isinstance(payload["data"], dict):
        raise AssertionError(f"`data` is a {type(payload['data']).__name__}, not an object or null")
    if "errors" in payload:
        errors = payload["errors"]
        if not isinstance(errors, list) or not errors:
            raise AssertionError(f"`errors` must be a non-empty list, got {json.dumps(errors)[:200]}")
        for error in errors:
            _check_error(error)
    elif payload.get("data") is None:
        raise AssertionError("`data` is null and there are no `errors` to say why")


def _check_error(error: object) -> None:
    text = json.dumps(error)[:300]
    if not isinstance(error, dict):
        raise AssertionError(f"an error is not an object: {text}")
    if not isinstance(error.get("message"), str) or not error["message"]:
        raise AssertionError(f"an error without a message: {text}")
    locations = error.get("locations", [])
    if not isinstance(locations, list) or not all(
        isinstance(loc, dict)
        and isinstance(loc.get("line"), int)
        and isinstance(loc.get("column"), int)
        and loc["line"] >= 1
        and loc["column"] >= 1
        for loc in locations
    ):
        raise AssertionError(f"malformed `locations`: {text}")
    path = error.get("path", [])
    if not isinstance(path, list) or not all(
        isinstance(part, (str, int)) and not isinstance(part, bool) for part in path
    ):
        raise AssertionError(f"malformed `path`: {text}")
    extensions = error.get("extensions")
    if not isinstance(extensions, dict) or not isinstance(extensions.get("code"), str):
        raise AssertionError(f"an error without `extensions.code`: {text}")
