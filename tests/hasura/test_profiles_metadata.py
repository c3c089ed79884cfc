"""Issue 10 in the Hasura metadata: the server's roles, the event trigger, the admin-only
duplicates view and merge mutation, and the compose wiring.

Hasura is not run. The role permissions are checked as Hasura builds a role's schema from them
(a `_set` field exists only for an update column, a `where` field only for a select column), and
the documents the server sends (issue 10 contract) are run on the migrated PostgreSQL database
the way Hasura compiles an update: the request's `where` AND the permission's filter, then the
permission's check on every updated row, all in one transaction.
"""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
import yaml
from graphql import FieldNode, OperationDefinitionNode, parse, print_ast
from graphql.utilities import value_from_ast_untyped

import hasura_project as hp

CUSTOMERS = ("public", "customers")
DUPLICATES = ("public", "customer_duplicates")
MERGE = ("public", "merge_customer_profiles")
AVA = "6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60"  # seeded, linked to cus_AvaMartinez
HIRO = "d0839105-f2b4-45c6-a178-8293a4b5c6d7"  # seeded, no Stripe customer, a plan picked

SERVER_ROLES = ("stripe_sync", "stripe_lifecycle", "stripe_phone")
SELECT_COLUMNS = {
    "stripe_sync": {"sso_id", "firstName", "lastName", "email", "stripe_customer_id"},
    "stripe_lifecycle": {
        "sso_id", "stripe_customer_id", "activationDate", "delinquency_date", "plan_change_date",
        "stripe_status_event_at",
    },
    "stripe_phone": {"sso_id", "phone", "country", "phone_e164"},
}
UPDATE_COLUMNS = {
    "stripe_sync": {"stripe_customer_id", "temporary_subscription_plan"},
    "stripe_lifecycle": {"activationDate", "delinquency_date", "plan_change_date", "stripe_status_event_at"},
    "stripe_phone": {"phone_e164"},
}
UPDATE_FILTER = {
    "stripe_sync": {"stripe_customer_id": {"_is_null": True}},
    "stripe_lifecycle": {"stripe_customer_id": {"_is_null": False}},
    "stripe_phone": {},
}
UPDATE_CHECK = {
    "stripe_sync": {"stripe_customer_id": {"_is_null": False}},
    "stripe_lifecycle": None,
    "stripe_phone": {"_or": [{"phone_e164": {"_is_null": True}}, {"phone": {"_is_null": False}}]},
}

EVENT_TRIGGER = {
    "name": "customers_stripe_sync",
    "definition": {
        "enable_manual": True,
        "insert": {"columns": "*"},
        "update": {"columns": sorted(["country", "email", "firstName", "lastName", "phone", "stripe_customer_id"])},
    },
    "retry_conf": {"num_retries": 5, "interval_sec": 30, "timeout_sec": 25},
    "webhook_from_env": "STRIPE_GRAPHQL_EVENTS_URL",
    "headers": [{"name": "Authorization", "value_from_env": "STRIPE_GRAPHQL_AUTHORIZATION"}],
}

# The documents the server sends through HASURA_GRAPHQL_URL (issue 10 contract), with the role
# it names in x-hasura-role.
SERVER_DOCUMENTS = {
    "StripeSyncProfile": (
        "stripe_sync",
        """query StripeSyncProfile($sso: uuid!) { customers_by_pk(sso_id: $sso) { sso_id firstName lastName email stripe_customer_id } }""",
    ),
    "StripeSyncLink": (
        "stripe_sync",
        """mutation StripeSyncLink($sso: uuid!, $customer: String!) {
          update_customers(where: {sso_id: {_eq: $sso}, stripe_customer_id: {_is_null: true}},
                           _set: {stripe_customer_id: $customer, temporary_subscription_plan: null}) { affected_rows }
        }""",
    ),
    "StripeActivation": (
        "stripe_lifecycle",
        """mutation StripeActivation($customer: String!, $at: timestamptz!) {
          update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{activationDate: {_is_null: true}}, {activationDate: {_gt: $at}}]},
                           _set: {activationDate: $at}) { affected_rows } }""",
    ),
    "StripeDelinquent": (
        "stripe_lifecycle",
        """mutation StripeDelinquent($customer: String!, $at: timestamptz!) {
          first: update_customers(where: {stripe_customer_id: {_eq: $customer}, delinquency_date: {_is_null: true}, _or: [{stripe_status_event_at: {_is_null: true}}, {stripe_status_event_at: {_lte: $at}}]},
                                  _set: {delinquency_date: $at}) { affected_rows }
          seen: update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{stripe_status_event_at: {_is_null: true}}, {stripe_status_event_at: {_lt: $at}}]},
                                 _set: {stripe_status_event_at: $at}) { affected_rows } }""",
    ),
    "StripeRecovered": (
        "stripe_lifecycle",
        """mutation StripeRecovered($customer: String!, $at: timestamptz!) {
          update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{stripe_status_event_at: {_is_null: true}}, {stripe_status_event_at: {_lte: $at}}]},
                           _set: {delinquency_date: null, stripe_status_event_at: $at}) { affected_rows } }""",
    ),
    "StripePlanChange": (
        "stripe_lifecycle",
        """mutation StripePlanChange($customer: String!, $at: timestamptz!) {
          update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{plan_change_date: {_is_null: true}}, {plan_change_date: {_lt: $at}}]},
                           _set: {plan_change_date: $at}) { affected_rows } }""",
    ),
}

