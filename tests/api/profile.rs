//! The Unified Customer Profile: `ensureStripeCustomer`, `POST /hasura/events`, lifecycle
//! dates from Stripe webhooks and `duplicateStripeCustomers`, against the sandbox and a
//! recorded Hasura GraphQL endpoint ([`crate::fake_hasura`]).

use std::time::Duration;

use serde_json::{json, Value};
use stripe_graphql::{
    clock::unix_now,
    events::{WebhookSettings, DEFAULT_TOLERANCE},
    profile::hasura::HasuraSettings,
    secret::SecretString,
};
use stripe_sandbox::{demo::AVA, webhooks::signature_header, Delivery};

use crate::{
    fake_hasura::{FakeHasura, Profile},
    helpers::{error_code, spawn_app_with, TestApp},
};

const TOKEN: &str = "profile-suite-token-0123456789";
const ADMIN_SECRET: &str = "hasura-admin-secret-for-the-suite";
const WEBHOOK_SECRET: &str = "whsec_profile_suite_secret_77";
/// Ava's `metadata.sso` in the demo data.
const AVA_SSO: &str = "6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60";
const JANE: &str = "0b7e8d7c-1111-4c1e-9a52-3f1c5d2e7a10";

/// The server with a token, webhooks, and the profile write-back pointed at `hasura`.
async fn app_with_hasura(hasura: &FakeHasura) -> TestApp {
    app_with_hasura_reading_phones_in(hasura, None).await
}

/// As [`app_with_hasura`], with `PHONE_DEFAULT_REGION` set to `region`.
async fn app_with_hasura_reading_phones_in(hasura: &FakeHasura, region: Option<&str>) -> TestApp {
    let url = hasura.url();
    let region = region.map(|r| stripe_graphql::profile::phone::Region::parse(r).unwrap());
    let app = spawn_app_with(move |o| {
        o.config.http.auth_token = Some(SecretString::new(TOKEN));
        o.config.webhook = Some(WebhookSettings {
            secret: SecretString::new(WEBHOOK_SECRET),
            tolerance: DEFAULT_TOLERANCE,
        });
        o.config.hasura = Some(HasuraSettings {
            url: url.parse().unwrap(),
            admin_secret: SecretString::new(ADMIN_SECRET),
            timeout: Duration::from_secs(10),
            phone_default_region: region,
        });
    })
    .await;
    app.sandbox
        .send_webhooks_to(&format!("{}/webhooks/stripe", app.base), WEBHOOK_SECRET);
    app
}

