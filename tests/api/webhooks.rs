//! `POST /webhooks/stripe`: signed events from the sandbox make the next query fresh; forged,
//! stale or unsigned deliveries change nothing.

use serde_json::{json, Value};
use stripe_graphql::{
    clock::unix_now,
    config::Upstream,
    events::{WebhookSettings, DEFAULT_TOLERANCE},
    secret::SecretString,
    startup::Application,
};
use stripe_sandbox::{
    demo::{AVA, BEN},
    webhooks::signature_header,
    Delivery, DEMO_KEY,
};

use crate::helpers::{query_data, spawn_app, spawn_app_with, test_config, TestApp, KEY};

/// The signing secret the test server is configured with.
const SECRET: &str = "whsec_api_suite_webhook_secret_42";

fn webhook_settings() -> Option<WebhookSettings> {
    Some(WebhookSettings {
        secret: SecretString::new(SECRET),
        tolerance: DEFAULT_TOLERANCE,
    })
}

/// The server with `STRIPE_WEBHOOK_SECRET` set, and the sandbox sending it signed events.
async fn spawn_with_webhooks() -> TestApp {
    let app = spawn_app_with(|o| o.config.webhook = webhook_settings()).await;
    app.sandbox
        .send_webhooks_to(&format!("{}/webhooks/stripe", app.base), SECRET);
    app
}

fn name_query(customer: &str) -> String {
    format!("{{ customer(id: \"{customer}\") {{ id name metadata }} }}")
}

/// A `customer.updated` event body for Ava, as Stripe would send it.
fn ava_updated_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "evt_forged", "object": "event", "type": "customer.updated",
        "api_version": "2026-07-29.dahlia", "created": unix_now(), "livemode": false,
        "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
        "data": {"object": {"id": AVA, "object": "customer", "name": "Mallory"}},
    }))
    .unwrap()
}

/// The sandbox's events (and the shapes it answers) follow the API version the client sends.
#[test]
fn the_sandbox_follows_the_api_version_the_client_sends() {
    assert_eq!(
        stripe_sandbox::API_VERSION,
        stripe_graphql::stripe::DEFAULT_API_VERSION
    );
}

fn assert_applied(delivery: &Delivery, event_type: &str) {
    assert_eq!(delivery.status, 200, "{delivery:?}");
    assert_eq!(
        delivery.answer,
        json!({
            "received": true, "outcome": "applied",
            "id": delivery.event["id"], "type": event_type,
        })
    );
}

fn assert_refused(delivery: &Delivery, code: &str) {
    assert_eq!(delivery.status, 400, "{delivery:?}");
    assert_eq!(delivery.answer["received"], json!(false));
    assert_eq!(
        delivery.answer["error"]["code"],
        json!(code),
        "{delivery:?}"
    );
    assert!(delivery.answer["error"]["message"].is_string());
}

/// Runs the customer query, which must be served from the cache (no Stripe call), and
/// returns Ava's name.
async fn cached_name(app: &TestApp) -> Value {
    let calls = app.sandbox.total_calls();
    let name = app.data(&name_query(AVA)).await["customer"]["name"].clone();
    assert_eq!(app.sandbox.total_calls(), calls, "served from the cache");
    name
}

#[tokio::test]
async fn a_query_is_served_fresh_right_after_the_matching_webhook() {
    let app = spawn_with_webhooks().await;
    let query = name_query(AVA);
    assert_eq!(
        app.data(&query).await["customer"]["name"],
        json!("Ava Martinez")
    );
    assert_eq!(cached_name(&app).await, json!("Ava Martinez"));

    let delivery = app
        .sandbox
        .update("customer", AVA, |c| {
            c["name"] = json!("Ava M. Martinez");
            c["metadata"]["tier"] = json!("gold");
        })
        .await
        .unwrap();

    assert_applied(&delivery, "customer.updated");
    assert_eq!(
        delivery.event["data"]["previous_attributes"]["name"],
        json!("Ava Martinez")
    );
    let calls = app.sandbox.total_calls();
    let fresh = app.data(&query).await;
    assert_eq!(fresh["customer"]["name"], json!("Ava M. Martinez"));
    assert_eq!(fresh["customer"]["metadata"]["tier"], json!("gold"));
    assert_eq!(app.sandbox.total_calls(), calls + 1);
    assert_eq!(app.sandbox.calls_to(&format!("/v1/customers/{AVA}")), 2);
}

#[tokio::test]
async fn a_forged_webhook_changes_nothing() {
    let app = spawn_with_webhooks().await;
    app.data(&name_query(AVA)).await;
    app.sandbox
        .with_store(|s| s.update("customer", AVA, |c| c["name"] = json!("Changed quietly")));
    let body = ava_updated_body();

    let forged = signature_header("whsec_not_the_endpoints_secret", unix_now(), &body);
    let delivery = app
        .sandbox
        .post_webhook(&body, Some(&forged))
        .await
        .unwrap();

    assert_refused(&delivery, "SIGNATURE_MISMATCH");
    assert_eq!(cached_name(&app).await, json!("Ava Martinez"));
}