# The phone_e164 write-back's documents live in one file the server reads (or copies and
# compares): hasura/server_documents/phone_e164.graphql, one named operation each.
PHONE_DOCUMENTS_FILE = hp.HASURA_DIR / "server_documents" / "phone_e164.graphql"
PHONE_OPERATIONS = ("PhoneE164Profile", "PhoneE164Set", "PhoneE164Clear")


def phone_documents() -> dict[str, str]:
    """{operation name: the operation's text}, each one a document of its own."""
    doc = parse(PHONE_DOCUMENTS_FILE.read_text(encoding="utf-8"))
    return {
        d.name.value: print_ast(d)
        for d in doc.definitions
        if isinstance(d, OperationDefinitionNode)
    }


SERVER_DOCUMENTS.update({name: ("stripe_phone", text) for name, text in phone_documents().items()})

GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


def customers_meta() -> dict:
    return hp.tracked_tables()[CUSTOMERS]


def permission(kind: str, role: str, table=CUSTOMERS) -> dict | None:
    perms = [p for p in hp.tracked_tables()[table].get(kind, []) if p["role"] == role]
    assert len(perms) <= 1, f"{table}: two {kind} for {role}"
    return perms[0]["permission"] if perms else None


def tracked_functions() -> dict[tuple[str, str], dict]:
    out = {}
    for entry in hp.source().get("functions", []):
        key = (entry["function"].get("schema", "public"), entry["function"]["name"])
        assert key not in out, f"function {key} tracked twice"
        out[key] = entry
    return out


def table_columns(db, schema: str, table: str) -> dict[str, str]:
    return dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        ).fetchall()
    )


def bool_exp_columns(exp) -> set[str]:
    cols = set()
    for key, value in (exp or {}).items():
        if key in ("_and", "_or"):
            for sub in value:
                cols |= bool_exp_columns(sub)
        elif key == "_not":
            cols |= bool_exp_columns(value)
        else:
            cols.add(key)
    return cols


# ---------------------------------------------------------------------------------------------
# The server's roles
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", SERVER_ROLES)
def test_server_role_selects_exactly_the_contract_columns(db, role):
    perm = permission("select_permissions", role)
    assert perm is not None, f"no select permission for {role}"
    assert set(perm["columns"]) == SELECT_COLUMNS[role]
    assert set(perm["columns"]) <= set(table_columns(db, *CUSTOMERS))
    assert perm["filter"] == {}, "the server looks up any profile by sso_id or stripe_customer_id"
    assert not perm.get("allow_aggregations", False)


def test_stripe_sync_updates_only_the_link_of_an_unlinked_profile(db):
    perm = permission("update_permissions", "stripe_sync")
    assert set(perm["columns"]) == {"stripe_customer_id", "temporary_subscription_plan"}
    assert perm["filter"] == {"stripe_customer_id": {"_is_null": True}}
    assert perm["check"] == {"stripe_customer_id": {"_is_null": False}}
    assert not perm.get("set"), "no presets"


def test_stripe_lifecycle_updates_only_the_four_lifecycle_columns_of_linked_profiles(db):
    perm = permission("update_permissions", "stripe_lifecycle")
    assert set(perm["columns"]) == {"activationDate", "delinquency_date", "plan_change_date", "stripe_status_event_at"}
    assert perm["filter"] == {"stripe_customer_id": {"_is_null": False}}
    assert perm.get("check") in (None, {})
    assert not perm.get("set"), "no presets"


def test_stripe_phone_updates_only_phone_e164_of_any_profile(db):
    perm = permission("update_permissions", "stripe_phone")
    assert set(perm["columns"]) == {"phone_e164"}
    assert perm["filter"] == {}, "any profile, linked to Stripe or not"
    assert perm["check"] == UPDATE_CHECK["stripe_phone"], "no number for a profile without a phone"
    assert not perm.get("set"), "no presets"
    # The link's guard is not widened along the way.
    assert permission("update_permissions", "stripe_sync")["filter"] == {"stripe_customer_id": {"_is_null": True}}


