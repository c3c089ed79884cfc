//! The demo data `--demo` serves (and the test suite reads).
//!
//! Ids are fixed and readable so the README, the Hasura seeds and the tests can name them.
//! Times are relative to `now`, so the demo always shows current periods and live trials.

use serde_json::json;

use super::{
    fixtures::{self, ItemSpec, Recurrence},
    store::Store,
};

const DAY: i64 = 86_400;

/// A customer with two subscription items (Pro monthly + Priority Support ×2), active.
pub const AVA: &str = "cus_AvaMartinez";
/// A customer in a trial of Essentials monthly.
pub const BEN: &str = "cus_BenCarter";
/// A delinquent customer with a past_due Essentials yearly subscription.
pub const CHLOE: &str = "cus_ChloeNguyen";
/// A customer whose Pro yearly subscription is scheduled to cancel at period end.
pub const DIEGO: &str = "cus_DiegoAlvarez";
/// A customer with a canceled Essentials subscription and an active metered API plan.
pub const EMMA: &str = "cus_EmmaSchmidt";
/// A deleted customer (Stripe answers `{"deleted": true}`).
pub const FAISAL: &str = "cus_FaisalRahman";
/// A customer with no subscriptions and a credit balance.
pub const GRACE: &str = "cus_GraceKim";

