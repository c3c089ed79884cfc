-- Undoes up.sql, in reverse order: merge_customer_profiles and the view as migrations
-- 1795608240000 and 1795608180000 left them (the view first: it reads phone_e164), the reset
-- trigger and its function, the comparison index, then the column (its CHECK goes with it).
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

COMMENT ON COLUMN public.customer_duplicates.evidence IS
  'The normalised value both profiles share';

DROP TRIGGER customers_phone_e164_reset ON public.customers;
DROP FUNCTION public.reset_customers_phone_e164();
DROP INDEX public.customers_compared_phone_idx;
CREATE INDEX customers_normalized_phone_idx ON public.customers (public.normalize_phone(phone));
ALTER TABLE public.customers DROP COLUMN phone_e164;
