"""Fixtures: scratch PostgreSQL databases, migrations and seeds.

TEST_DATABASE_URL points at a PostgreSQL server (CI: PostgreSQL 15 from Debian on 127.0.0.1).
Each test session creates its own scratch databases there and drops them afterwards, so the
database in the URL is left untouched. If the role may not CREATE DATABASE, the tests fall back
to the URL's own database, which must then not contain the project's tables yet.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from graphql import GraphQLSchema, build_schema
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hasura_project as hp  # noqa: E402

PROJECT_TABLES = ("customers", "returns", "warranties")


def _admin_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        raise RuntimeError(
            "TEST_DATABASE_URL is not set: point it at a PostgreSQL database, "
            "e.g. postgresql://postgres@127.0.0.1:5432/postgres (see tests/hasura/README.md)"
        )
    return url


class Databases:
    """Creates scratch databases on the test server and drops them at the end."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.created: list[str] = []
        self.can_create = True

    def new(self) -> str:
        if self.can_create:
            name = f"hasura_tests_{uuid.uuid4().hex[:12]}"
            try:
                with psycopg.connect(self.admin_url, autocommit=True) as conn:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                self.created.append(name)
                return make_conninfo(self.admin_url, dbname=name)
            except psycopg.errors.InsufficientPrivilege:
                self.can_create = False
        # Fallback: the URL's own database, which must be free of the project's tables.
        with psycopg.connect(self.admin_url) as conn:
            existing = conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_name = ANY(%s)",
                (list(PROJECT_TABLES),),
            ).fetchall()
        if existing:
            raise RuntimeError(
                f"cannot CREATE DATABASE and {conninfo_to_dict(self.admin_url).get('dbname')!r} "
                f"already has {existing}; give the tests an empty database"
            )
        return self.admin_url

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def run_sql_file(conn: psycopg.Connection, path: Path) -> None:
    """Runs one migration or seed file in its own transaction, as `hasura migrate apply` does."""
    with conn.transaction():
        conn.execute(path.read_text(encoding="utf-8"))


def apply_up(conn: psycopg.Connection) -> None:
    for d in hp.migration_dirs():
        run_sql_file(conn, d / "up.sql")


def apply_down(conn: psycopg.Connection) -> None:
    for d in reversed(hp.migration_dirs()):
        run_sql_file(conn, d / "down.sql")


def apply_up_to(conn: psycopg.Connection, name: str) -> Path:
    """Applies the migrations before `name` (not `name` itself) and returns `name`'s folder."""
    for d in hp.migration_dirs():
        if d.name == name:
            return d
        run_sql_file(conn, d / "up.sql")
    raise KeyError(f"no migration {name!r}")


def apply_down_from(conn: psycopg.Connection, name: str) -> None:
    """Rolls back `name` and every migration before it (those after it must not be applied)."""
    dirs = hp.migration_dirs()
    last = [d.name for d in dirs].index(name)
    for d in reversed(dirs[: last + 1]):
        run_sql_file(conn, d / "down.sql")


def apply_seeds(conn: psycopg.Connection) -> None:
    for f in hp.seed_files():
        run_sql_file(conn, f)


@pytest.fixture(scope="session")
def schema() -> GraphQLSchema:
    """The server's SDL (schema.graphql, or STRIPE_GRAPHQL_SCHEMA), as graphql-core builds it."""
    path = hp.SERVER_SCHEMA_FILE
    if not path.is_file():
        pytest.fail(
            f"{path} not found: the server's SDL must be generated into the repository root "
            "(or STRIPE_GRAPHQL_SCHEMA must point at it)"
        )
    return build_schema(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def databases():
    dbs = Databases(_admin_url())
    yield dbs
    dbs.drop_all()


def schema_snapshot(conn: psycopg.Connection) -> dict[str, list]:
    """Everything a migration can leave behind in schema public: the objects' names and their
    definitions (a down.sql that re-creates a function, view, index or constraint must bring
    back the previous text, not just the name). Column positions are left out: PostgreSQL
    cannot give a re-added column its old attnum, and nothing here depends on it."""
    public_rel = (
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
    )
    queries = {
        "relations": "SELECT relname, relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' ORDER BY 1",
        "functions": "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' ORDER BY 1",
        "constraints": "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = 'public' ORDER BY 1",
        "triggers": "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1",
        "types": "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = 'public' ORDER BY 1",
        "extensions": "SELECT extname FROM pg_extension ORDER BY 1",
        # Definitions.
        "function_defs": "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), "
        "obj_description(p.oid, 'pg_proc') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p') ORDER BY 1",
        "view_defs": f"SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c {public_rel} "
        "AND c.relkind IN ('v', 'm') ORDER BY 1",
        "columns": "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p') AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY 1, 2",
        "index_defs": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
        "constraint_defs": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = 'public' ORDER BY 1, 2",
        "trigger_defs": "SELECT tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1",
        "relation_comments": f"SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c {public_rel} "
        "ORDER BY 1",
    }
    return {k: conn.execute(q).fetchall() for k, q in queries.items()}


class Migrated:
    """The database with every migration and seed applied, and the catalogue snapshots taken
    before each migration (for the rollback test)."""

    def __init__(self, url: str, before: list[dict], after: dict):
        self.url = url
        self.before = before
        self.after = after


def migrate_new_database(url: str) -> Migrated:
    """Applies every up.sql in order, snapshotting the schema before each, then the seeds."""
    with psycopg.connect(url, autocommit=True) as conn:
        before = []
        for d in hp.migration_dirs():
            before.append(schema_snapshot(conn))
            run_sql_file(conn, d / "up.sql")
        apply_seeds(conn)
        after = schema_snapshot(conn)
    return Migrated(url, before, after)


@pytest.fixture(scope="session")
def migrated(databases) -> Migrated:
    url = databases.new()
    yield migrate_new_database(url)
    if url == databases.admin_url:  # not a scratch database: leave it as found
        with psycopg.connect(url, autocommit=True) as conn:
            apply_down(conn)


@pytest.fixture(scope="session")
def migrated_url(migrated) -> str:
    """Tests must not change this database for good (use the `db` fixture)."""
    return migrated.url


@pytest.fixture
def db(migrated_url):
    """A connection to the migrated database inside a transaction that is rolled back."""
    with psycopg.connect(migrated_url) as conn:
        yield conn
        conn.rollback()
