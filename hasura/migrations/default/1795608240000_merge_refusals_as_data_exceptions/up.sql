-- merge_customer_profiles' refusals as errors Hasura shows to the admin.
--
-- Hasura v2 passes a Postgres error of a mutation on to the client with its own message only
-- for SQLSTATE class 22 (data exception, code `data-exception`) and class 23 (integrity
-- constraint violation, the constraint codes). Anything else, including RAISE EXCEPTION without
-- ERRCODE (P0001, raise_exception), becomes `"database query error"` with code `unexpected`,
-- the real message only under `extensions.internal`. So every refusal now names its SQLSTATE:
--   * 22004 null_value_not_allowed   a NULL argument (keep or duplicate not given);
--   * 22023 invalid_parameter_value  keep = duplicate, a profile that does not exist, two
--                                    profiles linked to different Stripe customers: each is
--                                    an argument value the function cannot act on.
-- Class 23 would be wrong: no constraint was violated, and clients read those codes as one.
-- Hasura sends only the primary message (no DETAIL, no HINT), so each message says what is
-- wrong, with the ids involved, and what to do; the HINTs stay for psql users.
--
-- Nothing else changes: the body below is migration 1795608180000's with the RAISE statements
-- rewritten. CREATE OR REPLACE keeps the function's identity (Hasura's tracking, its comment).
-- down.sql restores the previous definition.
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
