-- Returns and warranty claims of a customer, exposed by Hasura as the array relationships
-- `customers.returns` and `customers.warranties`. The columns are exactly the fields the
-- `getCustomer` query selects, plus the foreign key to the customer.
--
-- `amount` is an integer in the currency's smallest unit (cents for USD), the same convention as
-- Stripe's amounts (`unitAmount` in the same query), so refunds can be issued and reconciled
-- without float or rounding surprises. Hasura exposes it as `Int`; the currency is the customer's
-- Stripe currency.

CREATE TABLE public.returns (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_sso_id uuid NOT NULL
    REFERENCES public.customers (sso_id) ON UPDATE CASCADE ON DELETE CASCADE,
  action_needed boolean NOT NULL DEFAULT false,
  amount integer NOT NULL CHECK (amount >= 0),
  condition text,
  created_date timestamptz NOT NULL DEFAULT now(),
  description text,
  issue text,
  reason_category text,
  refunded_date timestamptz,
  CONSTRAINT returns_refunded_after_created CHECK (refunded_date IS NULL OR refunded_date >= created_date)
);

COMMENT ON TABLE public.returns IS 'Product returns of a customer';
COMMENT ON COLUMN public.returns.amount IS
  'Refund value in the smallest currency unit (e.g. cents), like Stripe amounts';

-- Foreign keys are not indexed automatically; this serves the array relationship, the `user`
-- role's row filter and the ON DELETE CASCADE.
CREATE INDEX returns_customer_sso_id_idx ON public.returns (customer_sso_id);

CREATE TABLE public.warranties (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_sso_id uuid NOT NULL
    REFERENCES public.customers (sso_id) ON UPDATE CASCADE ON DELETE CASCADE,
  action_needed boolean NOT NULL DEFAULT false,
  -- Nullable: a claim settled by repair or replacement has no monetary value.
  amount integer CHECK (amount >= 0),
  condition text,
  created_date timestamptz NOT NULL DEFAULT now(),
  description text,
  issue text,
  reason_category text
);

COMMENT ON TABLE public.warranties IS 'Warranty claims of a customer';
COMMENT ON COLUMN public.warranties.amount IS
  'Claim value in the smallest currency unit (e.g. cents), like Stripe amounts; NULL if none';

CREATE INDEX warranties_customer_sso_id_idx ON public.warranties (customer_sso_id);
