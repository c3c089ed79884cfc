"""Hasura metadata (config v3) against the migrated database and the seed query."""

from __future__ import annotations

import re

import pytest
import yaml
from graphql import FieldNode, parse, print_ast

import hasura_project as hp

CUSTOMERS = ("public", "customers")
# Tracked for the admin only: no role has any permission on them (test_profiles_metadata.py).
ADMIN_ONLY = {("public", "customer_duplicates")}
SESSION_USER_ID = "x-hasura-user-id"

# Files a v2.4x `hasura metadata export` writes (empty ones included), plus the databases tree.
METADATA_FILES = [
    "actions.graphql",
    "actions.yaml",
    "allow_list.yaml",
    "api_limits.yaml",
    "backend_configs.yaml",
    "cron_triggers.yaml",
    "databases/databases.yaml",
    "databases/default/tables/tables.yaml",
    "graphql_schema_introspection.yaml",
    "inherited_roles.yaml",
    "metrics_config.yaml",
    "network.yaml",
    "opentelemetry.yaml",
    "query_collections.yaml",
    "remote_schemas.yaml",
    "rest_endpoints.yaml",
    "version.yaml",
]


def table_columns(db, schema: str, table: str) -> dict[str, str]:
    return dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        ).fetchall()
    )


def foreign_keys(db) -> set[tuple[str, str, str, str]]:
    """(from_table, from_column, to_table, to_column) for single-column FKs in schema public."""
    rows = db.execute(
        """
        SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, af.attname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
        """
    ).fetchall()
    return {tuple(r) for r in rows}


def filter_columns(bool_exp) -> set[str]:
    """Column names used in a permission's boolean expression (no relationships used here)."""
    cols = set()
    if isinstance(bool_exp, dict):
        for key, value in bool_exp.items():
            if key in ("_and", "_or"):
                for sub in value:
                    cols |= filter_columns(sub)
            elif key == "_not":
                cols |= filter_columns(value)
            elif not key.startswith("_"):
                cols.add(key)
    return cols


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", METADATA_FILES)
def test_metadata_file_present_and_parses(name):
    path = hp.METADATA_DIR / name
    assert path.is_file(), f"missing hasura/metadata/{name}"
    if name.endswith(".yaml"):
        hp.load_yaml(path)


def test_versions():
    assert hp.metadata("version.yaml") == {"version": 3}
    config = hp.load_yaml(hp.HASURA_DIR / "config.yaml")
    assert config["version"] == 3
    assert config["metadata_directory"] == "metadata"
    assert "admin_secret" not in config, "never commit the admin secret"


def test_default_source_from_env():
    src = hp.source("default")
    assert src["kind"] == "postgres"
    assert src["configuration"]["connection_info"]["database_url"] == {"from_env": "PG_DATABASE_URL"}


def test_table_files_named_after_tables():
    """One <schema>_<table>.yaml per tracked table, as the CLI writes them."""
    tables_dir = hp.METADATA_DIR / "databases/default/tables"
    includes = yaml.safe_load((tables_dir / "tables.yaml").read_text())
    for entry in includes:
        assert entry.startswith(hp.INCLUDE_PREFIX)
        data = hp.load_yaml(tables_dir / entry[len(hp.INCLUDE_PREFIX):])
        table = data["table"]
        assert entry == f"{hp.INCLUDE_PREFIX}{table['schema']}_{table['name']}.yaml"


# ---------------------------------------------------------------------------------------------
# Tables, relationships and permissions against the migrated database
# ---------------------------------------------------------------------------------------------


def test_tracked_tables_exist(db):
    tracked = hp.tracked_tables()
    assert set(tracked) == {("public", "customers"), ("public", "returns"), ("public", "warranties")} | ADMIN_ONLY
    for schema, table in tracked:
        assert table_columns(db, schema, table), f"tracked table {schema}.{table} not created by migrations"


def test_array_relationships(db):
    fks = foreign_keys(db)
    tracked = hp.tracked_tables()
    for (schema, table), meta in tracked.items():
        for rel in meta.get("array_relationships", []):
            fk = rel["using"]["foreign_key_constraint_on"]
            target = (fk["table"].get("schema", "public"), fk["table"]["name"])
            assert target in tracked, f"{rel['name']}: target {target} is not tracked"
            assert fk["column"] in table_columns(db, *target)
            assert (target[1], fk["column"], table, "sso_id") in fks, f"{rel['name']}: no such FK"
    names = {r["name"] for r in tracked[CUSTOMERS]["array_relationships"]}
    assert names == {"returns", "warranties"}


