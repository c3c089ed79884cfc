"""merge_customer_profiles' refusals as Hasura shows them (migration 1795608240000).

Hasura v2 passes a mutation's Postgres error on to the client with its own message only for
SQLSTATE class 22 (`data-exception`) and class 23 (the constraint codes); a plain
`RAISE EXCEPTION` (P0001) becomes `"database query error"` with code `unexpected`, the
message only in `extensions.internal`. Each refusal and its exact message is asserted in
test_profiles_sql.py (`assert_refused`); this file checks the function as a whole and the
migration's rollback.
"""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

import hasura_project as hp
from conftest import apply_down_from, apply_up_to, run_sql_file, schema_snapshot

MIGRATION = "1795608240000_merge_refusals_as_data_exceptions"
AVA = uuid.UUID("6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60")
# SQLSTATE classes whose message Hasura shows for a mutation.
SHOWN_CLASSES = ("22", "23")


def merge_source(conn) -> str:
    return conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'merge_customer_profiles'").fetchone()[0]


def raise_statements(body: str) -> list[str]:
    """Every RAISE EXCEPTION statement of a PL/pgSQL body, up to its semicolon (string
    literals, which may hold semicolons, are skipped)."""
    out = []
    for m in re.finditer(r"\bRAISE\s+EXCEPTION\b", body):
        i, quoted = m.start(), False
        while i < len(body):
            c = body[i]
            if c == "'":
                quoted = not quoted  # '' inside a literal toggles twice: still inside
            elif c == ";" and not quoted:
                break
            i += 1
        out.append(body[m.start():i])
    return out


def test_every_refusal_names_a_class_22_sqlstate(db):
    statements = raise_statements(merge_source(db))
    assert len(statements) == 5, statements
    for statement in statements:
        m = re.search(r"ERRCODE\s*=\s*'([0-9A-Z]{5})'", statement)
        assert m, f"RAISE without ERRCODE is P0001, which Hasura hides: {statement}"
        assert m.group(1).startswith("22"), statement


def test_no_raise_without_errcode_anywhere_in_public(db):
    """A function tracked by Hasura (or called by one) must not hide its message behind P0001."""
    for name, body in db.execute(
        "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')"
    ).fetchall():
        for statement in raise_statements(body):
            code = re.search(r"ERRCODE\s*=\s*'([0-9A-Z]{5})'", statement)
            assert code and code.group(1)[:2] in SHOWN_CLASSES, f"{name}: {statement}"


def test_a_refusal_rolls_back_what_the_transaction_did_before(db):
    """Hasura runs a mutation request in one transaction: a refused merge after another root
    field of the same request undoes that field's write too (psycopg: a savepoint here)."""
    db.execute("SELECT 1")  # the fixture's transaction: the block below is a savepoint in it
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        with db.transaction():
            db.execute("UPDATE public.customers SET phone = '+1 415 555 0101' WHERE sso_id = %s", (AVA,))
            db.execute("SELECT * FROM public.merge_customer_profiles(%s, %s)", (AVA, AVA))
    assert db.execute("SELECT phone FROM public.customers WHERE sso_id = %s", (AVA,)).fetchone() == (None,)


def test_down_restores_the_previous_function_and_up_reapplies(databases):
    """On a scratch database: down.sql brings back the P0001 refusals of 1795608180000 exactly
    (the catalogue, function text included), up.sql the class 22 ones."""
    url = databases.new()
    with psycopg.connect(url, autocommit=True) as conn:
        d = apply_up_to(conn, MIGRATION)
        before = schema_snapshot(conn)
        run_sql_file(conn, d / "up.sql")
        after = schema_snapshot(conn)
        assert before != after, "the migration changes the function's definition"
        assert [k for k in before if before[k] != after[k]] == ["function_defs"]
        conn.execute("INSERT INTO public.customers (sso_id) VALUES (%s)", (AVA,))
        for _ in range(2):
            run_sql_file(conn, d / "down.sql")
            assert schema_snapshot(conn) == before
            with pytest.raises(psycopg.errors.RaiseException):
                conn.execute("SELECT * FROM public.merge_customer_profiles(%s, %s)", (AVA, AVA))
            run_sql_file(conn, d / "up.sql")
            assert schema_snapshot(conn) == after
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                conn.execute("SELECT * FROM public.merge_customer_profiles(%s, %s)", (AVA, AVA))
        if url == databases.admin_url:  # not a scratch database: leave it empty
            apply_down_from(conn, MIGRATION)