def test_stripe_phone_has_no_other_permission_anywhere():
    """Exactly select and update on customers, and nothing on the remote schema."""
    kinds = {
        (table, kind)
        for table, meta in hp.tracked_tables().items()
        for kind in ("select_permissions", "insert_permissions", "update_permissions", "delete_permissions")
        if "stripe_phone" in [p["role"] for p in meta.get(kind, [])]
    }
    assert kinds == {(CUSTOMERS, "select_permissions"), (CUSTOMERS, "update_permissions")}
    for remote in hp.metadata("remote_schemas.yaml"):
        assert "stripe_phone" not in [p["role"] for p in remote.get("permissions", [])]
    for key, fn in tracked_functions().items():
        assert "stripe_phone" not in [p["role"] for p in fn.get("permissions", [])], key


@pytest.mark.parametrize("role", SERVER_ROLES)
def test_server_role_update_columns_exist_and_exclude_identity_and_contact(db, role):
    cols = set(permission("update_permissions", role)["columns"])
    assert cols <= set(table_columns(db, *CUSTOMERS))
    assert not cols & {"sso_id", "email", "firstName", "lastName", "phone", "created_at", "updated_at"}


@pytest.mark.parametrize("role", SERVER_ROLES)
def test_server_role_cannot_insert_or_delete_or_touch_other_tables(role):
    for table, meta in hp.tracked_tables().items():
        for kind in ("insert_permissions", "delete_permissions"):
            assert role not in [p["role"] for p in meta.get(kind, [])], f"{table}: {kind} for {role}"
        if table != CUSTOMERS:
            for kind in ("select_permissions", "update_permissions"):
                assert role not in [p["role"] for p in meta.get(kind, [])], f"{table}: {kind} for {role}"
    for key, fn in tracked_functions().items():
        assert role not in [p["role"] for p in fn.get("permissions", [])], f"{key}: {role}"


def test_server_role_permissions_exist_only_as_agreed():
    """No other role got update rights on customers along the way."""
    assert {p["role"] for p in customers_meta().get("update_permissions", [])} == set(SERVER_ROLES)
    assert {p["role"] for p in customers_meta().get("select_permissions", [])} == {"user", *SERVER_ROLES}


def test_write_backs_fire_the_event_trigger_at_most_once_through_the_link():
    """The trigger fires on updates of email, names and the Stripe link. Of those the server
    writes only the link, and only while it is null (the stripe_sync filter), so its own
    write-back fires one event, whose handling writes no profile column: no loop."""
    (trigger,) = customers_meta()["event_triggers"]
    watched = set(trigger["definition"]["update"]["columns"])
    for role in SERVER_ROLES:
        written = set(permission("update_permissions", role)["columns"]) & watched
        assert written <= {"stripe_customer_id"}, f"{role} writes watched columns {written}"
    sync = permission("update_permissions", "stripe_sync")
    assert sync["filter"] == {"stripe_customer_id": {"_is_null": True}}
    # The phone write-back: the trigger watches phone and country, never phone_e164.
    assert {"phone", "country"} <= watched and "phone_e164" not in watched


def test_user_sees_its_own_contact_columns_but_not_the_ordering_guard(db):
    cols = set(permission("select_permissions", "user")["columns"])
    assert {"phone", "address_line1", "address_line2", "city", "postal_code", "country"} <= cols
    assert "stripe_status_event_at" not in cols
    assert "phone_e164" not in cols, "the server's normalisation, for duplicate detection only"
    assert cols <= set(table_columns(db, *CUSTOMERS))


# ---------------------------------------------------------------------------------------------
# The server's documents against the permissions (schema level)
# ---------------------------------------------------------------------------------------------


def root_fields(document: str) -> list[FieldNode]:
    op = hp.single_operation(parse(document))
    assert isinstance(op, OperationDefinitionNode)
    return [s for s in op.selection_set.selections if isinstance(s, FieldNode)]


def argument(field: FieldNode, name: str, variables: dict):
    for arg in field.arguments:
        if arg.name.value == name:
            return value_from_ast_untyped(arg.value, variables)
    return None


@pytest.mark.parametrize("name", sorted(SERVER_DOCUMENTS))
def test_server_document_fits_its_roles_schema(name):
    role, document = SERVER_DOCUMENTS[name]
    select_cols = set(permission("select_permissions", role)["columns"])
    update = permission("update_permissions", role)
    for field in root_fields(document):
        if field.name.value == "customers_by_pk":
            # `_by_pk` needs select on the primary key; the selection only granted columns.
            assert [a.name.value for a in field.arguments] == ["sso_id"] and "sso_id" in select_cols
            assert {s.name.value for s in field.selection_set.selections} <= select_cols
        else:
            assert field.name.value == "update_customers", field.name.value
            assert update is not None, f"{role} has no update permission"
            where = argument(field, "where", {})
            assert bool_exp_columns(where) <= select_cols, f"{name}: where on columns {role} cannot select"
            _set = argument(field, "_set", {})
            assert set(_set) <= set(update["columns"]), f"{name}: _set outside {role}'s update columns"
            assert [s.name.value for s in field.selection_set.selections] == ["affected_rows"]


# ---------------------------------------------------------------------------------------------
# The server's documents on PostgreSQL, as Hasura runs them for the role
# ---------------------------------------------------------------------------------------------

