-- Phones compared as numbers: customers.phone_e164, the number in E.164 ("+14155550101") as
-- the server computes it under libphonenumber's rules (src/profile/phone.rs) from the profile's phone
-- and country, and the customer_duplicates view comparing it.
--
--   * phone_e164 text, NULL until the server has computed it, and NULL for a phone that is
--     not a valid number. CHECKed to be E.164-shaped: "+", a country code (never starting with
--     0), at most 15 digits in all. The server writes it through Hasura as the role
--     stripe_phone, from the customers_stripe_sync event trigger (insert, and update of phone
--     or country); writing it does not fire the trigger (phone_e164 is not a watched column).
--   * A BEFORE UPDATE trigger resets phone_e164 to NULL when phone or country change in an
--     update that does not set phone_e164 itself, so the column never describes a previous
--     phone: until the server has written the new value, the row compares as before E.164.
--   * customer_duplicates' phone rule compares COALESCE(phone_e164, normalize_phone(phone)):
--     rows the server has not normalised (rows older than this migration, rows whose phone
--     changed a moment ago, numbers libphonenumber does not call valid) compare as they did.
--     The evidence is the compared value.
--   * The index customers_compared_phone_idx on that expression replaces
--     customers_normalized_phone_idx (normalize_phone(phone)), which nothing compares any more.
--   * merge_customer_profiles carries phone_e164 with phone: the kept profile's pair, or the
--     duplicate's pair when the kept profile has no phone.
-- Rows that exist before this migration get phone_e164 when their phone or country next
-- changes, or when an admin invokes the customers_stripe_sync trigger on them
-- (hasura/README.md, "Profiles, Stripe sync and duplicates").

ALTER TABLE public.customers
  ADD COLUMN phone_e164 text
    CONSTRAINT customers_phone_e164_format CHECK (phone_e164 IS NULL OR phone_e164 ~ '^\+[1-9][0-9]{6,14}$');

COMMENT ON COLUMN public.customers.phone_e164 IS
  'phone in E.164 (libphonenumber rules, region from country), written by the server; NULL until computed or when not a valid number';

DROP INDEX public.customers_normalized_phone_idx;
-- The view's phone comparison, so the duplicates of one profile and a lookup by number
-- (`COALESCE(phone_e164, normalize_phone(phone)) = '+14155550101'`) use an index.
CREATE INDEX customers_compared_phone_idx
  ON public.customers ((COALESCE(phone_e164, public.normalize_phone(phone))));

-- phone_e164 never outlives the phone and country it was computed from.
CREATE FUNCTION public.reset_customers_phone_e164()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF (NEW.phone IS DISTINCT FROM OLD.phone OR NEW.country IS DISTINCT FROM OLD.country)
     AND NEW.phone_e164 IS NOT DISTINCT FROM OLD.phone_e164 THEN
    NEW.phone_e164 := NULL;
  END IF;
  RETURN NEW;
END;
$$;

COMMENT ON FUNCTION public.reset_customers_phone_e164() IS
  'Resets customers.phone_e164 when phone or country change without it (the server recomputes it)';

CREATE TRIGGER customers_phone_e164_reset
  BEFORE UPDATE OF phone, country ON public.customers
  FOR EACH ROW
  EXECUTE FUNCTION public.reset_customers_phone_e164();

-- The view as migration 1795608180000 created it, but for the phone rule. Same columns, so
-- CREATE OR REPLACE keeps Hasura's tracking and the comments.
CREATE OR REPLACE VIEW public.customer_duplicates AS
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
SELECT a.sso_id, b.sso_id, 'phone', COALESCE(a.phone_e164, public.normalize_phone(a.phone))
FROM public.customers a
JOIN public.customers b
  ON COALESCE(b.phone_e164, public.normalize_phone(b.phone)) = COALESCE(a.phone_e164, public.normalize_phone(a.phone))
 AND a.sso_id < b.sso_id
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

COMMENT ON COLUMN public.customer_duplicates.evidence IS
  'The normalised value both profiles share (phone: phone_e164, else normalize_phone(phone))';

-- merge_customer_profiles as migration 1795608240000 left it, plus phone_e164 (which travels
-- with phone: a kept profile that takes the duplicate's phone takes its phone_e164 too).
CREATE OR REPLACE FUNCTION public.merge_customer_profiles(keep uuid, duplicate uuid)
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
  -- Every refusal: SQLSTATE class 22, so Hasura shows the message (migration 1795608240000).
  IF keep IS NULL OR duplicate IS NULL THEN
    RAISE EXCEPTION 'merge_customer_profiles: both keep and duplicate must be given (% NULL); nothing was merged',
      CASE WHEN keep IS NULL AND duplicate IS NULL THEN 'keep and duplicate are'
           WHEN keep IS NULL THEN 'keep is'
           ELSE 'duplicate is' END
      USING ERRCODE = '22004';  -- null_value_not_allowed
  END IF;
  IF keep = duplicate THEN
    RAISE EXCEPTION 'merge_customer_profiles: cannot merge profile % into itself (keep and duplicate are the same profile); nothing was merged', keep
      USING ERRCODE = '22023',  -- invalid_parameter_value
            HINT = 'Pass two different profiles: keep is the profile that stays, duplicate is removed.';
  END IF;

  PERFORM 1 FROM public.customers WHERE sso_id IN (keep, duplicate) ORDER BY sso_id FOR UPDATE;

  SELECT * INTO k FROM public.customers WHERE sso_id = keep;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'merge_customer_profiles: profile % (keep) does not exist; nothing was merged', keep
      USING ERRCODE = '22023';
  END IF;
  SELECT * INTO d FROM public.customers WHERE sso_id = duplicate;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'merge_customer_profiles: profile % (duplicate) does not exist; nothing was merged', duplicate
      USING ERRCODE = '22023';
  END IF;

  IF k.stripe_customer_id IS NOT NULL AND d.stripe_customer_id IS NOT NULL
     AND k.stripe_customer_id <> d.stripe_customer_id THEN
    RAISE EXCEPTION 'merge_customer_profiles: profiles % and % are linked to different Stripe customers (% and %); nothing was merged. Decide which Stripe customer stays, move or cancel the other one''s subscriptions in Stripe, set that profile''s stripe_customer_id to NULL, then merge again',
      keep, duplicate, k.stripe_customer_id, d.stripe_customer_id
      USING ERRCODE = '22023',
            HINT = 'Decide which Stripe customer stays, move or cancel the other one''s subscriptions in Stripe, set that profile''s stripe_customer_id to NULL, then merge again.';
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
    phone_e164 = CASE WHEN k.phone IS NOT NULL THEN k.phone_e164 ELSE d.phone_e164 END,
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