async fn graphql(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> Value {
    let mut request = app
        .http
        .post(format!("{}/graphql", app.base))
        .bearer_auth(TOKEN)
        .json(&json!({ "query": query }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().json().await.unwrap()
}

fn ensure(sso: &str) -> String {
    format!("mutation {{ ensureStripeCustomer(ssoId: \"{sso}\") {{ id name email metadata }} }}")
}

/// Stripe customers in the sandbox whose `metadata.sso` is `sso`.
fn stripe_customers_for(app: &TestApp, sso: &str) -> Vec<Value> {
    app.sandbox.with_store(|s| {
        s.objects("customer")
            .filter(|c| c["metadata"]["sso"] == json!(sso) && c["deleted"] != json!(true))
            .cloned()
            .collect()
    })
}

fn creates(app: &TestApp) -> Vec<stripe_sandbox::Call> {
    app.sandbox
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path == "/v1/customers")
        .collect()
}

#[tokio::test]
async fn a_profile_gets_one_stripe_customer_named_by_the_rule_and_linked_through_the_sync_role() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    let mut jane = Profile::new(JANE, "Jane", "Doe", "jane@example.com");
    jane.temporary_subscription_plan = Some("pro-monthly".into());
    hasura.insert(jane);
    let app = app_with_hasura(&hasura).await;

    let body = graphql(&app, &ensure(JANE), &[]).await;
    assert!(body.get("errors").is_none(), "{body}");
    let customer = &body["data"]["ensureStripeCustomer"];
    let id = customer["id"].as_str().unwrap().to_owned();
    assert_eq!(customer["name"], json!("Jane Doe"));
    assert_eq!(customer["email"], json!("jane@example.com"));
    assert_eq!(customer["metadata"], json!({ "sso": JANE }));

    let linked = hasura.profile(JANE).unwrap();
    assert_eq!(linked.stripe_customer_id.as_deref(), Some(id.as_str()));
    assert_eq!(linked.temporary_subscription_plan, None, "cleared on link");
    let create = &creates(&app)[0];
    assert_eq!(
        create.idempotency_key.as_deref(),
        Some(format!("profile-customer-{JANE}").as_str())
    );
    for request in hasura.requests() {
        assert!(request.admin_secret_ok, "{request:?}");
        assert_eq!(request.role.as_deref(), Some("stripe_sync"), "{request:?}");
    }
    let operations: Vec<_> = hasura
        .requests()
        .into_iter()
        .map(|r| r.operation_name.unwrap_or_default())
        .collect();
    assert_eq!(operations, ["StripeSyncProfile", "StripeSyncLink"]);

    // Again: the linked customer is answered; nothing is searched, created or written.
    app.sandbox.reset_calls();
    let again = graphql(&app, &ensure(JANE), &[]).await;
    assert_eq!(again["data"]["ensureStripeCustomer"]["id"], json!(id));
    assert!(creates(&app).is_empty());
    assert_eq!(hasura.requests_for("StripeSyncLink").len(), 1);
}

#[tokio::test]
async fn the_name_rule_uses_either_name_alone_and_a_dash_for_none() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    let cases = [
        ("11111111-1111-4111-8111-111111111111", "", "Doe", "Doe"),
        ("22222222-2222-4222-8222-222222222222", "Jane", " ", "Jane"),
        ("33333333-3333-4333-8333-333333333333", "", "", "-"),
    ];
    for (sso, first, last, _) in cases {
        hasura.insert(Profile::new(sso, first, last, "x@example.com"));
    }
    let app = app_with_hasura(&hasura).await;
    for (sso, _, _, name) in cases {
        let body = graphql(&app, &ensure(sso), &[]).await;
        assert_eq!(
            body["data"]["ensureStripeCustomer"]["name"],
            json!(name),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_stripe_customer_that_already_names_the_profile_is_linked_not_created() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    hasura.insert(Profile::new(AVA_SSO, "Ava", "Martinez", "ava@example.com"));
    let app = app_with_hasura(&hasura).await;
    let body = graphql(&app, &ensure(AVA_SSO), &[]).await;
    assert_eq!(
        body["data"]["ensureStripeCustomer"]["id"],
        json!(AVA),
        "{body}"
    );
    assert!(creates(&app).is_empty());
    let search = app
        .sandbox
        .calls()
        .into_iter()
        .find(|c| c.path == "/v1/customers/search")
        .expect("searched by metadata.sso");
    assert!(search.query.contains("metadata"), "{}", search.query);
    assert_eq!(
        hasura
            .profile(AVA_SSO)
            .unwrap()
            .stripe_customer_id
            .as_deref(),
        Some(AVA)
    );
}

#[tokio::test]
async fn racing_ensures_and_redelivered_insert_events_make_one_stripe_customer() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    hasura.insert(Profile::new(JANE, "Jane", "Doe", "jane@example.com"));
    let app = app_with_hasura(&hasura).await;
    let insert = insert_event("evt-insert-1", JANE);

    // Every profile read waits until all six calls have asked: they race from there.
    hasura.hold();
    let mut racing = Vec::new();
    for i in 0..6 {
        let (base, http) = (app.base.clone(), app.http.clone());
        let insert = insert.clone();
        racing.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let body: Value = http
                    .post(format!("{base}/graphql"))
                    .bearer_auth(TOKEN)
                    .json(&json!({ "query": ensure(JANE) }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                body["data"]["ensureStripeCustomer"]["id"].clone()
            } else {
                let answer: Value = http
                    .post(format!("{base}/hasura/events"))
                    .bearer_auth(TOKEN)
                    .json(&insert)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                answer["stripeCustomerId"].clone()
            }
        }));
    }
    hasura.wait_until_held(6).await;
    hasura.release();
    let mut ids = Vec::new();
    for call in racing {
        ids.push(call.await.unwrap());
    }
    let customers = stripe_customers_for(&app, JANE);
    assert_eq!(customers.len(), 1, "one Stripe customer: {customers:?}");
    let id = customers[0]["id"].clone();
    assert!(ids.iter().all(|answered| *answered == id), "{ids:?}");
    assert_eq!(
        hasura.profile(JANE).unwrap().stripe_customer_id,
        id.as_str().map(str::to_owned)
    );
    // Every create that was sent carried the same key.
    let keys: std::collections::BTreeSet<_> = creates(&app)
        .into_iter()
        .map(|c| c.idempotency_key)
        .collect();
    assert!(keys.len() <= 1, "{keys:?}");
}

