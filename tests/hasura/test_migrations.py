"""Migrations and seeds against a real PostgreSQL server."""

from __future__ import annotations

import psycopg
import pytest
from graphql import FieldNode, parse

import hasura_project as hp
from conftest import (
    PROJECT_TABLES,
    apply_down_from,
    apply_seeds,
    apply_up,
    apply_up_to,
    migrate_new_database,
    run_sql_file,
    schema_snapshot,
)

# The customers the server's --demo sandbox serves (see docs/hasura.md).
DEMO_STRIPE_IDS = {
    "cus_AvaMartinez",
    "cus_BenCarter",
    "cus_ChloeNguyen",
    "cus_DiegoAlvarez",
    "cus_EmmaSchmidt",
    "cus_FaisalRahman",
    "cus_GraceKim",
}


def public_tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    ).fetchall()
    return {r[0] for r in rows}


def test_migration_layout():
    dirs = hp.migration_dirs()
    assert dirs, "no migrations under hasura/migrations/default"
    versions = []
    for d in dirs:
        assert hp.MIGRATION_DIR_RE.match(d.name), f"{d.name}: expected <13-digit version>_<name>"
        assert (d / "up.sql").is_file() and (d / "down.sql").is_file(), f"{d.name}: up.sql and down.sql"
        versions.append(int(d.name.split("_", 1)[0]))
    assert len(set(versions)) == len(versions), "duplicate migration versions"
    assert not (hp.MIGRATIONS_DIR.parent / "up.sql").exists()


def test_apply_rollback_reapply(databases, migrated):
    """Roll everything back step by step, then re-apply. Runs on a scratch database of its own
    (so a broken down.sql fails this test only); on the session's database if the server does
    not allow creating one."""
    run = migrate_new_database(databases.new()) if databases.can_create else migrated
    url, before, after = run.url, run.before, run.after
    assert after == migrated.after

    with psycopg.connect(url, autocommit=True) as conn:
        assert set(PROJECT_TABLES) <= public_tables(conn)
        # Each migration's down.sql restores exactly the state before its up.sql.
        for d, state in zip(reversed(hp.migration_dirs()), reversed(before)):
            run_sql_file(conn, d / "down.sql")
            assert schema_snapshot(conn) == state, f"{d.name}/down.sql does not undo up.sql"
        assert not set(PROJECT_TABLES) & public_tables(conn), "tables left after rollback"

        # Re-apply on the rolled-back database, with the seeds: same catalogue as the first time.
        apply_up(conn)
        apply_seeds(conn)
        assert schema_snapshot(conn) == after
        assert conn.execute("SELECT count(*) FROM public.customers").fetchone()[0] == 8


@pytest.mark.parametrize("name", [d.name for d in hp.migration_dirs()])
def test_each_migration_down_up_down_up(databases, name):
    """Each migration on its own, on a scratch database migrated up to it: down.sql restores
    the catalogue exactly (definitions included), twice, and up.sql re-applies to the same
    catalogue."""
    url = databases.new()
    with psycopg.connect(url, autocommit=True) as conn:
        d = apply_up_to(conn, name)
        before = schema_snapshot(conn)
        run_sql_file(conn, d / "up.sql")
        after = schema_snapshot(conn)
        assert after != before, f"{name} changes nothing"
        for _ in range(2):
            run_sql_file(conn, d / "down.sql")
            assert schema_snapshot(conn) == before, f"{name}/down.sql does not undo up.sql"
            run_sql_file(conn, d / "up.sql")
            assert schema_snapshot(conn) == after, f"{name}/up.sql does not re-apply"
        if url == databases.admin_url:  # not a scratch database: leave it empty
            apply_down_from(conn, name)


def test_seed_rows(db):
    rows = db.execute("SELECT sso_id, stripe_customer_id FROM public.customers").fetchall()
    stripe_ids = [r[1] for r in rows]
    assert len(rows) == 8
    assert stripe_ids.count(None) == 1, "exactly one seeded customer without a Stripe customer"
    assert set(filter(None, stripe_ids)) == DEMO_STRIPE_IDS, "seeds must use the demo sandbox's ids"
    assert db.execute("SELECT count(*) FROM public.returns").fetchone()[0] >= 2
    assert db.execute("SELECT count(*) FROM public.warranties").fetchone()[0] >= 2
    # The customer used in docs/hasura.md has returns, warranties and a Stripe customer.
    ava = "6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60"
    assert db.execute(
        "SELECT stripe_customer_id, (SELECT count(*) FROM public.returns WHERE customer_sso_id = c.sso_id), "
        "(SELECT count(*) FROM public.warranties WHERE customer_sso_id = c.sso_id) "
        "FROM public.customers c WHERE sso_id = %s",
        (ava,),
    ).fetchone() == ("cus_AvaMartinez", 2, 1)


def test_seeds_are_idempotent(db):
    """cli-migrations-v3 re-runs `seed apply` at every container start."""

    def counts():
        return [db.execute(f"SELECT count(*) FROM public.{t}").fetchone()[0] for t in PROJECT_TABLES]

    before = counts()
    for f in hp.seed_files():
        db.execute(f.read_text(encoding="utf-8"))
    assert counts() == before


# Sensible PostgreSQL types for the columns the seed query selects, by column name.
def expected_types(column: str) -> set[str]:
    if column in ("sso_id", "id"):
        return {"uuid"}
    if column.lower().endswith("date"):
        return {"timestamp with time zone", "date"}
    if column == "amount":
        return {"integer", "bigint", "numeric"}
    if column == "action_needed":
        return {"boolean"}
    return {"text", "character varying"}


