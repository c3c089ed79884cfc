-- Demo profiles matching the customers that stripe-graphql serves in `--demo` mode, so the
-- `getCustomer` query returns joined Stripe data with no Stripe account.
--
-- Idempotent on purpose: the hasura/graphql-engine cli-migrations-v3 image runs
-- `hasura-cli seed apply` on EVERY container start (seeds are not tracked like migrations), so
-- each INSERT skips rows that already exist instead of failing the start-up.
--
-- Covered cases:
--   * Ava .. Emma: Stripe customers with subscriptions;
--   * Faisal: `cus_FaisalRahman` is deleted in Stripe (the join must not fail the query);
--   * Grace: a Stripe customer without subscriptions;
--   * Hiro: no Stripe customer yet (NULL stripe_customer_id: Hasura returns stripe_data = null
--     without calling the server) and a plan picked before checkout.
--
-- Each sandbox customer carries its profile's sso_id as Stripe metadata `sso` (what onboarding
-- stores), so stripe-graphql's data scoping serves a `user` session its own stripe_data only.

INSERT INTO public.customers
  (sso_id, "firstName", "lastName", email, stripe_customer_id,
   "activationDate", delinquency_date, plan_change_date, temporary_subscription_plan)
VALUES
  ('6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60', 'Ava', 'Martinez', 'ava.martinez@example.com', 'cus_AvaMartinez',
   '2025-01-14 09:30:00+00', NULL, '2025-06-01 00:00:00+00', NULL),
  ('7a2d3b4f-9c5e-4f60-8b12-2c3d4e5f6071', 'Ben', 'Carter', 'ben.carter@example.com', 'cus_BenCarter',
   '2025-02-03 17:05:00+00', '2026-09-04 08:00:00+00', NULL, NULL),
  ('8b3e4c50-ad6f-4071-9c23-3d4e5f607182', 'Chloe', 'Nguyen', 'chloe.nguyen@example.com', 'cus_ChloeNguyen',
   '2025-03-22 12:00:00+00', NULL, NULL, NULL),
  ('9c4f5d61-be70-4182-ad34-4e5f60718293', 'Diego', 'Alvarez', 'diego.alvarez@example.com', 'cus_DiegoAlvarez',
   '2025-04-10 08:45:00+00', NULL, '2026-02-01 00:00:00+00', NULL),
  ('ad506e72-cf81-4293-be45-5f60718293a4', 'Emma', 'Schmidt', 'emma.schmidt@example.com', 'cus_EmmaSchmidt',
   '2025-05-19 15:20:00+00', NULL, NULL, NULL),
  ('be617f83-d092-43a4-8f56-60718293a4b5', 'Faisal', 'Rahman', 'faisal.rahman@example.com', 'cus_FaisalRahman',
   '2024-11-02 10:00:00+00', '2025-08-15 00:00:00+00', NULL, NULL),
  ('cf728094-e1a3-44b5-9067-718293a4b5c6', 'Grace', 'Kim', 'grace.kim@example.com', 'cus_GraceKim',
   '2025-07-07 07:07:00+00', NULL, NULL, NULL),
  ('d0839105-f2b4-45c6-a178-8293a4b5c6d7', 'Hiro', 'Tanaka', 'hiro.tanaka@example.com', NULL,
   NULL, NULL, NULL, 'basic-monthly')
ON CONFLICT DO NOTHING;

-- Joined on customers so that a missing profile skips its rows instead of breaking start-up.
INSERT INTO public.returns
  (id, customer_sso_id, action_needed, amount, condition, created_date, description, issue,
   reason_category, refunded_date)
SELECT v.id::uuid, v.customer_sso_id::uuid, v.action_needed, v.amount, v.condition,
       v.created_date::timestamptz, v.description, v.issue, v.reason_category,
       v.refunded_date::timestamptz
FROM (VALUES
  ('0e9a1c52-3f4b-4d6e-8a71-0c1d2e3f4a51', '6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60', false, 4999, 'unopened',
   '2026-03-02 11:00:00+00', 'Starter kit, second unit', 'Ordered twice', 'duplicate_order',
   '2026-03-05 09:00:00+00'),
  ('1fab2d63-405c-4e7f-9b82-1d2e3f4a5b62', '6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60', true, 12900, 'damaged',
   '2026-10-20 16:30:00+00', 'Blender, cracked jar', 'Arrived broken', 'damaged_in_transit', NULL),
  ('20bc3e74-516d-4f80-8c93-2e3f4a5b6c73', '7a2d3b4f-9c5e-4f60-8b12-2c3d4e5f6071', false, 2500, 'used',
   '2026-06-11 08:15:00+00', 'Filter refill pack', 'Wrong size', 'wrong_item', '2026-06-14 10:00:00+00'),
  ('31cd4f85-627e-4091-9da4-3f4a5b6c7d84', 'be617f83-d092-43a4-8f56-60718293a4b5', true, 8900, 'new',
   '2025-08-01 13:45:00+00', 'Annual accessory bundle', 'Cancelled membership', 'no_longer_needed', NULL)
) AS v (id, customer_sso_id, action_needed, amount, condition, created_date, description, issue,
        reason_category, refunded_date)
JOIN public.customers c ON c.sso_id = v.customer_sso_id::uuid
ON CONFLICT DO NOTHING;

INSERT INTO public.warranties
  (id, customer_sso_id, action_needed, amount, condition, created_date, description, issue,
   reason_category)
SELECT v.id::uuid, v.customer_sso_id::uuid, v.action_needed, v.amount, v.condition,
       v.created_date::timestamptz, v.description, v.issue, v.reason_category
FROM (VALUES
  ('42de5096-7380-41a2-8eb5-4a5b6c7d8e95', '6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60', false, NULL::integer,
   'used', '2026-07-09 10:00:00+00', 'Blender motor', 'Stops after 30 seconds', 'defect'),
  ('53ef61a7-8491-42b3-9fc6-5b6c7d8e9fa6', '8b3e4c50-ad6f-4071-9c23-3d4e5f607182', true, 3500,
   'used', '2026-09-28 14:20:00+00', 'Kettle lid hinge', 'Hinge snapped', 'defect'),
  ('64f072b8-95a2-43c4-a0d7-6c7d8e9fa0b7', 'ad506e72-cf81-4293-be45-5f60718293a4', false, 0,
   'refurbished', '2026-01-17 09:40:00+00', 'Coffee grinder', 'Inconsistent grind', 'performance')
) AS v (id, customer_sso_id, action_needed, amount, condition, created_date, description, issue,
        reason_category)
JOIN public.customers c ON c.sso_id = v.customer_sso_id::uuid
ON CONFLICT DO NOTHING;