#[tokio::test]
async fn a_webhook_signed_longer_ago_than_the_tolerance_is_refused() {
    let app = spawn_with_webhooks().await;
    app.data(&name_query(AVA)).await;
    let body = ava_updated_body();

    let replayed = signature_header(SECRET, unix_now() - 3600, &body);
    let delivery = app
        .sandbox
        .post_webhook(&body, Some(&replayed))
        .await
        .unwrap();

    assert_refused(&delivery, "TIMESTAMP_OUTSIDE_TOLERANCE");
    let message = delivery.answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("300 s tolerance"), "{message}");
    assert_eq!(cached_name(&app).await, json!("Ava Martinez"));
}

#[tokio::test]
async fn a_webhook_without_a_valid_signature_header_is_refused() {
    let app = spawn_with_webhooks().await;
    app.data(&name_query(AVA)).await;
    let body = ava_updated_body();

    let missing = app.sandbox.post_webhook(&body, None).await.unwrap();
    assert_refused(&missing, "MISSING_SIGNATURE");
    let malformed = app
        .sandbox
        .post_webhook(&body, Some("v1=deadbeef"))
        .await
        .unwrap();
    assert_refused(&malformed, "MALFORMED_SIGNATURE");
    let v0_only = format!(
        "t={},v0={}",
        unix_now(),
        signature_header(SECRET, unix_now(), &body)
            .split_once("v1=")
            .unwrap()
            .1
    );
    let v0 = app
        .sandbox
        .post_webhook(&body, Some(&v0_only))
        .await
        .unwrap();
    assert_refused(&v0, "NO_V1_SIGNATURE");

    assert_eq!(cached_name(&app).await, json!("Ava Martinez"));
}

#[tokio::test]
async fn a_signed_event_whose_object_lacks_its_id_is_refused_and_changes_nothing() {
    let app = spawn_with_webhooks().await;
    app.data(&name_query(AVA)).await;

    let delivery = app
        .sandbox
        .emit(
            "customer.updated",
            json!({"object": "customer", "name": "No id"}),
        )
        .await
        .unwrap();

    assert_refused(&delivery, "INVALID_EVENT");
    let message = delivery.answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("customer.updated"), "{message}");
    assert!(message.contains("`id`"), "{message}");
    assert_eq!(cached_name(&app).await, json!("Ava Martinez"));
}

#[tokio::test]
async fn an_unknown_event_type_is_acknowledged_and_ignored() {
    let app = spawn_with_webhooks().await;
    app.data(&name_query(AVA)).await;

    let delivery = app
        .sandbox
        .emit(
            "invoice.paid",
            json!({"id": "in_1", "object": "invoice", "customer": AVA}),
        )
        .await
        .unwrap();

    assert_eq!(delivery.status, 200);
    assert_eq!(delivery.answer["received"], json!(true));
    assert_eq!(delivery.answer["outcome"], json!("ignored"));
    assert_eq!(delivery.answer["type"], json!("invoice.paid"));
    assert!(delivery.answer["reason"].is_string());
    assert_eq!(cached_name(&app).await, json!("Ava Martinez"));
}

#[tokio::test]
async fn a_duplicate_delivery_is_harmless() {
    let app = spawn_with_webhooks().await;
    let query = name_query(AVA);
    app.data(&query).await;

    let first = app
        .sandbox
        .update("customer", AVA, |c| c["name"] = json!("Ava Once"))
        .await
        .unwrap();
    assert_applied(&first, "customer.updated");
    assert_eq!(
        app.data(&query).await["customer"]["name"],
        json!("Ava Once")
    );

    // Stripe redelivers the same event (same id), signed anew.
    let again = app.sandbox.send_event(&first.event).await.unwrap();
    assert_applied(&again, "customer.updated");
    assert_eq!(again.event["id"], first.event["id"]);

    assert_eq!(
        app.data(&query).await["customer"]["name"],
        json!("Ava Once")
    );
    assert_eq!(
        app.data(&query).await["customer"]["name"],
        json!("Ava Once")
    );
}

#[tokio::test]
async fn webhooks_are_disabled_without_a_secret() {
    let app = spawn_app().await;
    app.sandbox
        .send_webhooks_to(&format!("{}/webhooks/stripe", app.base), SECRET);

    let delivery = app
        .sandbox
        .update("customer", AVA, |c| c["name"] = json!("x"))
        .await
        .unwrap();

    assert_eq!(delivery.status, 404);
    assert_eq!(delivery.answer["received"], json!(false));
    assert_eq!(delivery.answer["error"]["code"], json!("WEBHOOKS_DISABLED"));
    let message = delivery.answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("STRIPE_WEBHOOK_SECRET"), "{message}");
}

