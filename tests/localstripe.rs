//! Conformance against localstripe, a third-party fake Stripe with older (2017–2019) shapes.
//!
//! Run by `.ci/run`, which installs localstripe from PyPI into a venv, starts it on
//! 127.0.0.1 and sets `LOCALSTRIPE_URL`. Ignored by a plain `cargo test` (which must stay
//! self-contained); run by hand with:
//!
//! ```text
//! LOCALSTRIPE_URL=http://127.0.0.1:8420 cargo test --test localstripe -- --ignored
//! ```
//!
//! Every test creates its own objects with unique names, so tests can share one localstripe.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use serde_json::{json, Value};

const KEY: &str = "sk_test_localstripe_suite";

fn localstripe_url() -> String {
    std::env::var("LOCALSTRIPE_URL")
        .expect("LOCALSTRIPE_URL must point at a running localstripe (see .ci/run)")
}

/// A unique suffix for this test's objects.
fn unique(tag: &str) -> String {
    format!(
        "{tag}{}",
        uuid::Uuid::new_v4().simple().to_string().get(..10).unwrap()
    )
}

/// POSTs a form to localstripe and returns the JSON object.
async fn create(path: &str, form: &[(&str, &str)]) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", localstripe_url()))
        .bearer_auth(KEY)
        .form(form)
        .send()
        .await
        .expect("localstripe answers");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success(), "POST {path}: {status} {body}");
    body
}

async fn delete(path: &str) {
    let response = reqwest::Client::new()
        .delete(format!("{}{path}", localstripe_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "DELETE {path}");
}

/// A product, a monthly plan of 10.00 USD, and a customer paying it by card (so the
/// subscription is `active`, as localstripe requires a payment method without a trial).
struct Fixture {
    product: String,
    plan: String,
    customer: Value,
    subscription: Value,
}

async fn fixture(tag: &str) -> Fixture {
    let product = unique(&format!("prod_{tag}"));
    create(
        "/v1/products",
        &[("id", &product), ("name", "Basic"), ("type", "service")],
    )
    .await;
    let plan = unique(&format!("plan_{tag}"));
    create(
        "/v1/plans",
        &[
            ("id", &plan),
            ("product", &product),
            ("amount", "1000"),
            ("currency", "usd"),
            ("interval", "month"),
            ("nickname", "Basic monthly"),
        ],
    )
    .await;
    let email = format!("{}@example.com", unique("jane"));
    let customer = create(
        "/v1/customers",
        &[
            ("email", &email),
            ("name", "Jane Doe"),
            ("metadata[sso]", "6f1c2a3e-0000-4e5f-9a01-1b2c3d4e5f60"),
        ],
    )
    .await;
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    let pm = create(
        "/v1/payment_methods",
        &[
            ("type", "card"),
            ("card[number]", "4242424242424242"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ],
    )
    .await;
    let pm_id = pm["id"].as_str().unwrap();
    create(
        &format!("/v1/payment_methods/{pm_id}/attach"),
        &[("customer", &customer_id)],
    )
    .await;
    create(
        &format!("/v1/customers/{customer_id}"),
        &[("invoice_settings[default_payment_method]", pm_id)],
    )
    .await;
    let subscription = create(
        "/v1/subscriptions",
        &[
            ("customer", &customer_id),
            ("items[0][plan]", &plan),
            ("items[0][quantity]", "2"),
            ("metadata[source]", "localstripe-suite"),
        ],
    )
    .await;
    Fixture {
        product,
        plan,
        customer,
        subscription,
    }
}

/// Our server, pointed at localstripe, with caching as in production.
async fn server() -> Server {
    let base = helpers::start_server(helpers::test_config(&localstripe_url(), KEY)).await;
    Server {
        url: format!("{base}/graphql"),
        http: reqwest::Client::new(),
    }
}

struct Server {
    url: String,
    http: reqwest::Client,
}

impl Server {
    async fn data(&self, query: &str) -> Value {
        helpers::query_data(&self.http, &self.url, query).await
    }
}

#[tokio::test]
#[ignore = "needs localstripe: run from .ci/run"]
async fn the_seed_subtree_reads_localstripe_customers_and_subscriptions() {
    let f = fixture("seed").await;
    let server = server().await;
    let customer_id = f.customer["id"].as_str().unwrap();

    let data = server
        .data(&format!(
            r#"{{ f0: customer(id: "{customer_id}") {{ id email name balance metadata
                subscriptions {{ data {{ id metadata status created cancelAt quantity
                  currentPeriodStart currentPeriodEnd plan {{ id metadata nickname created }}
                  items {{ data {{ id metadata quantity currentPeriodEnd subscriptionId
                    price {{ id nickname unitAmount recurring {{ aggregateUsage usageType interval }} }} }} }} }} }} }} }}"#
        ))
        .await;

    let c = &data["f0"];
    assert_eq!(c["id"], f.customer["id"]);
    assert_eq!(c["email"], f.customer["email"]);
    assert_eq!(c["name"], json!("Jane Doe"));
    assert_eq!(
        c["balance"], f.customer["account_balance"],
        "pre-2019 account_balance is read as balance"
    );
    assert_eq!(
        c["metadata"],
        json!({ "sso": "6f1c2a3e-0000-4e5f-9a01-1b2c3d4e5f60" })
    );
    let subs = c["subscriptions"]["data"].as_array().unwrap();
    assert_eq!(subs.len(), 1);
    let s = &subs[0];
    assert_eq!(s["id"], f.subscription["id"]);
    assert_eq!(s["status"], json!("active"));
    assert_eq!(s["created"], f.subscription["created"]);
    assert_eq!(s["quantity"], json!(2));
    // localstripe still sends the subscription-level period and plan (pre-basil shape).
    assert_eq!(
        s["currentPeriodStart"],
        f.subscription["current_period_start"]
    );
    assert_eq!(s["currentPeriodEnd"], f.subscription["current_period_end"]);
    assert_eq!(s["plan"]["id"], json!(f.plan));
    assert_eq!(s["plan"]["nickname"], json!("Basic monthly"));
    let item = &s["items"]["data"][0];
    assert_eq!(item["quantity"], json!(2));
    assert_eq!(
        item["subscriptionId"], f.subscription["id"],
        "filled in from the parent"
    );
    assert_eq!(
        item["currentPeriodEnd"], f.subscription["current_period_end"],
        "copied down from the subscription"
    );
    // localstripe items carry only a plan: the price is its price view.
    assert_eq!(item["price"]["id"], json!(f.plan));
    assert_eq!(item["price"]["unitAmount"], json!(1000));
    assert_eq!(
        item["price"]["recurring"],
        json!({ "aggregateUsage": null, "usageType": "licensed", "interval": "month" })
    );
}