OPERATORS = {"_eq": "=", "_neq": "<>", "_gt": ">", "_lt": "<", "_gte": ">=", "_lte": "<="}


def bool_exp_sql(exp, params: list) -> str:
    """A Hasura boolean expression over customers' columns as SQL (the operators used here)."""
    parts = []
    for key, value in (exp or {}).items():
        if key in ("_and", "_or"):
            subs = [bool_exp_sql(e, params) for e in value]
            joiner = " AND " if key == "_and" else " OR "
            parts.append("(" + joiner.join(subs) + ")" if subs else ("TRUE" if key == "_and" else "FALSE"))
        elif key == "_not":
            parts.append(f"NOT ({bool_exp_sql(value, params)})")
        else:
            for op, arg in value.items():
                if op == "_is_null":
                    parts.append(f'"{key}" IS {"" if arg else "NOT "}NULL')
                else:
                    params.append(arg)
                    parts.append(f'"{key}" {OPERATORS[op]} %s')
    return " AND ".join(parts) if parts else "TRUE"


def savepoint(db):
    """A savepoint inside the `db` fixture's transaction. psycopg starts (and COMMITS) a real
    transaction when none is open yet, so open the outer one first: tests must roll back."""
    if db.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        db.execute("SELECT 1")
    return db.transaction()


class PermissionCheckFailed(Exception):
    """Hasura's `permission-error`: an updated row fails the permission's check."""


def run_as(db, name: str, **variables) -> dict[str, object]:
    """Runs one of SERVER_DOCUMENTS for its role; {response key: affected_rows or row}.
    All root fields in one transaction (a savepoint here), like Hasura."""
    role, document = SERVER_DOCUMENTS[name]
    out = {}
    with savepoint(db):
        for field in root_fields(document):
            key = field.alias.value if field.alias else field.name.value
            if field.name.value == "customers_by_pk":
                cols = ", ".join(f'"{s.name.value}"' for s in field.selection_set.selections)
                params: list = [argument(field, "sso_id", variables)]
                filt = bool_exp_sql(permission("select_permissions", role)["filter"], params)
                out[key] = db.execute(
                    f"SELECT {cols} FROM public.customers WHERE sso_id = %s AND {filt}", params
                ).fetchone()
                continue
            perm = permission("update_permissions", role)
            _set = argument(field, "_set", variables)
            assert set(_set) <= set(perm["columns"])
            params = list(_set.values())
            assignments = ", ".join(f'"{c}" = %s' for c in _set)
            where = bool_exp_sql(argument(field, "where", variables), params)
            filt = bool_exp_sql(perm["filter"], params)
            check_params: list = []
            check = bool_exp_sql(perm.get("check"), check_params)
            rows = db.execute(
                f"UPDATE public.customers SET {assignments} WHERE ({where}) AND ({filt}) "
                f"RETURNING ({check})",
                params + check_params,
            ).fetchall()
            if not all(r[0] for r in rows):
                raise PermissionCheckFailed(f"{name}: check constraint of an update permission has failed")
            out[key] = len(rows)
    return out


def row(db, sso_id, *cols):
    return db.execute(
        f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in cols)} FROM public.customers WHERE sso_id = %s",
        (sso_id,),
    ).fetchone()


def test_link_write_back_links_an_unlinked_profile_once(db):
    assert run_as(db, "StripeSyncProfile", sso=HIRO)["customers_by_pk"] == (
        uuid.UUID(HIRO), "Hiro", "Tanaka", "hiro.tanaka@example.com", None,
    )
    assert run_as(db, "StripeSyncLink", sso=HIRO, customer="cus_HiroTanaka") == {"update_customers": 1}
    assert row(db, HIRO, "stripe_customer_id", "temporary_subscription_plan") == ("cus_HiroTanaka", None)
    # A redelivered event, or a second Stripe customer created by mistake: nothing changes.
    assert run_as(db, "StripeSyncLink", sso=HIRO, customer="cus_HiroTanaka") == {"update_customers": 0}
    assert run_as(db, "StripeSyncLink", sso=HIRO, customer="cus_Other") == {"update_customers": 0}
    assert row(db, HIRO, "stripe_customer_id") == ("cus_HiroTanaka",)


def test_stripe_sync_cannot_relink_a_linked_profile_even_without_the_null_filter(db):
    params: list = ["cus_Evil", AVA]
    filt = bool_exp_sql(permission("update_permissions", "stripe_sync")["filter"], params)
    n = db.execute(
        f"UPDATE public.customers SET stripe_customer_id = %s WHERE sso_id = %s AND ({filt})", params
    ).rowcount
    assert n == 0 and row(db, AVA, "stripe_customer_id") == ("cus_AvaMartinez",)


