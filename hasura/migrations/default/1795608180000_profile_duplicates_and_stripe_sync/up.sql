-- Issue 10: one customer profile per person, linked to Stripe.
--
-- Adds to public.customers the contact columns duplicate detection needs and the ordering guard
-- the server's lifecycle write-back uses, then the pieces Hasura exposes to the admin only:
--   * normalize_email(text), normalize_phone(text): IMMUTABLE, also used by expression indexes;
--   * the view customer_duplicates: one row per pair of profiles that look like one person,
--     with the rule that matched and the normalised value both share (the evidence);
--   * merge_customer_profiles(keep, duplicate): folds a duplicate into the kept profile in one
--     transaction (tracked as a Hasura mutation).
-- The decisions are also written down in hasura/README.md ("Profiles, Stripe sync and
-- duplicates").

-- ---------------------------------------------------------------------------------------------
-- Columns
-- ---------------------------------------------------------------------------------------------

ALTER TABLE public.customers
  -- Free text as the customer typed it; compared through normalize_phone().
  ADD COLUMN phone text,
  -- Postal address. Duplicate detection uses line 1, postal code and country (line 2 and the
  -- city are too often written differently for the same place: "Apt 4" / "#4", "NYC" / "New York").
  ADD COLUMN address_line1 text,
  ADD COLUMN address_line2 text,
  ADD COLUMN city text,
  ADD COLUMN postal_code text,
  -- ISO 3166-1 alpha-2, upper case (Stripe's `address.country` convention).
  ADD COLUMN country text
    CONSTRAINT customers_country_format CHECK (country IS NULL OR country ~ '^[A-Z]{2}$'),
  -- Stripe's `created` time of the newest subscription status event the server applied to
  -- delinquency_date. Stripe delivers events out of order; the server's lifecycle write-back
  -- only applies an event that is not older than this. Written only by the server (role
  -- stripe_lifecycle), never shown to customers.
  ADD COLUMN stripe_status_event_at timestamptz;

COMMENT ON COLUMN public.customers.country IS
  'ISO 3166-1 alpha-2 country code, upper case';
COMMENT ON COLUMN public.customers.stripe_status_event_at IS
  'Stripe created time of the newest subscription status event applied to delinquency_date (ordering guard)';

-- ---------------------------------------------------------------------------------------------
-- Normalisation
-- ---------------------------------------------------------------------------------------------

-- The form two email addresses share when they reach the same mailbox:
--   * lower case, surrounding white space removed (the domain is case-insensitive, and no
--     provider in practice treats the local part's case as significant);
--   * googlemail.com is gmail.com;
--   * Gmail ignores dots in the local part: dots are removed for gmail.com only (other
--     providers, including outlook.com, deliver "j.doe" and "jdoe" to different people);
--   * "+tag" sub-addressing is removed for the providers known to deliver "name+tag@" to
--     "name@": gmail.com, googlemail.com, outlook.com, hotmail.com, live.com, icloud.com,
--     me.com, fastmail.com, protonmail.com, proton.me. Elsewhere "+" may be part of the
--     mailbox name, so it is kept.
-- NULL for NULL or a blank string (so blank emails never match each other). A value without
-- "@" is returned lower-cased and trimmed. The last "@" separates local part and domain.
-- IMMUTABLE: indexed below. Changing this function requires REINDEX of
-- customers_normalized_email_idx (a new migration should drop and recreate the index).
CREATE FUNCTION public.normalize_email(email text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURNS NULL ON NULL INPUT
AS $$
  SELECT CASE
    WHEN e = '' THEN NULL
    WHEN position('@' IN e) = 0 THEN e
    ELSE
      (SELECT CASE
                WHEN dom = 'gmail.com' THEN replace(untagged, '.', '')
                ELSE untagged
              END || '@' || dom
       FROM (SELECT CASE
                      WHEN d IN ('gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com',
                                 'live.com', 'icloud.com', 'me.com', 'fastmail.com',
                                 'protonmail.com', 'proton.me')
                        -- "name+tag" -> "name"; a local part starting with "+" is left alone.
                        THEN regexp_replace(l, '^([^+]+)\+.*$', '\1')
                      ELSE l
                    END AS untagged,
                    CASE WHEN d = 'googlemail.com' THEN 'gmail.com' ELSE d END AS dom
             FROM (SELECT regexp_replace(e, '@[^@]*$', '') AS l,
                          substring(e FROM '@([^@]*)$') AS d) parts) norm)
  END
  FROM (SELECT lower(btrim(email, E' \t\r\n')) AS e) input
$$;

COMMENT ON FUNCTION public.normalize_email(text) IS
  'Email as compared for duplicates: lower case, trimmed; Gmail dots and known providers'' +tags removed';

-- The form two phone numbers share when they are the same number as written:
--   * every character but the digits is dropped (spaces, dashes, dots, brackets, "tel:");
--   * a "+" before the first digit is kept, and a leading "00" (the international call prefix
--     used in most of Europe) becomes "+": "0049 30 123456" = "+49 30 123456";
--   * NULL when fewer than 6 digits remain (extensions, typos, placeholders like "0").
-- A national number ("030 123456") and its international form ("+49 30 123456") are NOT
-- unified: that needs the country's dialling rules, which this function does not guess.
-- IMMUTABLE: indexed below (same REINDEX rule as normalize_email).
CREATE FUNCTION public.normalize_phone(phone text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURNS NULL ON NULL INPUT
AS $$
  SELECT CASE
    WHEN length(national) < 6 THEN NULL
    WHEN international THEN '+' || national
    ELSE national
  END
  FROM (SELECT plus OR digits LIKE '00%' AS international,
               CASE WHEN NOT plus AND digits LIKE '00%' THEN substr(digits, 3) ELSE digits END AS national
        FROM (SELECT regexp_replace(phone, '[^0-9+]', '', 'g') LIKE '+%' AS plus,
                     regexp_replace(phone, '[^0-9]', '', 'g') AS digits) raw) parts
$$;

COMMENT ON FUNCTION public.normalize_phone(text) IS
  'Phone as compared for duplicates: digits only, leading + kept (00 -> +); NULL under 6 digits';

-- Duplicate detection joins customers to itself on these. The indexes serve the admin's
-- typical question, the duplicates of one profile (`where: {sso_id: {_eq: …}}` on the view),
-- and lookups by normalised email or phone, without computing the function for every row.
CREATE INDEX customers_normalized_email_idx ON public.customers (public.normalize_email(email));
CREATE INDEX customers_normalized_phone_idx ON public.customers (public.normalize_phone(phone));

-- ---------------------------------------------------------------------------------------------
-- Duplicates
-- ---------------------------------------------------------------------------------------------

-- One row per pair of profiles that look like the same person, per rule that matched:
--   sso_id < duplicate_sso_id (each pair once; which one to keep is the admin's decision),
--   rule     'email' | 'phone' | 'name_and_address',
--   evidence the normalised value both profiles share:
--            email:            normalize_email(email)            e.g. 'janedoe@gmail.com'
--            phone:            normalize_phone(phone)            e.g. '+4930123456'
--            name_and_address: 'first last|line 1|POSTCODE|CC'   e.g. 'jane doe|1 main st|10115|DE'
-- Rules:
--   email            same normalize_email(email);
--   phone            same normalize_phone(phone);
--   name_and_address same first and last name (case and surrounding/inner white space
--                    ignored, both present), same address line 1 (likewise), same postal code
--                    (case and spaces ignored), and the same country, or the country missing
--                    on either side (an address entered without it is still the address).
-- A pair matching several rules has several rows (more evidence, more confidence).
-- A view rather than a function returning a table: Hasura tracks a view as it is, with
-- where/order_by/limit and aggregates, and a tracked function would need a tracked table or
-- view as its return type anyway. Admin only: Hasura grants no role a select on it.
CREATE VIEW public.customer_duplicates AS
WITH addressed AS (
  -- Name and address keys; rows missing any of them take no part in that rule.
  SELECT sso_id, country, first_key, last_key, line1_key, postal_key
  FROM (SELECT sso_id, country,
               NULLIF(lower(regexp_replace(btrim("firstName"), '\s+', ' ', 'g')), '') AS first_key,
               NULLIF(lower(regexp_replace(btrim("lastName"), '\s+', ' ', 'g')), '') AS last_key,
               NULLIF(lower(regexp_replace(btrim(address_line1), '\s+', ' ', 'g')), '') AS line1_key,
               NULLIF(upper(regexp_replace(postal_code, '\s+', '', 'g')), '') AS postal_key
        FROM public.customers) keys
  WHERE num_nulls(first_key, last_key, line1_key, postal_key) = 0
)
SELECT a.sso_id, b.sso_id AS duplicate_sso_id, 'email'::text AS rule,
       public.normalize_email(a.email) AS evidence
FROM public.customers a
JOIN public.customers b
  ON public.normalize_email(b.email) = public.normalize_email(a.email) AND a.sso_id < b.sso_id
UNION ALL
SELECT a.sso_id, b.sso_id, 'phone', public.normalize_phone(a.phone)
FROM public.customers a
JOIN public.customers b
  ON public.normalize_phone(b.phone) = public.normalize_phone(a.phone) AND a.sso_id < b.sso_id
UNION ALL
SELECT a.sso_id, b.sso_id, 'name_and_address',
       concat_ws('|', a.first_key || ' ' || a.last_key, a.line1_key, a.postal_key,
                 COALESCE(a.country, b.country))
FROM addressed a
JOIN addressed b
  ON a.sso_id < b.sso_id
 AND b.first_key = a.first_key AND b.last_key = a.last_key
 AND b.line1_key = a.line1_key AND b.postal_key = a.postal_key
 AND (a.country IS NULL OR b.country IS NULL OR a.country = b.country);

COMMENT ON VIEW public.customer_duplicates IS
  'Pairs of customer profiles that look like one person, with the matching rule and the shared normalised value';
COMMENT ON COLUMN public.customer_duplicates.rule IS
  'email | phone | name_and_address';
COMMENT ON COLUMN public.customer_duplicates.evidence IS
  'The normalised value both profiles share';

-- ---------------------------------------------------------------------------------------------
-- Merge
-- ---------------------------------------------------------------------------------------------

-- Folds the profile `duplicate` into the profile `keep` and returns the kept profile (one row).
-- Runs in the caller's transaction (Hasura runs each mutation request in one), so either all of
-- it happens or nothing; every refusal is a RAISE EXCEPTION whose message Hasura shows.
--
-- Refuses (nothing changes): a NULL argument; keep = duplicate; a profile that does not exist;
-- both profiles linked to different Stripe customers (two Stripe customers cannot be merged
-- here: their subscriptions, invoices and payment methods live in Stripe).
--
-- What happens to the data:
--   * returns and warranties of the duplicate are moved to keep (ids and values unchanged);
--   * the Stripe link: keep's if it has one; otherwise the duplicate's moves to keep (the
--     duplicate row is deleted before keep is updated, so the UNIQUE constraint on
--     stripe_customer_id never sees the id twice);
--   * filled from the duplicate where keep's value is NULL: "firstName", "lastName", email,
--     phone, temporary_subscription_plan;
--   * the postal address (address_line1, address_line2, city, postal_code, country) as a
--     block: the duplicate's whole address when keep has none of those columns, otherwise
--     keep's (mixing two addresses column by column would make up an address nobody has);
--   * created_at: the earlier of the two (the person has been a customer since then);
--   * "activationDate": the earlier of the two (the same rule the Stripe lifecycle write-back
--     applies); plan_change_date: the later of the two (likewise);
--   * delinquency_date and stripe_status_event_at describe the linked Stripe customer, so they
--     travel with the link: the duplicate's pair when the link comes from the duplicate, keep's
--     (filled from the duplicate where NULL) otherwise;
--   * updated_at: now() (trigger);
--   * the duplicate row is deleted; no child row is left to cascade.
-- Both rows are locked (in sso_id order, so two merges of the same pair cannot deadlock)
-- before anything is read; a return or warranty inserted for the duplicate concurrently waits
-- for the merge and then fails its foreign key instead of being deleted with the duplicate.
-- Keep's new email or name fires the customers_stripe_sync event trigger like any update, so
-- the server brings the Stripe customer in step.
CREATE FUNCTION public.merge_customer_profiles(keep uuid, duplicate uuid)
RETURNS SETOF public.customers
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
  k public.customers;
  d public.customers;
  link_from_duplicate boolean;
  keep_has_address boolean;
BEGIN
  IF keep IS NULL OR duplicate IS NULL THEN
    RAISE EXCEPTION 'merge_customer_profiles: both keep and duplicate must be given';
  END IF;
  IF keep = duplicate THEN
    RAISE EXCEPTION 'merge_customer_profiles: cannot merge profile % into itself', keep
      USING HINT = 'Pass two different profiles: keep is the profile that stays, duplicate is removed.';
  END IF;

  PERFORM 1 FROM public.customers WHERE sso_id IN (keep, duplicate) ORDER BY sso_id FOR UPDATE;

  SELECT * INTO k FROM public.customers WHERE sso_id = keep;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'merge_customer_profiles: profile % (keep) does not exist', keep;
  END IF;
  SELECT * INTO d FROM public.customers WHERE sso_id = duplicate;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'merge_customer_profiles: profile % (duplicate) does not exist', duplicate;
  END IF;

  IF k.stripe_customer_id IS NOT NULL AND d.stripe_customer_id IS NOT NULL
     AND k.stripe_customer_id <> d.stripe_customer_id THEN
    RAISE EXCEPTION 'merge_customer_profiles: profiles % and % are linked to different Stripe customers (% and %); nothing was merged',
      keep, duplicate, k.stripe_customer_id, d.stripe_customer_id
      USING HINT = 'Decide which Stripe customer stays, move or cancel the other one''s subscriptions in Stripe, set that profile''s stripe_customer_id to NULL, then merge again.';
  END IF;

  link_from_duplicate := k.stripe_customer_id IS NULL AND d.stripe_customer_id IS NOT NULL;
  keep_has_address := num_nonnulls(k.address_line1, k.address_line2, k.city, k.postal_code, k.country) > 0;

  UPDATE public.returns SET customer_sso_id = keep WHERE customer_sso_id = duplicate;
  UPDATE public.warranties SET customer_sso_id = keep WHERE customer_sso_id = duplicate;

  -- First: frees the duplicate's stripe_customer_id (UNIQUE) before keep takes it over.
  DELETE FROM public.customers WHERE sso_id = duplicate;

  UPDATE public.customers SET
    "firstName" = COALESCE(k."firstName", d."firstName"),
    "lastName" = COALESCE(k."lastName", d."lastName"),
    email = COALESCE(k.email, d.email),
    phone = COALESCE(k.phone, d.phone),
    address_line1 = CASE WHEN keep_has_address THEN k.address_line1 ELSE d.address_line1 END,
    address_line2 = CASE WHEN keep_has_address THEN k.address_line2 ELSE d.address_line2 END,
    city = CASE WHEN keep_has_address THEN k.city ELSE d.city END,
    postal_code = CASE WHEN keep_has_address THEN k.postal_code ELSE d.postal_code END,
    country = CASE WHEN keep_has_address THEN k.country ELSE d.country END,
    stripe_customer_id = COALESCE(k.stripe_customer_id, d.stripe_customer_id),
    temporary_subscription_plan = COALESCE(k.temporary_subscription_plan, d.temporary_subscription_plan),
    "activationDate" = LEAST(k."activationDate", d."activationDate"),
    plan_change_date = GREATEST(k.plan_change_date, d.plan_change_date),
    delinquency_date = CASE WHEN link_from_duplicate THEN d.delinquency_date
                            ELSE COALESCE(k.delinquency_date, d.delinquency_date) END,
    stripe_status_event_at = CASE WHEN link_from_duplicate THEN d.stripe_status_event_at
                                  ELSE COALESCE(k.stripe_status_event_at, d.stripe_status_event_at) END,
    created_at = LEAST(k.created_at, d.created_at)
  WHERE sso_id = keep;

  RETURN QUERY SELECT * FROM public.customers WHERE sso_id = keep;
END;
$$;

COMMENT ON FUNCTION public.merge_customer_profiles(uuid, uuid) IS
  'Merges profile duplicate into profile keep (children moved, empty columns filled, Stripe link kept) and deletes duplicate';