#[tokio::test]
#[ignore = "needs localstripe: run from .ci/run"]
async fn plans_and_products_read_from_localstripe() {
    let f = fixture("plan").await;
    let server = server().await;

    let data = server
        .data(&format!(
            r#"{{ plan(id: "{}") {{ id amount currency interval intervalCount usageType product {{ id name active }} }}
                 product(id: "{}") {{ name type active }} }}"#,
            f.plan, f.product
        ))
        .await;

    assert_eq!(
        data["plan"],
        json!({ "id": f.plan, "amount": 1000, "currency": "usd", "interval": "month", "intervalCount": 1,
                "usageType": "licensed", "product": { "id": f.product, "name": "Basic", "active": true } })
    );
    assert_eq!(
        data["product"],
        json!({ "name": "Basic", "type": "service", "active": true })
    );
}

#[tokio::test]
#[ignore = "needs localstripe: run from .ci/run"]
async fn deleted_customers_and_unknown_ids_are_null_but_a_missing_endpoint_is_an_error() {
    let f = fixture("gone").await;
    let customer_id = f.customer["id"].as_str().unwrap().to_owned();
    delete(&format!("/v1/customers/{customer_id}")).await;
    let server = server().await;

    let data = server
        .data(&format!(
            r#"{{ f0: customer(id: "{customer_id}") {{ id }} f1: customer(id: "cus_DoesNotExist0") {{ id }}
                 product(id: "prod_missing_x") {{ id }} }}"#
        ))
        .await;

    // localstripe answers a deleted customer with a JSON 404 (Stripe: 200 + deleted) and an
    // unknown id with a JSON 404: both are null, with no errors.
    assert_eq!(data, json!({ "f0": null, "f1": null, "product": null }));

    // It has no Prices API at all: its plain-text 404 names no missing object, so it is an
    // error, never a silent null (the same rule catches a STRIPE_API_BASE ending in /v1).
    let body: Value = server
        .http
        .post(&server.url)
        .json(&json!({ "query": r#"{ price(id: "price_NotInLocalstripe") { id } }"# }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["price"], Value::Null);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("STRIPE_UNKNOWN_ENDPOINT"),
        "{body}"
    );
}

#[tokio::test]
#[ignore = "needs localstripe: run from .ci/run"]
async fn canceled_subscriptions_follow_stripes_status_filters() {
    let f = fixture("cancel").await;
    let sub_id = f.subscription["id"].as_str().unwrap().to_owned();
    delete(&format!("/v1/subscriptions/{sub_id}")).await;
    let customer_id = f.customer["id"].as_str().unwrap();
    let server = server().await;

    let data = server
        .data(&format!(
            r#"{{ subscription(id: "{sub_id}") {{ status endedAt }}
                 live: subscriptions(customer: "{customer_id}") {{ data {{ id }} }}
                 all: subscriptions(customer: "{customer_id}", status: all) {{ data {{ id status }} }} }}"#
        ))
        .await;

    assert_eq!(data["subscription"]["status"], json!("canceled"));
    assert!(data["subscription"]["endedAt"].is_i64());
    assert_eq!(data["live"]["data"], json!([]));
    assert_eq!(
        data["all"]["data"],
        json!([{ "id": sub_id, "status": "canceled" }])
    );
}

#[tokio::test]
#[ignore = "needs localstripe: run from .ci/run"]
async fn customers_filter_by_email_on_localstripe() {
    let f = fixture("email").await;
    let server = server().await;
    let email = f.customer["email"].as_str().unwrap();

    let data = server
        .data(&format!(r#"{{ customers(email: "{email}", first: 5) {{ data {{ id email }} hasMore nextCursor }} }}"#))
        .await;

    assert_eq!(
        data["customers"],
        json!({ "data": [{ "id": f.customer["id"], "email": email }], "hasMore": false, "nextCursor": null })
    );
}