def test_stripe_sync_cannot_unlink(db):
    """Setting the link to null fails the permission's check (and rolls back the request)."""
    params: list = [None, HIRO]
    perm = permission("update_permissions", "stripe_sync")
    filt = bool_exp_sql(perm["filter"], params)
    check = bool_exp_sql(perm["check"], [])
    with savepoint(db):
        (ok,) = db.execute(
            f"UPDATE public.customers SET stripe_customer_id = %s WHERE sso_id = %s AND ({filt}) RETURNING ({check})",
            params,
        ).fetchone()
    assert ok is False


def test_lifecycle_write_backs_keep_the_dates_true(db):
    c = "cus_AvaMartinez"
    db.execute(
        "UPDATE public.customers SET \"activationDate\" = NULL, delinquency_date = NULL, plan_change_date = NULL, "
        "stripe_status_event_at = NULL WHERE stripe_customer_id = %s",
        (c,),
    )
    # Activation: the earliest wins, whatever the order of delivery.
    assert run_as(db, "StripeActivation", customer=c, at="2025-02-01T00:00:00Z") == {"update_customers": 1}
    assert run_as(db, "StripeActivation", customer=c, at="2025-03-01T00:00:00Z") == {"update_customers": 0}
    assert run_as(db, "StripeActivation", customer=c, at="2025-01-01T00:00:00Z") == {"update_customers": 1}
    # Delinquent at t2, then a late "recovered" from t1 < t2 is ignored, then recovered at t3.
    assert run_as(db, "StripeDelinquent", customer=c, at="2026-01-10T00:00:00Z") == {"first": 1, "seen": 1}
    assert run_as(db, "StripeRecovered", customer=c, at="2026-01-05T00:00:00Z") == {"update_customers": 0}
    assert row(db, AVA, "delinquency_date")[0].isoformat().startswith("2026-01-10")
    # A redelivered delinquency keeps the first date.
    assert run_as(db, "StripeDelinquent", customer=c, at="2026-01-10T00:00:00Z") == {"first": 0, "seen": 0}
    assert run_as(db, "StripeRecovered", customer=c, at="2026-01-20T00:00:00Z") == {"update_customers": 1}
    assert row(db, AVA, "delinquency_date") == (None,)
    # Plan change: the latest wins.
    assert run_as(db, "StripePlanChange", customer=c, at="2026-03-01T00:00:00Z") == {"update_customers": 1}
    assert run_as(db, "StripePlanChange", customer=c, at="2026-02-01T00:00:00Z") == {"update_customers": 0}
    activation, plan_change, seen = row(db, AVA, "activationDate", "plan_change_date", "stripe_status_event_at")
    assert activation.isoformat().startswith("2025-01-01")
    assert plan_change.isoformat().startswith("2026-03-01")
    assert seen.isoformat().startswith("2026-01-20")


def test_lifecycle_role_cannot_touch_an_unlinked_profile(db):
    params: list = ["2026-01-01T00:00:00Z", HIRO]
    filt = bool_exp_sql(permission("update_permissions", "stripe_lifecycle")["filter"], params)
    n = db.execute(
        f"UPDATE public.customers SET delinquency_date = %s WHERE sso_id = %s AND ({filt})", params
    ).rowcount
    assert n == 0


def test_phone_documents_file_holds_the_three_operations():
    doc = parse(PHONE_DOCUMENTS_FILE.read_text(encoding="utf-8"))
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(ops) == len(doc.definitions), "operations only (no fragments)"
    assert tuple(op.name.value for op in ops) == PHONE_OPERATIONS
    assert [op.operation.value for op in ops] == ["query", "mutation", "mutation"]
    for op in ops:
        assert len(op.selection_set.selections) == 1, op.name.value
    variables = {
        op.name.value: {v.variable.name.value: print_ast(v.type) for v in op.variable_definitions} for op in ops
    }
    assert variables == {
        "PhoneE164Profile": {"sso": "uuid!"},
        "PhoneE164Set": {"sso": "uuid!", "phone": "String!", "e164": "String!"},
        "PhoneE164Clear": {"sso": "uuid!", "phone": "String!"},
    }
    # Non-null variables only: Hasura v2 refuses a null in a comparison.


def set_phone(db, sso_id, phone, country=None, e164=None):
    """What a client (phone, country) and the server (phone_e164) wrote; one statement."""
    db.execute(
        "UPDATE public.customers SET phone = %s, country = %s, phone_e164 = %s WHERE sso_id = %s",
        (phone, country, e164, sso_id),
    )


def test_phone_e164_write_back(db):
    """The handler's steps for Hiro (seeded, no Stripe customer) as the server runs them."""
    set_phone(db, HIRO, "415-555-0101", "US")
    assert run_as(db, "PhoneE164Profile", sso=HIRO)["customers_by_pk"] == (
        uuid.UUID(HIRO), "415-555-0101", "US", None,
    )
    assert run_as(db, "PhoneE164Set", sso=HIRO, phone="415-555-0101", e164="+14155550101") == {"update_customers": 1}
    assert row(db, HIRO, "phone_e164") == ("+14155550101",)
    # A redelivered event: the value is there, nothing is written.
    assert run_as(db, "PhoneE164Set", sso=HIRO, phone="415-555-0101", e164="+14155550101") == {"update_customers": 0}
    # A linked profile too (no filter on the link).
    set_phone(db, AVA, "+44 20 7946 0958", "US")
    assert run_as(db, "PhoneE164Set", sso=AVA, phone="+44 20 7946 0958", e164="+442079460958") == {"update_customers": 1}
    assert row(db, AVA, "phone_e164", "stripe_customer_id") == ("+442079460958", "cus_AvaMartinez")