def seed_query_columns() -> dict[str, list[str]]:
    """table -> scalar fields selected by the seed query (relationships are not columns)."""
    op = hp.single_operation(parse(hp.strip_leading_comments(hp.seed_query_text())))
    (root,) = op.selection_set.selections
    assert root.name.value == "customers_by_pk"
    tables = {"customers": []}
    for sel in root.selection_set.selections:
        assert isinstance(sel, FieldNode)
        name = sel.name.value
        if sel.selection_set is None:
            tables["customers"].append(name)
        elif name in ("returns", "warranties"):
            tables[name] = [s.name.value for s in sel.selection_set.selections]
    assert set(tables) == {"customers", "returns", "warranties"}
    return tables


@pytest.mark.parametrize(
    "table,column",
    [(t, c) for t, cols in seed_query_columns().items() for c in cols],
)
def test_seed_query_column_exists_with_sensible_type(db, table, column):
    row = db.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s AND column_name = %s",
        (table, column),
    ).fetchone()
    assert row is not None, f"{table}.{column} selected by the seed query does not exist"
    assert row[0] in expected_types(column), f"{table}.{column} is {row[0]}"


def test_customers_extra_columns(db):
    cols = dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'customers'"
        ).fetchall()
    )
    assert cols["temporary_subscription_plan"] == "text"
    assert cols["created_at"] == cols["updated_at"] == "timestamp with time zone"


def insert_customer(db, stripe_id, email="x@example.com"):
    return db.execute(
        "INSERT INTO public.customers (email, stripe_customer_id) VALUES (%s, %s) RETURNING sso_id",
        (email, stripe_id),
    ).fetchone()[0]


def test_duplicate_stripe_customer_id_rejected(db):
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_customer(db, "cus_AvaMartinez")


@pytest.mark.parametrize("bad", ["sub_123", "cus_", "cus_abc-def", "CUS_abc", " cus_abc", "cus_abc ", ""])
def test_malformed_stripe_customer_id_rejected(db, bad):
    with pytest.raises(psycopg.errors.CheckViolation):
        insert_customer(db, bad)


def test_several_customers_without_stripe_id(db):
    insert_customer(db, None)
    insert_customer(db, None)
    assert db.execute(
        "SELECT count(*) FROM public.customers WHERE stripe_customer_id IS NULL"
    ).fetchone()[0] == 3


def test_sso_id_defaults_to_a_uuid(db):
    sso_id = insert_customer(db, "cus_NewCustomer1")
    assert sso_id is not None and len(str(sso_id)) == 36


@pytest.mark.parametrize("table", ["returns", "warranties"])
def test_foreign_key_rejects_unknown_customer(db, table):
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db.execute(
            f"INSERT INTO public.{table} (customer_sso_id, amount) VALUES (gen_random_uuid(), 100)"
        )


@pytest.mark.parametrize("table", ["returns", "warranties"])
def test_customer_sso_id_required(db, table):
    with pytest.raises(psycopg.errors.NotNullViolation):
        db.execute(f"INSERT INTO public.{table} (amount) VALUES (100)")


def test_delete_customer_cascades(db):
    ava = "6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60"
    db.execute("DELETE FROM public.customers WHERE sso_id = %s", (ava,))
    for table in ("returns", "warranties"):
        assert db.execute(
            f"SELECT count(*) FROM public.{table} WHERE customer_sso_id = %s", (ava,)
        ).fetchone()[0] == 0


@pytest.mark.parametrize("table", ["returns", "warranties"])
def test_negative_amount_rejected(db, table):
    sso_id = insert_customer(db, None)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(f"INSERT INTO public.{table} (customer_sso_id, amount) VALUES (%s, -1)", (sso_id,))


def test_refund_before_creation_rejected(db):
    sso_id = insert_customer(db, None)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO public.returns (customer_sso_id, amount, created_date, refunded_date) "
            "VALUES (%s, 100, '2026-01-02', '2026-01-01')",
            (sso_id,),
        )


def test_updated_at_trigger(db):
    sso_id = db.execute(
        "INSERT INTO public.customers (email, created_at, updated_at) "
        "VALUES ('t@example.com', '2020-01-01', '2020-01-01') RETURNING sso_id"
    ).fetchone()[0]
    db.execute("UPDATE public.customers SET \"firstName\" = 'T' WHERE sso_id = %s", (sso_id,))
    created, updated = db.execute(
        "SELECT created_at, updated_at FROM public.customers WHERE sso_id = %s", (sso_id,)
    ).fetchone()
    assert created.year == 2020 and updated.year > 2020


def test_indexes(db):
    indexdefs = [
        r[0]
        for r in db.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    ]
    assert any("lower(email)" in d and "customers" in d for d in indexdefs), indexdefs
    for table in ("returns", "warranties"):
        assert any(f"ON public.{table} USING btree (customer_sso_id)" in d for d in indexdefs), table


def test_case_insensitive_email_lookup_uses_index(db):
    db.execute("SET LOCAL enable_seqscan = off")
    plan = "\n".join(
        r[0]
        for r in db.execute(
            "EXPLAIN SELECT * FROM public.customers WHERE lower(email) = lower('Ava.Martinez@Example.com')"
        ).fetchall()
    )
    assert "customers_lower_email_idx" in plan
