"""customers.phone_e164 and duplicate phones compared as numbers (migration 1795608300000),
against a real PostgreSQL server.

The phone_e164 values below are the ones the server computes (src/profile/phone.rs); its unit test
`the_suites_view_examples` asserts the same (phone, country) -> E.164 pairs, so the two cannot
drift apart silently.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

import hasura_project as hp
from conftest import apply_down_from, apply_up_to, run_sql_file, schema_snapshot
from test_profiles_sql import customer_columns, duplicates_among, insert_profile, merge, pair, profile

MIGRATION = "1795608300000_customers_phone_e164"

# (phone, country, phone_e164 as the server sets it); also in src/profile/phone.rs.
US_INTERNATIONAL = ("+1 (415) 555-0101", "US", "+14155550101")
US_NATIONAL = ("415-555-0101", "US", "+14155550101")
UK_207 = ("207 946 0958", "GB", "+442079460958")
US_207 = ("207-946-0958", "US", "+12079460958")
DE_NATIONAL = ("030 1234567", "DE", "+49301234567")
DE_INTERNATIONAL = ("+49 30 1234567", "FR", "+49301234567")
JP_NATIONAL = ("03-1234-5678", "JP", "+81312345678")
IN_MOBILE = ("098765 43210", "IN", "+919876543210")


def profile_with(db, example, **values) -> uuid.UUID:
    phone, country, e164 = example
    return insert_profile(db, phone=phone, country=country, phone_e164=e164, **values)


def phone_rows(db, *ids) -> set[tuple]:
    return {r for r in duplicates_among(db, *ids) if r[2] == "phone"}


# ---------------------------------------------------------------------------------------------
# The migration
# ---------------------------------------------------------------------------------------------


def test_phone_migration_is_the_last_one():
    assert hp.migration_dirs()[-1].name == MIGRATION


def test_column_and_its_check(db):
    assert customer_columns(db)["phone_e164"] == "text"
    for good in ("+14155550101", "+4930123", "+123456789012345", None):
        insert_profile(db, phone_e164=good)


@pytest.mark.parametrize(
    "bad",
    ["14155550101", "+04155550101", "+1 415 555 0101", "+1-4155550101", "+123456", "+1234567890123456", "", "+",
     " +14155550101", "+14155550101 "],
)
def test_check_refuses_what_is_not_e164(db, bad):
    with pytest.raises(psycopg.errors.CheckViolation):
        insert_profile(db, phone_e164=bad)


def test_down_up_with_data(databases):
    """On a scratch database: down.sql restores the catalogue before up.sql exactly (the view,
    the merge function and the index included) with E.164 values in the column, and up.sql
    re-applies; the data of the other columns survives both."""
    url = databases.new()
    with psycopg.connect(url, autocommit=True) as conn:
        d = apply_up_to(conn, MIGRATION)
        before = schema_snapshot(conn)
        run_sql_file(conn, d / "up.sql")
        after = schema_snapshot(conn)
        sso = conn.execute(
            "INSERT INTO public.customers (phone, country, phone_e164) VALUES ('415-555-0101', 'US', '+14155550101') "
            "RETURNING sso_id"
        ).fetchone()[0]
        for _ in range(2):
            run_sql_file(conn, d / "down.sql")
            assert schema_snapshot(conn) == before
            assert conn.execute("SELECT phone, country FROM public.customers WHERE sso_id = %s", (sso,)).fetchone() == (
                "415-555-0101", "US",
            )
            run_sql_file(conn, d / "up.sql")
            assert schema_snapshot(conn) == after
        if url == databases.admin_url:  # not a scratch database: leave it empty
            apply_down_from(conn, MIGRATION)


def test_compared_phone_lookup_uses_its_index(db):
    db.execute("SET LOCAL enable_seqscan = off")
    plan = "\n".join(
        r[0]
        for r in db.execute(
            "EXPLAIN SELECT * FROM public.customers "
            "WHERE COALESCE(phone_e164, public.normalize_phone(phone)) = '+14155550101'"
        ).fetchall()
    )
    assert "customers_compared_phone_idx" in plan
    indexes = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'customers'").fetchall()}
    assert "customers_normalized_phone_idx" not in indexes, "replaced by customers_compared_phone_idx"


# ---------------------------------------------------------------------------------------------
# phone_e164 never outlives the phone and country it was computed from
# ---------------------------------------------------------------------------------------------


def e164_of(db, sso_id):
    return db.execute("SELECT phone_e164 FROM public.customers WHERE sso_id = %s", (sso_id,)).fetchone()[0]


@pytest.mark.parametrize(
    "change",
    ["phone = '415-555-0102'", "phone = NULL", "country = 'CA'", "country = NULL", "phone = 'x', country = 'GB'"],
)
def test_a_new_phone_or_country_resets_phone_e164(db, change):
    sso = profile_with(db, US_NATIONAL)
    db.execute(f"UPDATE public.customers SET {change} WHERE sso_id = %s", (sso,))
    assert e164_of(db, sso) is None


@pytest.mark.parametrize(
    "change",
    [
        "phone = '415-555-0101'",  # the same value
        "country = 'US'",
        "email = 'someone@example.com'",
        "\"firstName\" = 'Sam'",
        "address_line1 = '1 Main St'",
    ],
)
def test_other_updates_keep_phone_e164(db, change):
    sso = profile_with(db, US_NATIONAL)
    db.execute(f"UPDATE public.customers SET {change} WHERE sso_id = %s", (sso,))
    assert e164_of(db, sso) == "+14155550101"


def test_an_update_that_sets_phone_e164_with_the_phone_keeps_it(db):
    sso = profile_with(db, US_NATIONAL)
    db.execute(
        "UPDATE public.customers SET phone = '+44 20 7946 0958', phone_e164 = '+442079460958' WHERE sso_id = %s",
        (sso,),
    )
    assert e164_of(db, sso) == "+442079460958"


def test_the_servers_write_back_is_not_reset(db):
    sso = insert_profile(db, phone="415-555-0101", country="US")
    db.execute("UPDATE public.customers SET phone_e164 = '+14155550101' WHERE sso_id = %s", (sso,))
    assert e164_of(db, sso) == "+14155550101"


# ---------------------------------------------------------------------------------------------
# The view
# ---------------------------------------------------------------------------------------------


def test_two_spellings_of_one_us_number_are_a_phone_duplicate(db):
    a = profile_with(db, US_INTERNATIONAL)
    b = profile_with(db, US_NATIONAL)
    assert phone_rows(db, a, b) == {(*pair(a, b), "phone", "+14155550101")}


def test_they_were_not_before_the_server_normalised_them(db):
    a = insert_profile(db, phone=US_INTERNATIONAL[0], country="US")
    b = insert_profile(db, phone=US_NATIONAL[0], country="US")
    assert phone_rows(db, a, b) == set()


def test_a_uk_and_a_us_number_with_the_same_digits_are_not_duplicates(db):
    a = profile_with(db, UK_207)
    b = profile_with(db, US_207)
    assert phone_rows(db, a, b) == set()
    # Digits only, as before E.164, they were.
    assert db.execute("SELECT public.normalize_phone(%s) = public.normalize_phone(%s)", (UK_207[0], US_207[0])).fetchone()[0]


def test_the_same_number_written_from_two_countries_is_a_duplicate(db):
    a = profile_with(db, DE_NATIONAL)
    b = profile_with(db, DE_INTERNATIONAL)  # a +49 number on a French profile stays +49
    assert phone_rows(db, a, b) == {(*pair(a, b), "phone", "+49301234567")}


def test_profiles_from_several_countries(db):
    ids = [profile_with(db, ex) for ex in (US_NATIONAL, UK_207, US_207, DE_NATIONAL, JP_NATIONAL, IN_MOBILE)]
    assert phone_rows(db, *ids) == set()
    twins = [profile_with(db, ex) for ex in (JP_NATIONAL, IN_MOBILE)]
    assert phone_rows(db, *ids, *twins) == {
        (*pair(ids[4], twins[0]), "phone", "+81312345678"),
        (*pair(ids[5], twins[1]), "phone", "+919876543210"),
    }


def test_a_row_without_phone_e164_falls_back_to_normalize_phone(db):
    # Normalised and not yet normalised: equal when the unnormalised one was written with +.
    a = profile_with(db, US_NATIONAL)
    b = insert_profile(db, phone="+1 415 555 0101", country="US")
    c = insert_profile(db, phone="415 555 0101", country="US")  # national: not unified yet
    assert phone_rows(db, a, b, c) == {(*pair(a, b), "phone", "+14155550101")}
    # Neither normalised: as before E.164, with normalize_phone's value as the evidence.
    d = insert_profile(db, phone="(415) 555-0101", country="US")
    assert phone_rows(db, c, d) == {(*pair(c, d), "phone", "4155550101")}


def test_a_stale_phone_e164_is_never_compared(db):
    """The profile's phone changed and the server has not recomputed it yet: the row compares
    by its new phone (normalize_phone), not by the E.164 of the old one."""
    a = profile_with(db, US_NATIONAL)
    b = profile_with(db, US_INTERNATIONAL)
    db.execute("UPDATE public.customers SET phone = '+49 30 1234567' WHERE sso_id = %s", (b,))
    c = profile_with(db, DE_NATIONAL)
    assert phone_rows(db, a, b, c) == {(*pair(b, c), "phone", "+49301234567")}


# ---------------------------------------------------------------------------------------------
# The merge
# ---------------------------------------------------------------------------------------------


def test_merge_takes_phone_e164_with_the_duplicates_phone(db):
    keep = insert_profile(db, email="k@example.com")
    duplicate = profile_with(db, UK_207)
    (k,) = merge(db, keep, duplicate)
    assert (k["phone"], k["phone_e164"], k["country"]) == ("207 946 0958", "+442079460958", "GB")
    assert profile(db, keep) == k


def test_merge_keeps_the_kept_profiles_phone_and_its_e164(db):
    keep = profile_with(db, US_NATIONAL, address_line1="1 Main St")
    duplicate = profile_with(db, JP_NATIONAL)
    (k,) = merge(db, keep, duplicate)
    assert (k["phone"], k["phone_e164"], k["country"]) == ("415-555-0101", "+14155550101", "US")


def test_merge_never_pairs_one_phone_with_the_others_e164(db):
    # keep's phone is not normalised yet: it keeps NULL rather than the duplicate's number.
    keep = insert_profile(db, phone="415-555-0101", country="US", address_line1="1 Main St")
    duplicate = profile_with(db, JP_NATIONAL)
    (k,) = merge(db, keep, duplicate)
    assert (k["phone"], k["phone_e164"]) == ("415-555-0101", None)


def test_merge_that_changes_the_country_resets_the_kept_phone_e164(db):
    """keep has a phone but no address: it takes the duplicate's address, country included, so
    its E.164 (computed with no or another country) is recomputed by the server (the merge's
    update of phone/country fires customers_stripe_sync)."""
    keep = insert_profile(db, phone="020 7946 0958", phone_e164="+442079460958")  # via PHONE_DEFAULT_REGION=GB
    duplicate = insert_profile(db, address_line1="1 Main St", postal_code="10115", country="DE")
    (k,) = merge(db, keep, duplicate)
    assert (k["phone"], k["country"], k["phone_e164"]) == ("020 7946 0958", "DE", None)


def test_merged_phone_duplicates_leave_the_view(db):
    a = profile_with(db, US_INTERNATIONAL)
    b = profile_with(db, US_NATIONAL)
    assert phone_rows(db, a, b)
    merge(db, a, b)
    assert duplicates_among(db, a, b) == set()