#[tokio::test]
async fn the_webhook_route_needs_no_bearer_token() {
    let app = spawn_app_with(|o| {
        o.config.webhook = webhook_settings();
        o.config.http.auth_token = Some(SecretString::new("graphql-token-123"));
    })
    .await;
    app.sandbox
        .send_webhooks_to(&format!("{}/webhooks/stripe", app.base), SECRET);
    app.data(&name_query(AVA)).await;

    let delivery = app
        .sandbox
        .update("customer", AVA, |c| c["name"] = json!("Ava Tokenless"))
        .await
        .unwrap();

    assert_applied(&delivery, "customer.updated");
    assert_eq!(
        app.data(&name_query(AVA)).await["customer"]["name"],
        json!("Ava Tokenless")
    );
}

#[tokio::test]
async fn a_subscription_event_makes_the_customers_subscriptions_fresh() {
    let app = spawn_with_webhooks().await;
    let query = format!(
        "{{ customer(id: \"{AVA}\") {{ subscriptions {{ data {{ id metadata cancelAt }} }} }} }}"
    );
    let before = app.data(&query).await;
    assert_eq!(
        before["customer"]["subscriptions"]["data"][0]["cancelAt"],
        Value::Null
    );
    app.data(&query).await;
    // One call brought the customer and its subscriptions; the second query cost none.
    assert_eq!(app.stripe_calls(), 1);

    let delivery = app
        .sandbox
        .update("subscription", "sub_AvaPro", |s| {
            s["cancel_at"] = json!(1_800_000_000);
            s["metadata"]["seats"] = json!("12");
        })
        .await
        .unwrap();

    assert_applied(&delivery, "customer.subscription.updated");
    let after = app.data(&query).await;
    let sub = &after["customer"]["subscriptions"]["data"][0];
    assert_eq!(sub["id"], json!("sub_AvaPro"));
    assert_eq!(sub["cancelAt"], json!(1_800_000_000));
    assert_eq!(sub["metadata"]["seats"], json!("12"));
    // The customer was not made stale: only its subscription page is read again.
    assert_eq!(app.stripe_calls(), 2, "{:?}", app.sandbox.calls());
    assert_eq!(app.sandbox.calls_to("/v1/subscriptions"), 1);
}

#[tokio::test]
async fn a_price_event_makes_a_subscription_items_price_fresh() {
    let app = spawn_with_webhooks().await;
    let query = r#"{
        subscription(id: "sub_AvaPro") { items { data { price { id nickname } } } }
        price(id: "price_ProMonthly") { nickname }
    }"#;
    let nickname_of_item = |data: &Value| {
        data["subscription"]["items"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["price"]["id"] == json!("price_ProMonthly"))
            .map(|i| i["price"]["nickname"].clone())
            .expect("an item on price_ProMonthly")
    };
    let before = app.data(query).await;
    assert_eq!(nickname_of_item(&before), json!("Pro monthly"));
    app.data(query).await;
    let calls = app.sandbox.total_calls();
    assert_eq!(calls, 2, "one call each, then cached");

    let delivery = app
        .sandbox
        .update("price", "price_ProMonthly", |p| {
            p["nickname"] = json!("Pro monthly (2027)")
        })
        .await
        .unwrap();

    assert_applied(&delivery, "price.updated");
    let after = app.data(query).await;
    assert_eq!(nickname_of_item(&after), json!("Pro monthly (2027)"));
    assert_eq!(after["price"]["nickname"], json!("Pro monthly (2027)"));
    assert_eq!(app.sandbox.calls_to("/v1/subscriptions/sub_AvaPro"), 2);
    assert_eq!(app.sandbox.calls_to("/v1/prices/price_ProMonthly"), 2);
}

#[tokio::test]
async fn deleting_a_customer_shows_right_after_its_webhooks() {
    let app = spawn_with_webhooks().await;
    let query = format!(
        "{{ customer(id: \"{AVA}\") {{ id }} subscription(id: \"sub_AvaPro\") {{ status }} }}"
    );
    let before = app.data(&query).await;
    assert_eq!(before["customer"]["id"], json!(AVA));
    assert_eq!(before["subscription"]["status"], json!("active"));

    let deliveries = app.sandbox.delete_customer(AVA).await.unwrap();

    let types: Vec<&Value> = deliveries.iter().map(|d| &d.event["type"]).collect();
    assert_eq!(
        types,
        [
            &json!("customer.subscription.deleted"),
            &json!("customer.deleted")
        ]
    );
    assert_applied(&deliveries[0], "customer.subscription.deleted");
    assert_applied(&deliveries[1], "customer.deleted");
    let after = app.data(&query).await;
    assert_eq!(after["customer"], Value::Null);
    assert_eq!(after["subscription"]["status"], json!("canceled"));
}