def test_object_relationships(db):
    fks = foreign_keys(db)
    for table in ("returns", "warranties"):
        (rel,) = hp.tracked_tables()[("public", table)]["object_relationships"]
        assert rel["name"] == "customer"
        column = rel["using"]["foreign_key_constraint_on"]
        assert (table, column, "customers", "sso_id") in fks


def test_user_select_permissions(db):
    for (schema, table), meta in hp.tracked_tables().items():
        if (schema, table) in ADMIN_ONLY:
            continue
        perms = [p for p in meta.get("select_permissions", []) if p["role"] == "user"]
        assert len(perms) == 1, f"{table}: one select permission for role user"
        perm = perms[0]["permission"]
        cols = table_columns(db, schema, table)
        assert set(perm["columns"]) <= set(cols), f"{table}: unknown columns in permission"
        fcols = filter_columns(perm["filter"])
        assert fcols and fcols <= set(cols)
        # The row filter compares an sso_id column to the session's user id.
        (only,) = fcols
        assert perm["filter"] == {only: {"_eq": perm["filter"][only]["_eq"]}}
        assert perm["filter"][only]["_eq"].lower() == SESSION_USER_ID
        assert cols[only] == "uuid"
        assert not perm.get("allow_aggregations", False)


def test_seed_query_columns_visible_to_user():
    """The `user` role can run getCustomer on its own row: every selected column is granted."""
    tracked = hp.tracked_tables()

    def granted(table):
        perm = next(p for p in tracked[("public", table)]["select_permissions"] if p["role"] == "user")
        return set(perm["permission"]["columns"])

    op = hp.single_operation(parse(hp.collection_query("allowed-queries", "getCustomer")))
    (root,) = op.selection_set.selections
    for sel in root.selection_set.selections:
        if sel.selection_set is None:
            assert sel.name.value in granted("customers")
        elif sel.name.value in ("returns", "warranties"):
            assert {s.name.value for s in sel.selection_set.selections} <= granted(sel.name.value)


def test_user_cannot_write():
    for (_, table), meta in hp.tracked_tables().items():
        for kind in ("insert_permissions", "update_permissions", "delete_permissions"):
            roles = [p["role"] for p in meta.get(kind, [])]
            assert "user" not in roles, f"{table}: {kind} for user"


def test_user_row_filter_semantics(db):
    """The permission filters, translated to SQL, return only the session user's rows."""
    ava = "6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60"
    for (schema, table), meta in hp.tracked_tables().items():
        if (schema, table) in ADMIN_ONLY:
            continue
        perm = next(p for p in meta["select_permissions"] if p["role"] == "user")["permission"]
        (column,) = perm["filter"]
        ids = db.execute(
            f'SELECT DISTINCT "{column}" FROM public.{table} WHERE "{column}" = %s::uuid', (ava,)
        ).fetchall()
        assert [str(r[0]) for r in ids] == [ava]


# ---------------------------------------------------------------------------------------------
# The remote schema and the remote relationship
# ---------------------------------------------------------------------------------------------


def test_remote_schema_definition():
    rs = hp.remote_schema("stripe")
    d = rs["definition"]
    assert d["url_from_env"] == "STRIPE_GRAPHQL_URL" and "url" not in d
    assert d["timeout_seconds"] == 20
    assert d["forward_client_headers"] is False
    assert d["customization"] == {"root_fields_namespace": "stripe"}
    (header,) = d["headers"]
    assert header == {"name": "Authorization", "value_from_env": "STRIPE_GRAPHQL_AUTHORIZATION"}
    for env in (d["url_from_env"], header["value_from_env"]):
        assert not env.startswith("HASURA_GRAPHQL_"), "Hasura rejects HASURA_GRAPHQL_* here"