def test_phone_e164_write_back_of_a_phone_that_changed_meanwhile_writes_nothing(db):
    set_phone(db, HIRO, "415-555-0101", "US")
    db.execute("UPDATE public.customers SET phone = '020 7946 0958', country = 'GB' WHERE sso_id = %s", (HIRO,))
    # The handler of the first event computed +14155550101 from the phone it read before.
    assert run_as(db, "PhoneE164Set", sso=HIRO, phone="415-555-0101", e164="+14155550101") == {"update_customers": 0}
    assert run_as(db, "PhoneE164Set", sso=HIRO, phone="020 7946 0958", e164="+442079460958") == {"update_customers": 1}
    assert row(db, HIRO, "phone_e164") == ("+442079460958",)


def test_phone_e164_clear(db):
    # A phone that is not (or no longer) a valid number.
    set_phone(db, HIRO, "555-555-5555", "US", e164="+15555555555")
    assert run_as(db, "PhoneE164Clear", sso=HIRO, phone="123") == {"update_customers": 0}, "another phone"
    assert run_as(db, "PhoneE164Clear", sso=HIRO, phone="555-555-5555") == {"update_customers": 1}
    assert row(db, HIRO, "phone_e164") == (None,)
    assert run_as(db, "PhoneE164Clear", sso=HIRO, phone="555-555-5555") == {"update_customers": 0}
    # No phone at all: the server passes "" (its variables are never null).
    set_phone(db, HIRO, None, "US", e164="+14155550101")
    assert run_as(db, "PhoneE164Clear", sso=HIRO, phone="") == {"update_customers": 1}
    assert row(db, HIRO, "phone", "phone_e164") == (None, None)


def test_stripe_phone_cannot_give_a_number_to_a_profile_without_a_phone(db):
    """Even without the documents' phone condition: the permission's check refuses it."""
    params: list = ["+14155550101", HIRO]
    perm = permission("update_permissions", "stripe_phone")
    check = bool_exp_sql(perm["check"], [])
    with savepoint(db):
        (ok,) = db.execute(
            f"UPDATE public.customers SET phone_e164 = %s WHERE sso_id = %s RETURNING ({check})", params
        ).fetchone()
    assert ok is False
    set_phone(db, HIRO, "415-555-0101", "US")
    with savepoint(db):
        (ok,) = db.execute(
            f"UPDATE public.customers SET phone_e164 = %s WHERE sso_id = %s RETURNING ({check})", params
        ).fetchone()
    assert ok is True


def test_phone_e164_write_back_does_not_fire_the_trigger():
    (trigger,) = customers_meta()["event_triggers"]
    written = set()
    for name in PHONE_OPERATIONS:
        role, document = SERVER_DOCUMENTS[name]
        for field in root_fields(document):
            if field.name.value.startswith("update_"):
                written |= set(argument(field, "_set", {"e164": "x"}))
    assert written == {"phone_e164"}
    assert not written & set(trigger["definition"]["update"]["columns"])


# ---------------------------------------------------------------------------------------------
# The event trigger
# ---------------------------------------------------------------------------------------------


def test_event_trigger_definition():
    triggers = customers_meta().get("event_triggers", [])
    assert [t["name"] for t in triggers] == ["customers_stripe_sync"]
    (trigger,) = triggers
    got = dict(trigger)
    got["definition"] = dict(got["definition"])
    got["definition"]["update"] = {"columns": sorted(got["definition"]["update"]["columns"])}
    assert got == EVENT_TRIGGER
    assert "delete" not in trigger["definition"], "deleting a profile does not delete its Stripe customer"


def test_event_trigger_obeys_hasuras_rules(db):
    (trigger,) = customers_meta()["event_triggers"]
    # Hasura: names of at most 42 characters from [A-Za-z0-9_-].
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,42}", trigger["name"])
    assert ("webhook" in trigger) != ("webhook_from_env" in trigger), "exactly one of webhook, webhook_from_env"
    for header in trigger["headers"]:
        assert ("value" in header) != ("value_from_env" in header)
        assert "value" not in header, "no secrets in the metadata"
    cols = set(table_columns(db, *CUSTOMERS))
    for op in ("insert", "update"):
        spec = trigger["definition"][op]["columns"]
        assert spec == "*" or set(spec) <= cols, f"{op}: unknown columns"
    retry = trigger["retry_conf"]
    assert all(isinstance(retry[k], int) and retry[k] > 0 for k in ("num_retries", "interval_sec", "timeout_sec"))


