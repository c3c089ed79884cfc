-- Restores merge_customer_profiles as migration 1795608180000 created it: the refusals raised
-- with plain RAISE EXCEPTION (SQLSTATE P0001, which Hasura reports as "database query error").
-- CREATE OR REPLACE keeps the function's identity, so Hasura's tracking is untouched.
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
