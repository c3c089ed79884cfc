"""Hasura's unauthorized role: the same value for Hasura and the server, and no permission.

With no admin secret configured, or for a request that falls to the unauthorized role
(`HASURA_GRAPHQL_UNAUTHORIZED_ROLE`), Hasura builds the session from the caller's own headers:
the role is pinned to the unauthorized role, but `x-hasura-user-id` is whatever the caller
sent, and Hasura forwards both as `x-hasura-*` headers to the remote schema on every call but
introspection, whatever `forward_client_headers` says. So that role must reach nothing in
Hasura, and the server must know its name to serve it nothing (HASURA_UNAUTHORIZED_ROLE).
"""

from __future__ import annotations

import re

import pytest

import hasura_project as hp

VARIABLE = "${HASURA_UNAUTHORIZED_ROLE:-anonymous}"
ROLE = "anonymous"


@pytest.fixture(scope="module")
def services() -> dict:
    return hp.compose()["services"]


def test_hasura_and_the_server_get_one_value(services):
    hasura = hp.env_mapping(services["hasura"])
    server = hp.env_mapping(services["stripe-graphql"])
    # One variable, one default: the two services cannot be given different roles.
    assert hasura["HASURA_GRAPHQL_UNAUTHORIZED_ROLE"] == VARIABLE
    assert server["HASURA_UNAUTHORIZED_ROLE"] == VARIABLE


def test_env_example_has_the_default():
    text = (hp.REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    assert re.search(r"^HASURA_UNAUTHORIZED_ROLE=anonymous$", text, re.M)


def roles_with_permissions() -> dict[str, set[str]]:
    """role -> where it has a permission, across the whole metadata."""
    out: dict[str, set[str]] = {}
    for (schema, table), meta in hp.tracked_tables().items():
        for kind in ("select_permissions", "insert_permissions", "update_permissions", "delete_permissions"):
            for p in meta.get(kind, []):
                out.setdefault(p["role"], set()).add(f"{schema}.{table} {kind}")
    for entry in hp.source().get("functions", []):
        for p in entry.get("permissions", []):
            out.setdefault(p["role"], set()).add(f"function {entry['function']['name']}")
    for remote in hp.metadata("remote_schemas.yaml"):
        for p in remote.get("permissions", []):
            out.setdefault(p["role"], set()).add(f"remote schema {remote['name']}")
    for inherited in hp.metadata("inherited_roles.yaml") or []:
        out.setdefault(inherited["role_name"], set()).add("inherited role")
        for member in inherited.get("role_set", []):
            out.setdefault(member, set()).add(f"member of {inherited['role_name']}")
    for entry in hp.metadata("allow_list.yaml") or []:
        for role in (entry.get("scope") or {}).get("roles", []):
            out.setdefault(role, set()).add(f"allow list {entry['collection']}")
    for action in (hp.metadata("actions.yaml") or {}).get("actions", []) or []:
        for p in action.get("permissions", []):
            out.setdefault(p["role"], set()).add(f"action {action['name']}")
    return out


def test_the_unauthorized_role_has_no_permission_anywhere():
    granted = roles_with_permissions()
    assert ROLE not in granted, f"{ROLE}: {sorted(granted.get(ROLE, []))}"
    # The roles that do have permissions are the agreed ones, none of them the unauthorized one.
    assert set(granted) == {"user", "stripe_sync", "stripe_lifecycle", "stripe_phone"}


def test_the_unauthorized_role_is_not_trusted_by_the_server(services):
    server = hp.env_mapping(services["stripe-graphql"])
    trusted = re.fullmatch(r"\$\{HASURA_TRUSTED_ROLES:-([^}]*)\}", server["HASURA_TRUSTED_ROLES"]).group(1)
    assert ROLE not in [r.strip() for r in trusted.split(",")]
    assert ROLE != "admin"


def test_remote_schema_permissions_are_on(services):
    """Without them every role, the unauthorized one included, sees the whole remote schema."""
    env = hp.env_mapping(services["hasura"])
    assert env["HASURA_GRAPHQL_ENABLE_REMOTE_SCHEMA_PERMISSIONS"] == "${HASURA_GRAPHQL_ENABLE_REMOTE_SCHEMA_PERMISSIONS:-true}"