fn insert_event(id: &str, sso: &str) -> Value {
    json!({
        "id": id, "created_at": "2026-11-27T05:00:00.000Z",
        "trigger": {"name": "customers_stripe_sync"},
        "table": {"schema": "public", "name": "customers"},
        "delivery_info": {"max_retries": 5, "current_retry": 0},
        "event": {"op": "INSERT", "session_variables": {"x-hasura-role": "admin"},
                  "data": {"old": null, "new": {"sso_id": sso, "firstName": "Jane", "lastName": "Doe",
                                                "email": "jane@example.com", "stripe_customer_id": null}}}
    })
}

async fn deliver(app: &TestApp, event: &Value, token: Option<&str>) -> (u16, Value) {
    let (status, _, answer) = deliver_reading_retry_after(app, event, token).await;
    (status, answer)
}

/// Delivers `event` as Hasura does; the status, the `Retry-After` header and the body.
async fn deliver_reading_retry_after(
    app: &TestApp,
    event: &Value,
    token: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = app
        .http
        .post(format!("{}/hasura/events", app.base))
        .json(event);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        response.status().as_u16(),
        retry_after,
        response.json().await.unwrap(),
    )
}

#[tokio::test]
async fn hasura_events_create_on_insert_follow_renames_and_redeliveries_change_nothing_new() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    hasura.insert(Profile::new(JANE, "Jane", "Doe", "jane@example.com"));
    let app = app_with_hasura(&hasura).await;

    let insert = insert_event("evt-1", JANE);
    let (status, answer) = deliver(&app, &insert, Some(TOKEN)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], json!("created"));
    let id = answer["stripeCustomerId"].as_str().unwrap().to_owned();
    let (status, again) = deliver(&app, &insert, Some(TOKEN)).await;
    assert_eq!(
        (status, &again["outcome"]),
        (200, &json!("linked")),
        "{again}"
    );
    assert_eq!(stripe_customers_for(&app, JANE).len(), 1);

    // The profile is renamed: the Stripe customer follows, once, even if Hasura redelivers.
    let update = json!({
        "id": "evt-2", "table": {"schema": "public", "name": "customers"},
        "trigger": {"name": "customers_stripe_sync"},
        "event": {"op": "UPDATE", "data": {
            "old": {"sso_id": JANE, "firstName": "Jane", "lastName": "Doe", "email": "jane@example.com", "stripe_customer_id": id},
            "new": {"sso_id": JANE, "firstName": "Jane", "lastName": "Roe", "email": "jane@example.com", "stripe_customer_id": id}}}
    });
    for _ in 0..2 {
        let (status, answer) = deliver(&app, &update, Some(TOKEN)).await;
        assert_eq!(
            (status, &answer["outcome"]),
            (200, &json!("updated")),
            "{answer}"
        );
    }
    assert_eq!(app.stored("customer", &id)["name"], json!("Jane Roe"));
    let renames: Vec<_> = app
        .sandbox
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path == format!("/v1/customers/{id}"))
        .collect();
    assert_eq!(renames.len(), 2);
    assert!(renames
        .iter()
        .all(|c| c.idempotency_key.as_deref() == Some("profile-event-evt-2")));
    assert_eq!(
        renames[0].form,
        [("name".to_owned(), "Jane Roe".to_owned())]
    );

    // A profile that is gone: nothing to do, and Hasura need not retry.
    let gone = insert_event("evt-3", "44444444-4444-4444-8444-444444444444");
    let (status, answer) = deliver(&app, &gone, Some(TOKEN)).await;
    assert_eq!((status, &answer["outcome"]), (200, &json!("no_profile")));
}

