"""Issue 10 in the database: profile columns, normalisation, the customer_duplicates view and
merge_customer_profiles, against a real PostgreSQL server (migration 1795608180000)."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

import hasura_project as hp
from conftest import apply_down_from, apply_up, run_sql_file, schema_snapshot

MIGRATION = "1795608180000_profile_duplicates_and_stripe_sync"
NEW_COLUMNS = {
    "phone": "text",
    "address_line1": "text",
    "address_line2": "text",
    "city": "text",
    "postal_code": "text",
    "country": "text",
    "stripe_status_event_at": "timestamp with time zone",
}
# Columns merge_customer_profiles leaves alone on purpose: the kept profile's key, and the
# trigger-maintained timestamp.
MERGE_UNTOUCHED = {"sso_id", "updated_at"}


def migration_dir():
    (d,) = [d for d in hp.migration_dirs() if d.name == MIGRATION]
    return d


def customer_columns(conn) -> dict[str, str]:
    return dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'customers'"
        ).fetchall()
    )


def insert_profile(db, **values) -> uuid.UUID:
    """Inserts a profile; keys are column names (camelCase ones quoted automatically)."""
    values.setdefault("sso_id", uuid.uuid4())
    cols = ", ".join(f'"{c}"' for c in values)
    marks = ", ".join(["%s"] * len(values))
    db.execute(f"INSERT INTO public.customers ({cols}) VALUES ({marks})", list(values.values()))
    return values["sso_id"]


# ---------------------------------------------------------------------------------------------
# The migration
# ---------------------------------------------------------------------------------------------


def test_profile_migration_is_followed_only_by_the_ones_building_on_it():
    names = [d.name for d in hp.migration_dirs()]
    assert names[names.index(MIGRATION) + 1:] == [
        "1795608240000_merge_refusals_as_data_exceptions",
        "1795608300000_customers_phone_e164",
    ]


def test_profile_migration_adds_the_contract_columns(db):
    cols = customer_columns(db)
    for name, kind in NEW_COLUMNS.items():
        assert cols.get(name) == kind, f"customers.{name}"


def test_profile_migration_down_up_down_up(databases):
    """On a scratch database: the migration's down.sql removes exactly what its up.sql added
    (catalogue and columns), and up.sql applies again on the rolled-back database."""
    url = databases.new()
    d = migration_dir()
    with psycopg.connect(url, autocommit=True) as conn:
        for other in hp.migration_dirs():
            if other == d:
                break
            run_sql_file(conn, other / "up.sql")
        before = (schema_snapshot(conn), customer_columns(conn))
        run_sql_file(conn, d / "up.sql")
        after = (schema_snapshot(conn), customer_columns(conn))
        assert set(after[1]) - set(before[1]) == set(NEW_COLUMNS)
        for _ in range(2):
            run_sql_file(conn, d / "down.sql")
            assert (schema_snapshot(conn), customer_columns(conn)) == before
            run_sql_file(conn, d / "up.sql")
            assert (schema_snapshot(conn), customer_columns(conn)) == after
        # A down.sql must also work on a database holding data the migration's objects use.
        conn.execute(
            "INSERT INTO public.customers (email, phone, country) VALUES ('a@gmail.com', '+49 30 123456', 'DE')"
        )
        run_sql_file(conn, d / "down.sql")
        assert customer_columns(conn) == before[1]
        run_sql_file(conn, d / "up.sql")
        if url == databases.admin_url:  # not a scratch database: leave it empty
            apply_down_from(conn, MIGRATION)


def test_profile_migration_objects(db):
    functions = {
        r[0]: r[1]
        for r in db.execute(
            "SELECT p.proname, p.provolatile FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.proname IN ('normalize_email', 'normalize_phone', 'merge_customer_profiles')"
        ).fetchall()
    }
    assert functions == {"normalize_email": "i", "normalize_phone": "i", "merge_customer_profiles": "v"}
    kind = db.execute("SELECT relkind FROM pg_class WHERE oid = 'public.customer_duplicates'::regclass").fetchone()
    assert kind == ("v",)
    indexdefs = " ".join(
        r[0] for r in db.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'customers'").fetchall()
    )
    assert "normalize_email(email)" in indexdefs and "normalize_phone(phone)" in indexdefs


@pytest.mark.parametrize("bad", ["de", "DEU", "D", "1A", " DE", ""])
def test_country_must_be_two_upper_case_letters(db, bad):
    with pytest.raises(psycopg.errors.CheckViolation):
        insert_profile(db, country=bad)


def test_country_accepts_an_iso_code_or_nothing(db):
    insert_profile(db, country="DE")
    insert_profile(db, country=None)


def test_normalized_email_lookup_uses_its_index(db):
    db.execute("SET LOCAL enable_seqscan = off")
    plan = "\n".join(
        r[0]
        for r in db.execute(
            "EXPLAIN SELECT * FROM public.customers WHERE public.normalize_email(email) = 'avamartinez@gmail.com'"
        ).fetchall()
    )
    assert "customers_normalized_email_idx" in plan


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,expected",
    [
        # Gmail: dots and +tags go, googlemail.com is gmail.com.
        ("John.Doe+news@Gmail.com", "johndoe@gmail.com"),
        ("j.o.h.n.d.o.e@gmail.com", "johndoe@gmail.com"),
        ("John.Doe@googlemail.com", "johndoe@gmail.com"),
        ("john.doe+a+b@googlemail.com", "johndoe@gmail.com"),
        # Providers with +tags but meaningful dots.
        ("Jane.Doe+shop@outlook.com", "jane.doe@outlook.com"),
        ("jane.doe+x@hotmail.com", "jane.doe@hotmail.com"),
        ("jane+x@live.com", "jane@live.com"),
        ("jane+x@icloud.com", "jane@icloud.com"),
        ("jane+x@me.com", "jane@me.com"),
        ("jane+x@fastmail.com", "jane@fastmail.com"),
        ("jane+x@protonmail.com", "jane@protonmail.com"),
        ("jane.doe+x@proton.me", "jane.doe@proton.me"),
        # Other domains keep dots and +tags.
        ("jane.doe+tag@example.com", "jane.doe+tag@example.com"),
        ("jane.doe@gmail.com.example.org", "jane.doe@gmail.com.example.org"),
        ("jane+x@outlook.de", "jane+x@outlook.de"),
        # Case and white space.
        ("  JANE@EXAMPLE.COM ", "jane@example.com"),
        ("\tjane@example.com\r\n", "jane@example.com"),
        # A local part that is only a tag is left alone.
        ("+tag@gmail.com", "+tag@gmail.com"),
        # Not an address: lower-cased and trimmed, nothing else.
        (" No-Email ", "no-email"),
        # Nothing to compare.
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalize_email(db, raw, expected):
    assert db.execute("SELECT public.normalize_email(%s)", (raw,)).fetchone()[0] == expected


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("+49 30 1234567", "+49301234567"),
        ("+49 (0)30 123-45-67", "+490301234567"),
        ("0049 30 1234567", "+49301234567"),
        ("0049-30-1234567", "+49301234567"),
        ("tel:+1-555-123-4567", "+15551234567"),
        ("(555) 123-4567", "5551234567"),
        ("555.123.4567", "5551234567"),
        ("030 1234567", "0301234567"),
        (" 123456 ", "123456"),
        ("12345", None),
        ("+1 234", None),
        ("00 12345", None),
        ("n/a", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_phone(db, raw, expected):
    assert db.execute("SELECT public.normalize_phone(%s)", (raw,)).fetchone()[0] == expected


def test_international_and_00_forms_of_a_number_are_equal(db):
    a, b = db.execute(
        "SELECT public.normalize_phone('+44 20 7946 0958'), public.normalize_phone('0044 (20) 7946-0958')"
    ).fetchone()
    assert a == b == "+442079460958"


# ---------------------------------------------------------------------------------------------
# Duplicate detection
# ---------------------------------------------------------------------------------------------


def duplicates_among(db, *ids) -> set[tuple]:
    """(sso_id, duplicate_sso_id, rule, evidence) rows of the view between the given profiles."""
    rows = db.execute(
        "SELECT sso_id, duplicate_sso_id, rule, evidence FROM public.customer_duplicates "
        "WHERE sso_id = ANY(%s) OR duplicate_sso_id = ANY(%s)",
        (list(ids), list(ids)),
    ).fetchall()
    return set(rows)


def pair(a, b):
    return (min(a, b), max(a, b))


def test_seeded_profiles_have_no_duplicates(db):
    assert db.execute("SELECT count(*) FROM public.customer_duplicates").fetchone()[0] == 0


def test_view_columns(db):
    cols = db.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = 'customer_duplicates' ORDER BY ordinal_position"
    ).fetchall()
    assert cols == [("sso_id", "uuid"), ("duplicate_sso_id", "uuid"), ("rule", "text"), ("evidence", "text")]


def test_same_gmail_mailbox_is_an_email_duplicate(db):
    a = insert_profile(db, email="John.Doe@gmail.com")
    b = insert_profile(db, email=" johndoe+shop@googlemail.com")
    assert duplicates_among(db, a, b) == {(*pair(a, b), "email", "johndoe@gmail.com")}


def test_dots_matter_outside_gmail(db):
    a = insert_profile(db, email="jane.doe@example.com")
    b = insert_profile(db, email="janedoe@example.com")
    c = insert_profile(db, email="jane.doe+x@example.com")
    assert duplicates_among(db, a, b, c) == set()


def test_outlook_tag_is_an_email_duplicate(db):
    a = insert_profile(db, email="Jane.Doe+News@Outlook.com")
    b = insert_profile(db, email="jane.doe@outlook.com")
    assert duplicates_among(db, a, b) == {(*pair(a, b), "email", "jane.doe@outlook.com")}


def test_three_profiles_with_one_email_are_three_pairs(db):
    ids = [insert_profile(db, email=e) for e in ("x@example.com", "X@example.com ", "x@EXAMPLE.com")]
    rows = duplicates_among(db, *ids)
    assert {(r[0], r[1]) for r in rows} == {pair(ids[0], ids[1]), pair(ids[0], ids[2]), pair(ids[1], ids[2])}
    assert {(r[2], r[3]) for r in rows} == {("email", "x@example.com")}


def test_missing_or_blank_emails_never_match(db):
    ids = [insert_profile(db, email=e) for e in (None, None, "", "  ")]
    assert duplicates_among(db, *ids) == set()


def test_same_phone_in_different_formats_is_a_phone_duplicate(db):
    a = insert_profile(db, phone="+49 30 1234567")
    b = insert_profile(db, phone="0049 (30) 123-4567")
    c = insert_profile(db, phone="030 1234567")  # national form: not unified
    assert duplicates_among(db, a, b, c) == {(*pair(a, b), "phone", "+49301234567")}


def test_short_phones_never_match(db):
    a = insert_profile(db, phone="123")
    b = insert_profile(db, phone="123")
    assert duplicates_among(db, a, b) == set()


def test_same_name_and_address_is_a_duplicate(db):
    a = insert_profile(
        db, firstName="Jane", lastName="Doe", address_line1="1 Main  St", postal_code="sw1a 1aa", country="GB",
        city="London",
    )
    b = insert_profile(
        db, firstName=" jane ", lastName="DOE", address_line1="1 main st", postal_code="SW1A1AA", country=None,
        city="Westminster", address_line2="Flat 2",
    )
    assert duplicates_among(db, a, b) == {(*pair(a, b), "name_and_address", "jane doe|1 main st|SW1A1AA|GB")}


@pytest.mark.parametrize(
    "change",
    [
        {"country": "IE"},  # another country
        {"postal_code": "SW1A 2AA"},
        {"address_line1": "2 Main St"},
        {"firstName": "John"},
        {"lastName": None},  # a missing name matches nothing
        {"postal_code": None},
    ],
)
def test_name_and_address_needs_every_part(db, change):
    base = dict(firstName="Jane", lastName="Doe", address_line1="1 Main St", postal_code="SW1A 1AA", country="GB")
    a = insert_profile(db, **base)
    b = insert_profile(db, **{**base, **change})
    assert duplicates_among(db, a, b) == set()


def test_a_pair_matching_several_rules_has_one_row_per_rule(db):
    common = dict(
        email="ann@example.com", phone="+1 555 123 4567", firstName="Ann", lastName="Lee",
        address_line1="5 Elm St", postal_code="02139", country="US",
    )
    a = insert_profile(db, **common)
    b = insert_profile(db, **common)
    assert duplicates_among(db, a, b) == {
        (*pair(a, b), "email", "ann@example.com"),
        (*pair(a, b), "phone", "+15551234567"),
        (*pair(a, b), "name_and_address", "ann lee|5 elm st|02139|US"),
    }


def test_a_seeded_profile_and_its_new_duplicate(db):
    ava = uuid.UUID("6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60")
    dup = insert_profile(db, email="AVA.MARTINEZ@example.com")
    assert duplicates_among(db, ava, dup) == {(*pair(ava, dup), "email", "ava.martinez@example.com")}


# ---------------------------------------------------------------------------------------------
# Merge
# ---------------------------------------------------------------------------------------------


def all_rows(db, table: str) -> list[tuple]:
    return db.execute(f"SELECT * FROM public.{table} ORDER BY 1").fetchall()


def database_state(db) -> dict[str, list[tuple]]:
    return {t: all_rows(db, t) for t in ("customers", "returns", "warranties")}


def profile(db, sso_id) -> dict | None:
    cur = db.execute("SELECT * FROM public.customers WHERE sso_id = %s", (sso_id,))
    row = cur.fetchone()
    return None if row is None else dict(zip([c.name for c in cur.description], row))


def merge(db, keep, duplicate) -> list[dict]:
    cur = db.execute(
        "SELECT * FROM public.merge_customer_profiles(keep => %s, duplicate => %s)", (keep, duplicate)
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def add_child(db, table, sso_id, **values) -> uuid.UUID:
    values = {"id": uuid.uuid4(), "customer_sso_id": sso_id, **values}
    cols = ", ".join(values)
    db.execute(
        f"INSERT INTO public.{table} ({cols}) VALUES ({', '.join(['%s'] * len(values))})", list(values.values())
    )
    return values["id"]


@pytest.fixture
def pair_to_merge(db):
    """keep: sparse, unlinked, one return. duplicate: full, linked to Stripe, two returns and
    two warranty claims (one without an amount)."""
    keep = insert_profile(
        db, firstName="Jane", email="jane@example.com",
        activationDate="2025-03-01 00:00+00", plan_change_date="2025-01-01 00:00+00",
        delinquency_date="2024-01-01 00:00+00",  # stale: keep has no Stripe customer
        created_at="2024-06-01 00:00+00",
    )
    duplicate = insert_profile(
        db, firstName="J.", lastName="Doe", email="jane.doe@example.com", phone="+49 30 1234567",
        address_line1="1 Main St", address_line2="Flat 2", city="Berlin", postal_code="10115", country="DE",
        stripe_customer_id="cus_JaneDoe", temporary_subscription_plan="basic-monthly",
        activationDate="2025-01-01 00:00+00", plan_change_date="2025-06-01 00:00+00",
        delinquency_date=None, stripe_status_event_at="2026-01-01 00:00+00",
        created_at="2023-01-01 00:00+00",
    )
    add_child(db, "returns", keep, amount=100, condition="new", description="kept's own")
    add_child(db, "returns", duplicate, amount=4999, condition="used", issue="Broken", reason_category="defect",
              created_date="2026-01-02 00:00+00", refunded_date="2026-01-05 00:00+00", action_needed=True)
    add_child(db, "returns", duplicate, amount=0, description="free sample")
    add_child(db, "warranties", duplicate, amount=None, condition="used", description="repaired")
    add_child(db, "warranties", duplicate, amount=3500, issue="Hinge snapped")
    return keep, duplicate


def test_merge_keeps_every_child_row(db, pair_to_merge):
    keep, duplicate = pair_to_merge
    before = database_state(db)
    merge(db, keep, duplicate)
    after = database_state(db)
    for table in ("returns", "warranties"):
        assert len(after[table]) == len(before[table]), f"{table}: row count changed"
        # Every row is still there with the same values; only the duplicate's now belong to keep.
        expected = [
            tuple(keep if (i == 1 and v == duplicate) else v for i, v in enumerate(row)) for row in before[table]
        ]
        assert after[table] == expected, table
    assert db.execute(
        "SELECT count(*) FROM public.returns WHERE customer_sso_id = %s", (keep,)
    ).fetchone()[0] == 3
    assert db.execute(
        "SELECT count(*) FROM public.warranties WHERE customer_sso_id = %s", (keep,)
    ).fetchone()[0] == 2


def test_merge_removes_only_the_duplicate(db, pair_to_merge):
    keep, duplicate = pair_to_merge
    before = {r[0]: r for r in all_rows(db, "customers")}
    merge(db, keep, duplicate)
    after = {r[0]: r for r in all_rows(db, "customers")}
    assert set(after) == set(before) - {duplicate}
    for sso_id in set(after) - {keep}:
        assert after[sso_id] == before[sso_id], "another profile changed"


def test_merge_fills_the_kept_profiles_empty_columns(db, pair_to_merge):
    keep, duplicate = pair_to_merge
    k_before = profile(db, keep)
    (returned,) = merge(db, keep, duplicate)
    k = profile(db, keep)
    assert returned == k, "the mutation returns the kept profile"
    assert profile(db, duplicate) is None
    # keep's own values win.
    assert k["firstName"] == "Jane" and k["email"] == "jane@example.com"
    # NULLs filled from the duplicate.
    assert k["lastName"] == "Doe" and k["phone"] == "+49 30 1234567"
    assert k["temporary_subscription_plan"] == "basic-monthly"
    # keep had no address: the duplicate's whole address.
    assert (k["address_line1"], k["address_line2"], k["city"], k["postal_code"], k["country"]) == (
        "1 Main St", "Flat 2", "Berlin", "10115", "DE",
    )
    # The Stripe link moves from the duplicate, with the status pair that belongs to it.
    assert k["stripe_customer_id"] == "cus_JaneDoe"
    assert k["delinquency_date"] is None
    assert k["stripe_status_event_at"].isoformat().startswith("2026-01-01")
    # Earliest activation, latest plan change, earliest creation.
    assert k["activationDate"].isoformat().startswith("2025-01-01")
    assert k["plan_change_date"].isoformat().startswith("2025-06-01")
    assert k["created_at"].isoformat().startswith("2023-01-01")
    assert k["sso_id"] == keep
    assert k["updated_at"] >= k_before["updated_at"]


def test_merge_keeps_the_kept_profiles_stripe_link(db):
    keep = insert_profile(db, stripe_customer_id="cus_Kept", delinquency_date=None,
                          stripe_status_event_at="2026-02-01 00:00+00")
    duplicate = insert_profile(db, email="d@example.com", delinquency_date="2025-01-01 00:00+00")
    (k,) = merge(db, keep, duplicate)
    assert k["stripe_customer_id"] == "cus_Kept"
    assert k["email"] == "d@example.com"
    # Not moving the link: keep's values, filled where NULL.
    assert k["delinquency_date"].isoformat().startswith("2025-01-01")
    assert k["stripe_status_event_at"].isoformat().startswith("2026-02-01")


def test_merge_of_two_unlinked_profiles_stays_unlinked(db):
    keep = insert_profile(db, email="k@example.com")
    duplicate = insert_profile(db, phone="+1 555 000 1111")
    (k,) = merge(db, keep, duplicate)
    assert k["stripe_customer_id"] is None and k["phone"] == "+1 555 000 1111"


def test_merge_does_not_mix_two_addresses(db):
    keep = insert_profile(db, city="Paris")
    duplicate = insert_profile(db, address_line1="1 Main St", city="Berlin", postal_code="10115", country="DE")
    (k,) = merge(db, keep, duplicate)
    assert (k["address_line1"], k["city"], k["postal_code"], k["country"]) == (None, "Paris", None, None)


def test_merge_handles_every_customer_column(db):
    """A migration adding a column to customers must decide how a merge treats it."""
    body = db.execute(
        "SELECT prosrc FROM pg_proc WHERE proname = 'merge_customer_profiles'"
    ).fetchone()[0]
    start = body.index("UPDATE public.customers SET")
    set_clause = body[start:body.index("WHERE sso_id = keep;", start)]
    for column in set(customer_columns(db)) - MERGE_UNTOUCHED:
        quoted = f'"{column}"' if column != column.lower() else column
        assert f"{quoted} = " in set_clause, f"merge_customer_profiles does not set customers.{column}"


def assert_refused(db, keep, duplicate, sqlstate: str, message: str):
    """The merge refuses with SQLSTATE `sqlstate` (class 22, so Hasura shows the message: see
    migration 1795608240000) and exactly `message`, and changes nothing."""
    before = database_state(db)
    with pytest.raises(psycopg.errors.DataError) as err:
        with db.transaction():
            merge(db, keep, duplicate)
    assert err.value.sqlstate == err.value.diag.sqlstate == sqlstate
    assert sqlstate.startswith("22"), "Hasura shows a mutation's own message only for class 22 and 23"
    assert err.value.diag.message_primary == message
    assert database_state(db) == before, "a refused merge changed the database"
    return err.value


def test_merge_refuses_two_different_stripe_customers(db):
    keep = insert_profile(db, stripe_customer_id="cus_One", email="a@example.com")
    duplicate = insert_profile(db, stripe_customer_id="cus_Two", email="a@example.com")
    add_child(db, "returns", duplicate, amount=1)
    err = assert_refused(
        db, keep, duplicate, "22023",
        f"merge_customer_profiles: profiles {keep} and {duplicate} are linked to different Stripe "
        "customers (cus_One and cus_Two); nothing was merged. Decide which Stripe customer stays, "
        "move or cancel the other one's subscriptions in Stripe, set that profile's "
        "stripe_customer_id to NULL, then merge again",
    )
    assert err.diag.message_hint and "Stripe" in err.diag.message_hint


def test_merge_refuses_a_profile_into_itself(db):
    ava = uuid.UUID("6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60")
    assert_refused(
        db, ava, ava, "22023",
        f"merge_customer_profiles: cannot merge profile {ava} into itself (keep and duplicate are "
        "the same profile); nothing was merged",
    )


@pytest.mark.parametrize("missing", ["keep", "duplicate"])
def test_merge_refuses_a_missing_profile(db, missing):
    ava = uuid.UUID("6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60")
    ghost = uuid.uuid4()
    keep, duplicate = (ghost, ava) if missing == "keep" else (ava, ghost)
    assert_refused(
        db, keep, duplicate, "22023",
        f"merge_customer_profiles: profile {ghost} ({missing}) does not exist; nothing was merged",
    )


@pytest.mark.parametrize(
    "keep,duplicate,which",
    [
        ("ava", None, "duplicate is"),
        (None, "ava", "keep is"),
        (None, None, "keep and duplicate are"),
    ],
)
def test_merge_refuses_a_null_argument(db, keep, duplicate, which):
    ava = uuid.UUID("6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60")
    assert_refused(
        db, ava if keep else None, ava if duplicate else None, "22004",
        f"merge_customer_profiles: both keep and duplicate must be given ({which} NULL); nothing was merged",
    )


def test_merged_pair_leaves_the_duplicates_view(db):
    a = insert_profile(db, email="Sam@gmail.com")
    b = insert_profile(db, email="s.a.m@gmail.com")
    assert duplicates_among(db, a, b)
    merge(db, a, b)
    assert duplicates_among(db, a, b) == set()


def test_a_return_added_to_the_duplicate_during_a_merge_is_refused_not_lost(databases):
    """The merge locks both profiles: a concurrent insert for the duplicate waits, then fails
    its foreign key once the duplicate is gone (instead of being cascaded away unseen)."""
    url = databases.new()
    if url == databases.admin_url:
        pytest.skip("needs a scratch database (commits)")
    with psycopg.connect(url, autocommit=True) as setup:
        apply_up(setup)
        keep, duplicate = uuid.uuid4(), uuid.uuid4()
        setup.execute("INSERT INTO public.customers (sso_id) VALUES (%s), (%s)", (keep, duplicate))

    outcome: dict[str, object] = {}
    with psycopg.connect(url) as merger, psycopg.connect(url, autocommit=True) as writer:
        merge(merger, keep, duplicate)  # transaction open, rows locked
        writer_pid = writer.info.backend_pid

        def insert_return():
            try:
                writer.execute(
                    "INSERT INTO public.returns (customer_sso_id, amount) VALUES (%s, 1)", (duplicate,)
                )
                outcome["result"] = "inserted"
            except psycopg.Error as e:  # noqa: BLE001 - the outcome is asserted below
                outcome["result"] = e

        t = threading.Thread(target=insert_return)
        t.start()
        # Wait (bounded) until the insert is blocked on the merge's lock, then commit the merge.
        with psycopg.connect(url, autocommit=True) as watcher:
            deadline = time.monotonic() + 10
            while True:
                waiting = watcher.execute(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (writer_pid,)
                ).fetchone()
                if waiting and waiting[0]:
                    break
                assert t.is_alive(), f"the insert did not wait for the merge: {outcome}"
                assert time.monotonic() < deadline, "the insert never blocked on the merge"
                time.sleep(0.02)
        merger.commit()
        t.join(timeout=10)
        assert not t.is_alive()
    assert isinstance(outcome["result"], psycopg.errors.ForeignKeyViolation), outcome
    with psycopg.connect(url) as check:
        assert check.execute("SELECT count(*) FROM public.returns").fetchone()[0] == 0
        assert check.execute("SELECT count(*) FROM public.customers").fetchone()[0] == 1
