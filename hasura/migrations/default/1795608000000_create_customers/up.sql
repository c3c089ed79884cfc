-- Customers: the unified customer profile that Hasura joins onto Stripe through
-- `stripe_customer_id` (remote relationship `stripe_data`).
--
-- Column names are fixed by the product's `getCustomer` query (see docs/hasura.md), hence the
-- quoted camelCase "firstName", "lastName" and "activationDate" next to snake_case columns.

-- Keeps `updated_at` current on every UPDATE. Same name as the function the Hasura console
-- generates for "updated_at" columns, so console-made migrations reuse it instead of duplicating it.
CREATE FUNCTION public.set_current_timestamp_updated_at()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TABLE public.customers (
  -- The id issued by the SSO provider; also the value of the `X-Hasura-User-Id` session variable
  -- for the `user` role. gen_random_uuid() is built into PostgreSQL 13+ (no pgcrypto needed).
  sso_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  "firstName" text,
  "lastName" text,
  -- Nullable: an SSO identity can exist before an email is known. Not unique: duplicate profiles
  -- are expected until the de-duplication job merges them (see the index below).
  email text,
  -- NULL until the customer is created in Stripe. UNIQUE: one profile per Stripe customer, so the
  -- remote join can never attach one Stripe customer to two profiles. The CHECK rejects values
  -- that are not Stripe customer ids (e.g. a `sub_...` or an email pasted into the wrong column).
  stripe_customer_id text
    CONSTRAINT customers_stripe_customer_id_key UNIQUE
    CONSTRAINT customers_stripe_customer_id_format
      CHECK (stripe_customer_id IS NULL OR stripe_customer_id ~ '^cus_[A-Za-z0-9]+$'),
  -- timestamptz, not date, for all three lifecycle columns: they record instants taken from Stripe
  -- events (Unix timestamps, like `created`/`currentPeriodEnd` in the same query), and a `date`
  -- would silently depend on the time zone of whoever wrote it. Clients format them per locale.
  "activationDate" timestamptz,
  delinquency_date timestamptz,
  plan_change_date timestamptz,
  -- Plan chosen before the Stripe subscription exists; cleared once it is created.
  temporary_subscription_plan text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.customers IS
  'Unified customer profile; joined to Stripe through stripe_customer_id';
COMMENT ON COLUMN public.customers.sso_id IS
  'SSO user id; equals X-Hasura-User-Id for the user role';
COMMENT ON COLUMN public.customers.stripe_customer_id IS
  'Stripe customer id (cus_...), NULL until the customer exists in Stripe';

CREATE TRIGGER set_public_customers_updated_at
BEFORE UPDATE ON public.customers
FOR EACH ROW
EXECUTE FUNCTION public.set_current_timestamp_updated_at();

-- Lookups and duplicate detection are case-insensitive (`Jane@Example.com` = `jane@example.com`),
-- so index lower(email); queries must use lower(email) = lower($1) to hit it.
CREATE INDEX customers_lower_email_idx ON public.customers (lower(email));
-- And the plain column, for Hasura's own filters (`where: {email: {_eq: ...}}` compiles to
-- `email = $1`, which cannot use the expression index above).
CREATE INDEX customers_email_idx ON public.customers (email);