#[tokio::test]
async fn a_customer_changed_through_the_sandbox_api_is_fresh_when_the_call_returns() {
    let app = spawn_with_webhooks().await;
    app.data(&name_query(AVA)).await;

    let answer = app
        .http
        .post(format!("{}/v1/customers/{AVA}", app.sandbox.base_url()))
        .bearer_auth(KEY)
        .form(&[("name", "Ava via API"), ("metadata[plan]", "team")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["name"],
        json!("Ava via API")
    );

    let fresh = app.data(&name_query(AVA)).await;
    assert_eq!(fresh["customer"]["name"], json!("Ava via API"));
    assert_eq!(fresh["customer"]["metadata"]["plan"], json!("team"));
}

#[tokio::test]
async fn the_demo_sandbox_sends_its_webhooks_to_the_demo_server() {
    let mut config = test_config("http://127.0.0.1:9", KEY);
    config.upstream = Upstream::DemoSandbox;
    let app = Application::build(config).await.expect("demo builds");
    let graphql = format!("http://{}/graphql", app.local_addr());
    let sandbox = app.sandbox().expect("demo mode has a sandbox").base_url();
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let before = query_data(&http, &graphql, &name_query(AVA)).await;
    assert_eq!(before["customer"]["name"], json!("Ava Martinez"));

    let answer = http
        .post(format!("{sandbox}/v1/customers/{AVA}"))
        .bearer_auth(DEMO_KEY)
        .form(&[("name", "Ava (demo edit)")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    let after = query_data(&http, &graphql, &name_query(AVA)).await;
    assert_eq!(after["customer"]["name"], json!("Ava (demo edit)"));
}

#[tokio::test]
async fn an_oversized_webhook_body_is_refused() {
    let app = spawn_with_webhooks().await;
    let body = vec![b' '; 1024 * 1024 + 1];
    let signature = signature_header(SECRET, unix_now(), &body);

    let delivery = app
        .sandbox
        .post_webhook(&body, Some(&signature))
        .await
        .unwrap();

    assert_eq!(delivery.status, 413);
    assert_eq!(delivery.answer["error"]["code"], json!("PAYLOAD_TOO_LARGE"));
}

#[tokio::test]
async fn the_webhook_secret_never_appears_in_a_response_or_the_config() {
    let app = spawn_with_webhooks().await;
    let body = ava_updated_body();
    let t = unix_now();
    let expected = signature_header(SECRET, t, &body);
    let expected_hex = expected.split_once("v1=").unwrap().1.to_owned();
    let mut answers = Vec::new();
    for signature in [
        Some(signature_header("whsec_wrong", t, &body)),
        Some(signature_header(SECRET, t - 3600, &body)),
        Some(format!("t={t},v1={}", "0".repeat(64))),
        Some("t=oops".to_owned()),
        None,
    ] {
        let delivery = app
            .sandbox
            .post_webhook(&body, signature.as_deref())
            .await
            .unwrap();
        assert_eq!(delivery.status, 400);
        answers.push(delivery.answer);
    }
    answers.push(
        app.sandbox
            .update("customer", AVA, |c| c["name"] = json!("x"))
            .await
            .unwrap()
            .answer,
    );
    answers.push(
        app.sandbox
            .emit("customer.updated", json!({}))
            .await
            .unwrap()
            .answer,
    );
    for answer in &answers {
        let shown = answer.to_string();
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("api_suite_webhook"), "{shown}");
        assert!(!shown.contains(&expected_hex), "{shown}");
    }

    let mut config = test_config("http://127.0.0.1:9", KEY);
    config.webhook = webhook_settings();
    let shown = format!("{config:?}");
    assert!(!shown.contains("api_suite_webhook"), "{shown}");
}

#[tokio::test]
async fn a_webhook_for_one_customer_leaves_another_cached() {
    let app = spawn_with_webhooks().await;
    app.data(&name_query(AVA)).await;
    app.data(&name_query(BEN)).await;
    let ben = format!("/v1/customers/{BEN}");
    assert_eq!(app.sandbox.calls_to(&ben), 1);

    let delivery = app
        .sandbox
        .update("customer", AVA, |c| c["name"] = json!("Ava Alone"))
        .await
        .unwrap();
    assert_applied(&delivery, "customer.updated");

    assert_eq!(
        app.data(&name_query(AVA)).await["customer"]["name"],
        json!("Ava Alone")
    );
    assert_eq!(
        app.data(&name_query(BEN)).await["customer"]["name"],
        json!("Ben Carter")
    );
    assert_eq!(app.sandbox.calls_to(&ben), 1, "Ben stayed cached");
    assert_eq!(app.sandbox.calls_to(&format!("/v1/customers/{AVA}")), 2);
}