def test_remote_relationship_definition(db):
    rel = hp.remote_relationship(CUSTOMERS, "stripe_data")
    assert set(rel["definition"]) == {"to_remote_schema"}, "use the current to_remote_schema format"
    to = rel["definition"]["to_remote_schema"]
    assert to["remote_schema"] == "stripe"
    hp.remote_schema(to["remote_schema"])  # exists
    assert to["lhs_fields"] == ["stripe_customer_id"]
    assert to["remote_field"] == {"customer": {"arguments": {"id": "$stripe_customer_id"}}}
    cols = table_columns(db, *CUSTOMERS)
    for field in to["lhs_fields"]:
        assert cols.get(field) == "text", f"join column {field} must exist and be text"

    def variables(value):
        if isinstance(value, str) and value.startswith("$"):
            yield value[1:]
        elif isinstance(value, dict):
            for v in value.values():
                yield from variables(v)
        elif isinstance(value, list):
            for v in value:
                yield from variables(v)

    (spec,) = to["remote_field"].values()
    assert set(variables(spec["arguments"])) <= set(to["lhs_fields"])


def test_metadata_env_vars_are_provided_by_compose():
    """Every environment variable the metadata reads is set on the Hasura service."""
    text = "\n".join(
        p.read_text() for p in hp.METADATA_DIR.rglob("*.yaml")
    )
    wanted = set(re.findall(r"(?:from_env|url_from_env|value_from_env):\s*([A-Z0-9_]+)", text))
    assert wanted >= {"PG_DATABASE_URL", "STRIPE_GRAPHQL_URL", "STRIPE_GRAPHQL_AUTHORIZATION"}
    env = hp.env_mapping(hp.compose()["services"]["hasura"])
    assert wanted <= set(env), f"not set for Hasura: {wanted - set(env)}"


# ---------------------------------------------------------------------------------------------
# The seed query, the query collection and the REST endpoint
# ---------------------------------------------------------------------------------------------


def seed_query() -> str:
    return hp.strip_leading_comments(hp.seed_query_text())


def test_collection_holds_the_seed_query_verbatim():
    stored = hp.collection_query("allowed-queries", "getCustomer")
    assert stored.rstrip("\n") + "\n" == seed_query()
    op = hp.single_operation(parse(stored))
    assert op.name.value == "getCustomer"
    (var,) = op.variable_definitions
    assert var.variable.name.value == "sso_id" and print_ast(var.type) == "uuid!"


def test_seed_query_fits_the_tracked_schema(db):
    """Every field of the seed query is a column or relationship Hasura will expose."""
    op = hp.single_operation(parse(seed_query()))
    (root,) = op.selection_set.selections
    assert root.name.value == "customers_by_pk"
    assert [a.name.value for a in root.arguments] == ["sso_id"]  # the primary key
    tracked = hp.tracked_tables()
    meta = tracked[CUSTOMERS]
    cols = table_columns(db, *CUSTOMERS)
    arrays = {r["name"]: r for r in meta["array_relationships"]}
    remotes = {r["name"] for r in meta["remote_relationships"]}
    for sel in root.selection_set.selections:
        assert isinstance(sel, FieldNode)
        name = sel.name.value
        if sel.selection_set is None:
            assert name in cols, f"customers.{name} is not a column"
        elif name in arrays:
            target = arrays[name]["using"]["foreign_key_constraint_on"]["table"]["name"]
            tcols = table_columns(db, "public", target)
            for sub in sel.selection_set.selections:
                assert sub.name.value in tcols, f"{target}.{sub.name.value} is not a column"
        else:
            assert name in remotes, f"customers.{name} is neither column nor relationship"
    pk = db.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'public.customers'::regclass AND i.indisprimary"
    ).fetchall()
    assert pk == [("sso_id",)] and cols["sso_id"] == "uuid"


def test_rest_endpoint():
    ep = hp.rest_endpoint("getCustomer")
    assert ep["url"] == "customers/:sso_id"
    assert ep["methods"] == ["GET"]
    ref = ep["definition"]["query"]
    query = hp.collection_query(ref["collection_name"], ref["query_name"])
    assert query.rstrip("\n") + "\n" == seed_query()
    op = hp.single_operation(parse(query))
    url_vars = set(re.findall(r":([A-Za-z_][A-Za-z0-9_]*)", ep["url"]))
    assert url_vars <= {v.variable.name.value for v in op.variable_definitions}


def test_allow_list_references_existing_collection():
    names = {c["name"] for c in hp.metadata("query_collections.yaml")}
    for entry in hp.metadata("allow_list.yaml"):
        assert entry["collection"] in names


def test_docs_show_the_seed_query_verbatim():
    doc = (hp.REPO_ROOT / "docs" / "hasura.md").read_text(encoding="utf-8")
    assert "```graphql\n" + seed_query() + "```" in doc
    assert "/api/rest/customers/" in doc