#[tokio::test]
async fn hasura_events_need_the_token_a_customers_payload_and_a_working_hasura() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    hasura.insert(Profile::new(JANE, "Jane", "Doe", "jane@example.com"));
    let app = app_with_hasura(&hasura).await;
    let insert = insert_event("evt-1", JANE);
    assert_eq!(deliver(&app, &insert, None).await.0, 401);
    assert_eq!(deliver(&app, &insert, Some("wrong")).await.0, 401);
    let mut other = insert.clone();
    other["table"]["name"] = json!("returns");
    let (status, answer) = deliver(&app, &other, Some(TOKEN)).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("INVALID_EVENT"))
    );
    let (status, _) = deliver(&app, &json!({"not": "an event"}), Some(TOKEN)).await;
    assert_eq!(status, 400);
    hasura.fail_next(1, 502);
    let (status, answer) = deliver(&app, &insert, Some(TOKEN)).await;
    assert_eq!(status, 503, "Hasura retries: {answer}");
    assert!(stripe_customers_for(&app, JANE).is_empty());
    assert_eq!(deliver(&app, &insert, Some(TOKEN)).await.0, 200);
    assert_eq!(stripe_customers_for(&app, JANE).len(), 1);

    // Without Hasura configured the endpoint says so (a person must configure it: no
    // Retry-After, which would have Hasura retry for ever).
    let plain = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;
    let (status, retry_after, answer) =
        deliver_reading_retry_after(&plain, &insert, Some(TOKEN)).await;
    assert_eq!(
        (status, retry_after, &answer["error"]["code"]),
        (503, None, &json!("HASURA_NOT_CONFIGURED"))
    );
    let body = graphql(&plain, &ensure(JANE), &[]).await;
    assert_eq!(error_code(&body), "HASURA_NOT_CONFIGURED", "{body}");
}

/// A profile as Hasura's event carries it: its columns, phone ones included.
fn profile_row(sso: &str, phone: Option<&str>, country: Option<&str>, e164: Option<&str>) -> Value {
    json!({"sso_id": sso, "firstName": "Pat", "lastName": "Lee", "email": "pat@example.com",
           "stripe_customer_id": null, "phone": phone, "country": country, "phone_e164": e164})
}

fn event_of(id: &str, op: &str, old: Value, new: Value) -> Value {
    json!({
        "id": id, "created_at": "2026-11-27T05:00:00.000",
        "trigger": {"name": "customers_stripe_sync"},
        "table": {"schema": "public", "name": "customers"},
        "event": {"op": op, "data": {"old": old, "new": new}},
    })
}