/// The demo store at time `now` (Unix seconds).
pub fn store(now: i64) -> Store {
    let mut s = Store::new();
    let month = 30 * DAY;
    let year = 365 * DAY;
    let t0 = now - 400 * DAY;

    for (id, name, desc) in [
        (
            "prod_Essentials",
            "Essentials",
            "Customer records, subscriptions and returns for small teams.",
        ),
        (
            "prod_Pro",
            "Pro",
            "Everything in Essentials plus warranties, automations and the API.",
        ),
        (
            "prod_PrioritySupport",
            "Priority Support",
            "A named support engineer and a 4-hour response target.",
        ),
        (
            "prod_ApiCalls",
            "API calls",
            "Metered API usage beyond the plan allowance.",
        ),
        ("prod_Onboarding", "Onboarding", "One-time guided setup."),
    ] {
        s.put(fixtures::product(id, name, desc, t0));
    }
    let monthly = |usage_type| Recurrence {
        interval: "month",
        interval_count: 1,
        usage_type,
        meter: None,
    };
    let yearly = Recurrence {
        interval: "year",
        interval_count: 1,
        usage_type: "licensed",
        meter: None,
    };
    let prices = [
        fixtures::price(
            "price_EssentialsMonthly",
            "prod_Essentials",
            "Essentials monthly",
            "1900",
            Some(monthly("licensed")),
            t0,
        ),
        fixtures::price(
            "price_EssentialsYearly",
            "prod_Essentials",
            "Essentials yearly",
            "19000",
            Some(yearly),
            t0 + 1,
        ),
        fixtures::price(
            "price_ProMonthly",
            "prod_Pro",
            "Pro monthly",
            "4900",
            Some(monthly("licensed")),
            t0 + 2,
        ),
        fixtures::price(
            "price_ProYearly",
            "prod_Pro",
            "Pro yearly",
            "49000",
            Some(yearly),
            t0 + 3,
        ),
        fixtures::price(
            "price_SupportMonthly",
            "prod_PrioritySupport",
            "Priority Support seat",
            "1500",
            Some(monthly("licensed")),
            t0 + 4,
        ),
        fixtures::price(
            "price_ApiCallsMetered",
            "prod_ApiCalls",
            "API calls, per call",
            "0.5",
            Some(Recurrence {
                interval: "month",
                interval_count: 1,
                usage_type: "metered",
                meter: Some("mtr_ApiCalls"),
            }),
            t0 + 5,
        ),
        fixtures::price(
            "price_OnboardingFee",
            "prod_Onboarding",
            "Onboarding fee",
            "4900",
            None,
            t0 + 6,
        ),
    ];
    for p in &prices {
        s.put(p.clone());
    }
    let price = |id: &str| {
        prices
            .iter()
            .find(|p| p["id"] == json!(id))
            .expect("demo price")
            .clone()
    };
    s.update("product", "prod_Pro", |p| {
        p["default_price"] = json!("price_ProMonthly")
    });
    s.update("product", "prod_Essentials", |p| {
        p["default_price"] = json!("price_EssentialsMonthly")
    });

    let customers = [
        (
            AVA,
            "Ava Martinez",
            "ava.martinez@example.com",
            "6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60",
            t0 + 10 * DAY,
        ),
        (
            BEN,
            "Ben Carter",
            "ben.carter@example.com",
            "7a2d3b4f-9c5e-4f60-8b12-2c3d4e5f6071",
            now - 5 * DAY,
        ),
        (
            CHLOE,
            "Chloe Nguyen",
            "chloe.nguyen@example.com",
            "8b3e4c50-ad6f-4071-9c23-3d4e5f607182",
            t0 + 20 * DAY,
        ),
        (
            DIEGO,
            "Diego Alvarez",
            "diego.alvarez@example.com",
            "9c4f5d61-be70-4182-ad34-4e5f60718293",
            t0 + 30 * DAY,
        ),
        (
            EMMA,
            "Emma Schmidt",
            "emma.schmidt@example.com",
            "ad506e72-cf81-4293-be45-5f60718293a4",
            t0 + 40 * DAY,
        ),
        (
            FAISAL,
            "Faisal Rahman",
            "faisal.rahman@example.com",
            "be617f83-d092-43a4-8f56-60718293a4b5",
            t0 + 50 * DAY,
        ),
        (
            GRACE,
            "Grace Kim",
            "grace.kim@example.com",
            "cf728094-e1a3-44b5-9067-718293a4b5c6",
            t0 + 60 * DAY,
        ),
    ];
    // `metadata.sso`: the profile's `sso_id` in hasura/seeds, under the key the product's
    // onboarding uses and data scoping matches on (`HASURA_SCOPING_METADATA_KEY`).
    for (id, name, email, sso, created) in customers {
        let mut c = fixtures::customer(id, name, email, created);
        c["metadata"] = json!({ "sso": sso });
        s.put(c);
    }
    s.update("customer", AVA, |c| {
        c["phone"] = json!("+14155550101");
        c["address"] = json!({"city": "San Francisco", "country": "US", "line1": "123 Main St",
                              "line2": "Suite 400", "postal_code": "94111", "state": "CA"});
        c["invoice_settings"]["default_payment_method"] = json!("pm_AvaVisa4242");
    });
    s.update("customer", CHLOE, |c| {
        c["delinquent"] = json!(true);
        c["balance"] = json!(19000);
    });
    s.update("customer", GRACE, |c| c["balance"] = json!(-500));

    // Ava: active Pro monthly with a Priority Support add-on (two items).
    let (pro_m, support) = (price("price_ProMonthly"), price("price_SupportMonthly"));
    let start = now - 10 * DAY;
    let mut ava = fixtures::subscription(
        "sub_AvaPro",
        AVA,
        "active",
        &[
            ItemSpec {
                id: "si_AvaPro",
                price: &pro_m,
                quantity: Some(1),
            },
            ItemSpec {
                id: "si_AvaSupport",
                price: &support,
                quantity: Some(2),
            },
        ],
        (start, start + month),
        t0 + 10 * DAY,
    );
    ava["metadata"] = json!({"source": "web", "sales_rep": "jordan"});
    ava["default_payment_method"] = json!("pm_AvaVisa4242");
    ava["latest_invoice"] = json!("in_AvaNov");
    s.put(ava);

    // Ben: trialing Essentials monthly, 14-day trial started 5 days ago.
    let ess_m = price("price_EssentialsMonthly");
    let trial_start = now - 5 * DAY;
    let mut ben = fixtures::subscription(
        "sub_BenTrial",
        BEN,
        "trialing",
        &[ItemSpec {
            id: "si_BenEssentials",
            price: &ess_m,
            quantity: Some(1),
        }],
        (trial_start, trial_start + 14 * DAY),
        trial_start,
    );
    ben["trial_start"] = json!(trial_start);
    ben["trial_end"] = json!(trial_start + 14 * DAY);
    s.put(ben);

    // Chloe: past_due Essentials yearly.
    let ess_y = price("price_EssentialsYearly");
    let start = now - 3 * DAY;
    let mut chloe = fixtures::subscription(
        "sub_ChloeYearly",
        CHLOE,
        "past_due",
        &[ItemSpec {
            id: "si_ChloeEssentials",
            price: &ess_y,
            quantity: Some(1),
        }],
        (start, start + year),
        t0 + 20 * DAY,
    );
    chloe["latest_invoice"] = json!("in_ChloeRenewal");
    s.put(chloe);

    // Diego: Pro yearly, scheduled to cancel at the end of the period.
    let pro_y = price("price_ProYearly");
    let start = now - 200 * DAY;
    let mut diego = fixtures::subscription(
        "sub_DiegoPro",
        DIEGO,
        "active",
        &[ItemSpec {
            id: "si_DiegoPro",
            price: &pro_y,
            quantity: Some(3),
        }],
        (start, start + year),
        t0 + 30 * DAY,
    );
    diego["cancel_at_period_end"] = json!(true);
    diego["cancel_at"] = json!(start + year);
    diego["canceled_at"] = json!(now - 2 * DAY);
    diego["cancellation_details"] = json!({"comment": "Moving to an in-house tool", "feedback": "switched_service", "reason": "cancellation_requested"});
    s.put(diego);

    // Emma: a canceled Essentials subscription and an active metered API plan.
    let ended = now - 60 * DAY;
    let mut emma_old = fixtures::subscription(
        "sub_EmmaEssentials",
        EMMA,
        "canceled",
        &[ItemSpec {
            id: "si_EmmaEssentials",
            price: &ess_m,
            quantity: Some(1),
        }],
        (ended - month, ended),
        t0 + 40 * DAY,
    );
    emma_old["canceled_at"] = json!(ended);
    emma_old["ended_at"] = json!(ended);
    emma_old["cancellation_details"] =
        json!({"comment": null, "feedback": "too_expensive", "reason": "cancellation_requested"});
    s.put(emma_old);
    let api = price("price_ApiCallsMetered");
    let start = now - 12 * DAY;
    s.put(fixtures::subscription(
        "sub_EmmaApi",
        EMMA,
        "active",
        &[ItemSpec {
            id: "si_EmmaApi",
            price: &api,
            quantity: None,
        }],
        (start, start + month),
        ended + DAY,
    ));

    // Faisal: had Pro monthly, then the customer was deleted (which cancels it).
    s.put(fixtures::subscription(
        "sub_FaisalPro",
        FAISAL,
        "active",
        &[ItemSpec {
            id: "si_FaisalPro",
            price: &pro_m,
            quantity: Some(1),
        }],
        (now - 20 * DAY, now + 10 * DAY),
        t0 + 50 * DAY,
    ));
    s.delete_customer(FAISAL, now - DAY);

    s
}

/// The id of generated customer number `i` ([`add_generated_customers`]).
pub fn generated_customer_id(i: usize) -> String {
    format!("cus_Gen{i:06}")
}

/// Adds `n` customers to a demo `store` (ids from [`generated_customer_id`]), each with one
/// active Essentials monthly subscription, for tests and benchmarks of many-customer joins.
pub fn add_generated_customers(store: &mut Store, n: usize, now: i64) {
    let Some(price) = store.get("price", "price_EssentialsMonthly").cloned() else {
        return;
    };
    for i in 0..n {
        let id = generated_customer_id(i);
        let created = now - 30 * DAY - i as i64;
        store.put(fixtures::customer(
            &id,
            &format!("Customer {i}"),
            &format!("customer{i}@example.com"),
            created,
        ));
        let (sub_id, item_id) = (format!("sub_Gen{i:06}"), format!("si_Gen{i:06}"));
        store.put(fixtures::subscription(
            &sub_id,
            &id,
            "active",
            &[ItemSpec {
                id: &item_id,
                price: &price,
                quantity: Some(1),
            }],
            (now - 10 * DAY, now + 20 * DAY),
            created,
        ));
    }
}