def test_event_trigger_environment_is_set_by_compose():
    services = hp.compose()["services"]
    hasura = hp.env_mapping(services["hasura"])
    assert hasura["STRIPE_GRAPHQL_EVENTS_URL"] == "${STRIPE_GRAPHQL_EVENTS_URL:-http://stripe-graphql:8000/hasura/events}"
    # The header is the remote schema's: "Bearer <the server's token>".
    server = hp.env_mapping(services["stripe-graphql"])
    assert hasura["STRIPE_GRAPHQL_AUTHORIZATION"] == f"Bearer {server['GRAPHQL_AUTH_TOKEN']}"


def test_server_reaches_hasura_with_the_same_admin_secret():
    services = hp.compose()["services"]
    server = hp.env_mapping(services["stripe-graphql"])
    hasura = hp.env_mapping(services["hasura"])
    assert server["HASURA_GRAPHQL_URL"] == "${HASURA_GRAPHQL_URL:-http://hasura:8080/v1/graphql}"
    assert server["HASURA_ADMIN_SECRET"] == hasura["HASURA_GRAPHQL_ADMIN_SECRET"]
    # The server needs Hasura only when events arrive: no start dependency (it would be a cycle).
    assert "hasura" not in (services["stripe-graphql"].get("depends_on") or {})


# ---------------------------------------------------------------------------------------------
# The duplicates view and the merge mutation: tracked, admin only
# ---------------------------------------------------------------------------------------------


def test_duplicates_view_is_tracked_without_any_permission(db):
    meta = hp.tracked_tables()[DUPLICATES]
    for kind in ("select_permissions", "insert_permissions", "update_permissions", "delete_permissions"):
        assert not meta.get(kind), f"customer_duplicates: {kind} (admin only)"
    assert not meta.get("event_triggers")
    assert db.execute("SELECT relkind FROM pg_class WHERE oid = 'public.customer_duplicates'::regclass").fetchone() == ("v",)
    # Not an updatable view: Hasura exposes no insert/update/delete for it, even to the admin.
    assert db.execute(
        "SELECT is_updatable, is_insertable_into FROM information_schema.views "
        "WHERE table_schema = 'public' AND table_name = 'customer_duplicates'"
    ).fetchone() == ("NO", "NO")


def test_duplicates_view_relationships_point_at_both_profiles(db):
    meta = hp.tracked_tables()[DUPLICATES]
    view_cols = table_columns(db, *DUPLICATES)
    customer_cols = table_columns(db, *CUSTOMERS)
    rels = {r["name"]: r["using"]["manual_configuration"] for r in meta["object_relationships"]}
    assert set(rels) == {"profile", "duplicate"}
    assert rels["profile"]["column_mapping"] == {"sso_id": "sso_id"}
    assert rels["duplicate"]["column_mapping"] == {"duplicate_sso_id": "sso_id"}
    for conf in rels.values():
        target = (conf["remote_table"].get("schema", "public"), conf["remote_table"]["name"])
        assert target == CUSTOMERS
        for src, dst in conf["column_mapping"].items():
            assert view_cols[src] == customer_cols[dst] == "uuid"
    assert not meta.get("array_relationships") and not meta.get("remote_relationships")


def test_functions_layout():
    """One <schema>_<function>.yaml per tracked function, as the CLI writes them."""
    fdir = hp.METADATA_DIR / "databases/default/functions"
    includes = yaml.safe_load((fdir / "functions.yaml").read_text(encoding="utf-8"))
    assert includes
    for entry in includes:
        assert entry.startswith(hp.INCLUDE_PREFIX)
        fn = hp.load_yaml(fdir / entry[len(hp.INCLUDE_PREFIX):])["function"]
        assert entry == f"{hp.INCLUDE_PREFIX}{fn['schema']}_{fn['name']}.yaml"
    assert hp.source()["functions"], "databases.yaml includes functions.yaml"


def test_merge_is_tracked_as_an_admin_only_mutation(db):
    functions = tracked_functions()
    assert set(functions) == {MERGE}
    meta = functions[MERGE]
    assert meta["configuration"] == {"exposed_as": "mutation"}, "root field = function name, no custom names"
    # Hasura exposes a function tracked as a mutation only to the admin and to roles with an
    # explicit function permission (whatever HASURA_GRAPHQL_INFER_FUNCTION_PERMISSIONS says).
    assert not meta.get("permissions"), "merge_customer_profiles is admin only"