#[tokio::test]
async fn a_profiles_phone_is_kept_in_e164_read_in_its_country_or_the_default_region() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    let app = app_with_hasura_reading_phones_in(&hasura, Some("US")).await;
    // (sso, phone, country, phone_e164 before, phone_e164 after)
    let cases = [
        (
            "11111111-1111-4111-8111-111111111111",
            "+1 (415) 555-0101",
            None,
            None,
            Some("+14155550101"),
        ),
        // A national number on a profile without a country: read in PHONE_DEFAULT_REGION.
        (
            "11111111-1111-4111-8111-111111111112",
            "415-555-0101",
            None,
            None,
            Some("+14155550101"),
        ),
        (
            "11111111-1111-4111-8111-111111111113",
            "020 7946 0958",
            Some("GB"),
            None,
            Some("+442079460958"),
        ),
        (
            "11111111-1111-4111-8111-111111111114",
            "(030) 123-45-67",
            Some("DE"),
            None,
            Some("+49301234567"),
        ),
        (
            "11111111-1111-4111-8111-111111111115",
            "03-1234-5678",
            Some("JP"),
            None,
            Some("+81312345678"),
        ),
        // An international number keeps its own country whatever the profile's.
        (
            "11111111-1111-4111-8111-111111111116",
            "+44 20 7946 0958",
            Some("US"),
            None,
            Some("+442079460958"),
        ),
        // Not a number any more: what it held is cleared.
        (
            "11111111-1111-4111-8111-111111111117",
            "call me",
            Some("US"),
            Some("+14155550199"),
            None,
        ),
    ];
    for (i, (sso, phone, country, before, after)) in cases.iter().enumerate() {
        let mut profile = Profile::new(sso, "Pat", "Lee", "pat@example.com");
        profile.phone = Some(phone.to_string());
        profile.country = country.map(str::to_owned);
        profile.phone_e164 = before.map(str::to_owned);
        hasura.insert(profile);
        let insert = event_of(
            &format!("evt-p{i}"),
            "INSERT",
            Value::Null,
            profile_row(sso, Some(phone), *country, *before),
        );
        let (status, answer) = deliver(&app, &insert, Some(TOKEN)).await;
        assert_eq!(status, 200, "{phone}: {answer}");
        let stored = hasura.profile(sso).unwrap();
        assert_eq!(
            stored.phone_e164.as_deref(),
            *after,
            "{phone} in {country:?}"
        );
    }
    // Written as the phone role only, through the suite's documents.
    let writes: Vec<_> = ["PhoneE164Profile", "PhoneE164Set", "PhoneE164Clear"]
        .iter()
        .flat_map(|op| hasura.requests_for(op))
        .collect();
    assert_eq!(
        writes.len(),
        7 + 6 + 1,
        "one read each, six sets, one clear"
    );
    assert!(writes
        .iter()
        .all(|r| r.role.as_deref() == Some("stripe_phone")));

    // A redelivery whose row is stale reads the profile, finds it right, and writes nothing.
    let sso = cases[0].0;
    let again = event_of(
        "evt-p0",
        "INSERT",
        Value::Null,
        profile_row(sso, Some(cases[0].1), None, None),
    );
    assert_eq!(deliver(&app, &again, Some(TOKEN)).await.0, 200);
    assert_eq!(hasura.requests_for("PhoneE164Set").len(), 6);
    // An event whose own row already agrees asks Hasura nothing about the phone.
    let reads = hasura.requests_for("PhoneE164Profile").len();
    let agreed = profile_row(sso, Some(cases[0].1), None, Some("+14155550101"));
    let update = event_of("evt-p8", "UPDATE", agreed.clone(), agreed);
    assert_eq!(deliver(&app, &update, Some(TOKEN)).await.0, 200);
    assert_eq!(hasura.requests_for("PhoneE164Profile").len(), reads);

    // An event handled after a newer change: the profile as it is now decides.
    let sso = cases[2].0;
    let mut moved = hasura.profile(sso).unwrap();
    moved.phone = Some("07911 123456".into());
    moved.phone_e164 = None;
    hasura.insert(moved);
    let late = event_of(
        "evt-p9",
        "UPDATE",
        profile_row(sso, Some("0000"), Some("GB"), None),
        profile_row(sso, Some("020 7946 0958"), Some("GB"), None),
    );
    assert_eq!(deliver(&app, &late, Some(TOKEN)).await.0, 200);
    assert_eq!(
        hasura.profile(sso).unwrap().phone_e164.as_deref(),
        Some("+447911123456")
    );
}

