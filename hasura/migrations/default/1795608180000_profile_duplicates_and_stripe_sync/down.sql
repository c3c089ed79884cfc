-- Undoes up.sql completely, in reverse order. The expression indexes are dropped first:
-- DROP FUNCTION refuses while an index uses the function.
DROP FUNCTION public.merge_customer_profiles(uuid, uuid);
DROP VIEW public.customer_duplicates;
DROP INDEX public.customers_normalized_phone_idx;
DROP INDEX public.customers_normalized_email_idx;
DROP FUNCTION public.normalize_phone(text);
DROP FUNCTION public.normalize_email(text);
-- The CHECK constraint on country goes with its column.
ALTER TABLE public.customers
  DROP COLUMN stripe_status_event_at,
  DROP COLUMN country,
  DROP COLUMN postal_code,
  DROP COLUMN city,
  DROP COLUMN address_line2,
  DROP COLUMN address_line1,
  DROP COLUMN phone;