def test_merge_function_is_trackable_by_hasura(db):
    """What Hasura requires of a function it tracks as a mutation."""
    rows = db.execute(
        """
        SELECT p.provolatile, p.proretset, p.prorettype::regtype::text, p.proargnames,
               p.proargmodes, p.proargtypes::regtype[]::text[], p.provariadic::int
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %s AND p.proname = %s
        """,
        MERGE,
    ).fetchall()
    assert len(rows) == 1, "exactly one function of that name (Hasura cannot track overloads)"
    volatile, returns_set, return_type, arg_names, arg_modes, arg_types, variadic = rows[0]
    assert volatile == "v", "exposed_as: mutation is for VOLATILE functions"
    assert returns_set and return_type == "customers", "SETOF a tracked table"
    assert CUSTOMERS in hp.tracked_tables()
    assert arg_modes is None and variadic == 0, "IN arguments only"
    assert arg_names == ["keep", "duplicate"] and arg_types == ["uuid", "uuid"]
    assert all(GRAPHQL_NAME.match(a) for a in arg_names)


def test_new_root_fields_do_not_clash():
    """The admin's root fields: merge_customer_profiles next to the tables' generated ones."""
    generated = set()
    for _, table in hp.tracked_tables():
        generated |= {table, f"{table}_by_pk", f"{table}_aggregate", f"insert_{table}", f"insert_{table}_one",
                      f"update_{table}", f"update_{table}_by_pk", f"update_{table}_many",
                      f"delete_{table}", f"delete_{table}_by_pk"}
    assert "merge_customer_profiles" not in generated
    assert GRAPHQL_NAME.match("merge_customer_profiles")


def test_user_cannot_see_duplicates_or_merge():
    meta = hp.tracked_tables()[DUPLICATES]
    assert "user" not in [p["role"] for p in meta.get("select_permissions", [])]
    assert "user" not in [p["role"] for p in tracked_functions()[MERGE].get("permissions", [])]
    # No inherited role could hand them to `user` either.
    assert not hp.metadata("inherited_roles.yaml")


def test_duplicates_and_merge_are_not_in_any_collection():
    """Admin-only operations stay out of the allow-listed collection and REST endpoints."""
    for (collection, name), document in hp.collection_queries().items():
        assert "customer_duplicates" not in document, (collection, name)
        assert "merge_customer_profiles" not in document, (collection, name)


# ---------------------------------------------------------------------------------------------
# The documented admin calls
# ---------------------------------------------------------------------------------------------

DOCS = {"hasura/README.md": hp.HASURA_DIR / "README.md", "docs/hasura.md": hp.REPO_ROOT / "docs" / "hasura.md"}


def documented_operations(path) -> dict[str, str]:
    """The ```graphql blocks of a document that use the duplicates view or the merge."""
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"```graphql\n(.*?)```", text, re.S)
    return {
        hp.single_operation(parse(b)).name.value: b
        for b in blocks
        if "customer_duplicates" in b or "merge_customer_profiles" in b
    }


def test_both_documents_show_the_same_admin_calls():
    ops = {name: documented_operations(path) for name, path in DOCS.items()}
    assert set(ops["hasura/README.md"]) == {"customerDuplicates", "mergeCustomerProfiles"}
    assert ops["hasura/README.md"] == ops["docs/hasura.md"]


def assert_customer_selection(db, selection_set, where: str):
    meta = customers_meta()
    cols = set(table_columns(db, *CUSTOMERS))
    arrays = {r["name"] for r in meta.get("array_relationships", [])}
    for sel in selection_set.selections:
        name = sel.name.value
        if sel.selection_set is None:
            assert name in cols, f"{where}: customers.{name} is not a column"
        else:
            assert name in arrays, f"{where}: customers.{name} is not a relationship"


def test_documented_duplicates_query_fits_the_view(db):
    op = hp.single_operation(parse(documented_operations(DOCS["hasura/README.md"])["customerDuplicates"]))
    (root,) = op.selection_set.selections
    assert root.name.value == "customer_duplicates"
    view_cols = set(table_columns(db, *DUPLICATES))
    assert {a.name.value for a in root.arguments} <= {"where", "order_by", "limit", "offset", "distinct_on"}
    for entry in argument(root, "order_by", {}) or []:
        assert set(entry) <= view_cols
    rels = {r["name"] for r in hp.tracked_tables()[DUPLICATES]["object_relationships"]}
    for sel in root.selection_set.selections:
        if sel.selection_set is None:
            assert sel.name.value in view_cols
        else:
            assert sel.name.value in rels
            assert_customer_selection(db, sel.selection_set, sel.name.value)


def test_documented_merge_mutation_fits_the_function(db):
    op = hp.single_operation(parse(documented_operations(DOCS["hasura/README.md"])["mergeCustomerProfiles"]))
    assert op.operation.value == "mutation"
    assert {v.variable.name.value: v.type.type.name.value for v in op.variable_definitions} == {
        "keep": "uuid", "duplicate": "uuid",
    }
    (root,) = op.selection_set.selections
    assert root.name.value == "merge_customer_profiles"
    assert [a.name.value for a in root.arguments] == ["args"]
    args = argument(root, "args", {"keep": "k", "duplicate": "d"})
    assert args == {"keep": "k", "duplicate": "d"}
    assert_customer_selection(db, root.selection_set, "merge_customer_profiles")