#[tokio::test]
async fn hasura_is_asked_to_come_again_only_for_failures_that_clear_on_their_own() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    hasura.insert(Profile::new(JANE, "Jane", "Doe", "jane@example.com"));
    let app = app_with_hasura(&hasura).await;
    let insert = insert_event("evt-1", JANE);
    let retry_after = Some(stripe_graphql::http::RETRY_AFTER_SECONDS.to_string());

    // Hasura failing, then Stripe failing: Hasura delivers again until it succeeds.
    hasura.fail_next(1, 502);
    let (status, after, answer) = deliver_reading_retry_after(&app, &insert, Some(TOKEN)).await;
    assert_eq!((status, &after), (503, &retry_after), "{answer}");
    assert_eq!(answer["error"]["code"], json!("UPSTREAM_FAILED"));
    app.fail_next(
        Some("/v1/customers/search"),
        stripe_sandbox::Fault::Status(503),
        3,
    );
    let (status, after, answer) = deliver_reading_retry_after(&app, &insert, Some(TOKEN)).await;
    assert_eq!((status, &after), (503, &retry_after), "{answer}");
    assert!(stripe_customers_for(&app, JANE).is_empty());
    assert_eq!(deliver(&app, &insert, Some(TOKEN)).await.0, 200);

    // A profile linked to a customer Stripe does not have: a person must look. Never a
    // Retry-After here: Hasura would retry it for ever.
    let mut linked = Profile::new(
        "22222222-2222-4222-8222-222222222222",
        "Lost",
        "Link",
        "lost@example.com",
    );
    linked.stripe_customer_id = Some("cus_GoneForGood".into());
    hasura.insert(linked);
    let gone = insert_event("evt-2", "22222222-2222-4222-8222-222222222222");
    let (status, after, answer) = deliver_reading_retry_after(&app, &gone, Some(TOKEN)).await;
    assert_eq!(
        (status, after, &answer["error"]["code"]),
        (409, None, &json!("PROFILE_LINK_CONFLICT"))
    );

    // Hasura refusing (here: another admin secret): retried per retry_conf, not for ever.
    let refusing = FakeHasura::start("another-admin-secret");
    let app = app_with_hasura(&refusing).await;
    let (status, after, answer) = deliver_reading_retry_after(&app, &insert, Some(TOKEN)).await;
    assert_eq!(
        (status, after, &answer["error"]["code"]),
        (502, None, &json!("UPSTREAM_REFUSED")),
        "{answer}"
    );
    // A payload that is not an event: no Retry-After either.
    let (status, after, _) =
        deliver_reading_retry_after(&app, &json!({"not": "an event"}), Some(TOKEN)).await;
    assert_eq!((status, after), (400, None));
}

#[tokio::test]
async fn a_hasura_event_time_without_a_zone_is_read_as_utc() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    hasura.insert(Profile::new(JANE, "Jane", "Doe", "jane@example.com"));
    let app = app_with_hasura(&hasura).await;
    let mut insert = insert_event("evt-1", JANE);
    // As Hasura writes it: a local timestamp without a zone designator.
    insert["created_at"] = json!("2026-11-27T05:00:00.123456");
    let (status, answer) = deliver(&app, &insert, Some(TOKEN)).await;
    assert_eq!(
        (status, &answer["outcome"]),
        (200, &json!("created")),
        "{answer}"
    );
    let event = stripe_graphql::profile::ProfileEvent::parse(&serde_json::to_vec(&insert).unwrap())
        .unwrap();
    assert_eq!(event.created_at(), Some(1_795_755_600));
}

#[tokio::test]
async fn ensure_refuses_bad_ids_unknown_profiles_and_readers_and_maps_hasura_refusals() {
    let hasura = FakeHasura::start("another-secret");
    let app = app_with_hasura(&hasura).await;
    let body = graphql(&app, &ensure("not-a-uuid"), &[]).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = graphql(&app, &ensure(JANE), &[("x-hasura-role", "user")]).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert!(hasura.requests().is_empty(), "refused before any call");
    // The fake was started with another secret: Hasura's access-denied.
    let body = graphql(&app, &ensure(JANE), &[]).await;
    assert_eq!(error_code(&body), "HASURA_REFUSED", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["hasuraCode"],
        json!("access-denied")
    );
    let message = body.to_string();
    assert!(!message.contains(ADMIN_SECRET));

    let hasura = FakeHasura::start(ADMIN_SECRET);
    let app = app_with_hasura(&hasura).await;
    let body = graphql(&app, &ensure(JANE), &[]).await;
    assert_eq!(error_code(&body), "PROFILE_NOT_FOUND", "{body}");
    assert_eq!(app.stripe_calls(), 0);
}

/// A signed `customer.subscription.*` event for Ava's subscription, delivered by the sandbox.
async fn subscription_event(
    app: &TestApp,
    id: &str,
    kind: &str,
    created: i64,
    status: &str,
    price: &str,
    previous: Value,
) -> Delivery {
    let body = serde_json::to_vec(&json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "data": {
            "object": {"id": "sub_AvaPro", "object": "subscription", "customer": AVA, "status": status,
                       "items": {"data": [{"id": "si_AvaPro", "price": {"id": price}}]}},
            "previous_attributes": previous,
        },
    }))
    .unwrap();
    let signature = signature_header(WEBHOOK_SECRET, unix_now(), &body);
    app.sandbox
        .post_webhook(&body, Some(&signature))
        .await
        .expect("delivered")
}

#[tokio::test]
async fn lifecycle_dates_follow_stripe_events_in_created_order_and_replays_change_nothing() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    let mut ava = Profile::new(AVA_SSO, "Ava", "Martinez", "ava@example.com");
    ava.stripe_customer_id = Some(AVA.into());
    hasura.insert(ava);
    let app = app_with_hasura(&hasura).await;
    let t = 1_800_000_000;
    let p = "price_ProMonthly";

    let d = subscription_event(
        &app,
        "evt_a",
        "customer.subscription.created",
        t,
        "active",
        p,
        json!(null),
    )
    .await;
    assert_eq!(d.status, 200, "{d:?}");
    assert_eq!(hasura.profile(AVA_SSO).unwrap().activation_date, Some(t));

    // Past due at t+300; an older recovery (t+200) delivered late changes nothing.
    let past_due = subscription_event(
        &app,
        "evt_b",
        "customer.subscription.updated",
        t + 300,
        "past_due",
        p,
        json!({"status": "active"}),
    )
    .await;
    assert_eq!(past_due.status, 200, "{past_due:?}");
    let late = subscription_event(
        &app,
        "evt_c",
        "customer.subscription.updated",
        t + 200,
        "active",
        p,
        json!({"status": "past_due"}),
    )
    .await;
    assert_eq!(late.status, 200);
    let profile = hasura.profile(AVA_SSO).unwrap();
    assert_eq!(
        profile.delinquency_date,
        Some(t + 300),
        "the older event lost"
    );
    assert_eq!(
        profile.activation_date,
        Some(t),
        "the earliest activation stays"
    );
    // A replay of the past-due event changes nothing.
    let replay = subscription_event(
        &app,
        "evt_b",
        "customer.subscription.updated",
        t + 300,
        "past_due",
        p,
        json!({"status": "active"}),
    )
    .await;
    assert_eq!(replay.status, 200);
    assert_eq!(hasura.profile(AVA_SSO).unwrap(), profile);

    // Recovery at t+400 clears it.
    subscription_event(
        &app,
        "evt_d",
        "customer.subscription.updated",
        t + 400,
        "active",
        p,
        json!({"status": "past_due"}),
    )
    .await;
    assert_eq!(hasura.profile(AVA_SSO).unwrap().delinquency_date, None);

    // A price change at t+600; an older one (t+500) delivered late changes nothing; a
    // quantity-only change is no plan change.
    let old_items = json!({"items": {"data": [{"id": "si_AvaPro", "price": {"id": "price_EssentialsMonthly"}}]}});
    subscription_event(
        &app,
        "evt_e",
        "customer.subscription.updated",
        t + 600,
        "active",
        p,
        old_items.clone(),
    )
    .await;
    subscription_event(
        &app,
        "evt_f",
        "customer.subscription.updated",
        t + 500,
        "active",
        p,
        old_items,
    )
    .await;
    subscription_event(
        &app,
        "evt_g",
        "customer.subscription.updated",
        t + 700,
        "active",
        p,
        json!({"items": {"data": [{"id": "si_AvaPro", "price": {"id": p}, "quantity": 3}]}}),
    )
    .await;
    assert_eq!(
        hasura.profile(AVA_SSO).unwrap().plan_change_date,
        Some(t + 600)
    );

    for request in hasura.requests() {
        assert_eq!(
            request.role.as_deref(),
            Some("stripe_lifecycle"),
            "{request:?}"
        );
    }
}

#[tokio::test]
async fn a_failed_date_update_answers_500_so_stripe_delivers_the_event_again() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    let mut ava = Profile::new(AVA_SSO, "Ava", "Martinez", "ava@example.com");
    ava.stripe_customer_id = Some(AVA.into());
    hasura.insert(ava);
    let app = app_with_hasura(&hasura).await;
    let t = 1_800_000_000;
    hasura.fail_next(1, 500);
    let d = subscription_event(
        &app,
        "evt_x",
        "customer.subscription.updated",
        t,
        "past_due",
        "price_ProMonthly",
        json!({"status": "active"}),
    )
    .await;
    assert_eq!(d.status, 500, "{d:?}");
    assert_eq!(d.answer["error"]["code"], json!("PROFILE_UPDATE_FAILED"));
    assert_eq!(hasura.profile(AVA_SSO).unwrap().delinquency_date, None);
    let again = subscription_event(
        &app,
        "evt_x",
        "customer.subscription.updated",
        t,
        "past_due",
        "price_ProMonthly",
        json!({"status": "active"}),
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(hasura.profile(AVA_SSO).unwrap().delinquency_date, Some(t));
}

#[tokio::test]
async fn duplicate_stripe_customers_are_found_by_email_or_sso_oldest_first() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    let app = app_with_hasura(&hasura).await;
    let mut created = Vec::new();
    for name in ["First", "Second"] {
        let body = graphql(
            &app,
            &format!("mutation {{ createCustomer(email: \"dup@example.com\", name: \"{name}\", metadata: {{sso: \"{JANE}\"}}) {{ id }} }}"),
            &[],
        )
        .await;
        created.push(body["data"]["createCustomer"]["id"].clone());
    }
    for argument in ["email: \"dup@example.com\"", &format!("ssoId: \"{JANE}\"")] {
        let body = graphql(
            &app,
            &format!("{{ duplicateStripeCustomers({argument}) {{ id name }} }}"),
            &[],
        )
        .await;
        let found = body["data"]["duplicateStripeCustomers"]
            .as_array()
            .unwrap()
            .clone();
        let ids: Vec<_> = found.iter().map(|c| c["id"].clone()).collect();
        assert_eq!(ids.len(), 2, "{body}");
        assert!(created.iter().all(|id| ids.contains(id)), "{body}");
    }
    let body = graphql(&app, "{ duplicateStripeCustomers { id } }", &[]).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = graphql(
        &app,
        "{ duplicateStripeCustomers(email: \"dup@example.com\") { id } }",
        &[("x-hasura-role", "user"), ("x-hasura-user-id", JANE)],
    )
    .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

fn link_event(id: &str, sso: &str, old_link: Option<&str>, new_link: &str) -> Value {
    json!({
        "id": id, "table": {"schema": "public", "name": "customers"},
        "trigger": {"name": "customers_stripe_sync"},
        "event": {"op": "UPDATE", "data": {
            "old": {"sso_id": sso, "firstName": "Jane", "lastName": "Doe", "email": "jane@example.com", "stripe_customer_id": old_link},
            "new": {"sso_id": sso, "firstName": "Jane", "lastName": "Doe", "email": "jane@example.com", "stripe_customer_id": new_link}}}
    })
}

#[tokio::test]
async fn a_link_moved_by_a_merge_makes_the_stripe_customer_name_the_kept_profile() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    hasura.insert(Profile::new(JANE, "Jane", "Doe", "jane@example.com"));
    let app = app_with_hasura(&hasura).await;

    // The write-back's own event: the customer already names the profile; nothing to write.
    let (_, answer) = deliver(&app, &insert_event("evt-1", JANE), Some(TOKEN)).await;
    let id = answer["stripeCustomerId"].as_str().unwrap().to_owned();
    app.sandbox.reset_calls();
    let (status, answer) = deliver(&app, &link_event("evt-2", JANE, None, &id), Some(TOKEN)).await;
    assert_eq!(
        (status, &answer["outcome"]),
        (200, &json!("unchanged")),
        "{answer}"
    );
    assert!(app.sandbox.calls().iter().all(|c| c.method == "GET"));

    // A merge moved Ava's customer (metadata.sso = Ava's uuid) to Jane's profile.
    let (status, answer) = deliver(&app, &link_event("evt-3", JANE, None, AVA), Some(TOKEN)).await;
    assert_eq!(
        (status, &answer["outcome"]),
        (200, &json!("updated")),
        "{answer}"
    );
    assert_eq!(app.stored("customer", AVA)["metadata"]["sso"], json!(JANE));
    let write = app
        .sandbox
        .calls()
        .into_iter()
        .find(|c| c.method == "POST")
        .unwrap();
    assert_eq!(write.form, [("metadata[sso]".to_owned(), JANE.to_owned())]);
}
