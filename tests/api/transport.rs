//! What every route shares: GET and POST build the same request data, every POST route reads
//! its body through one bound and answers a JSON 413 past it, and no answer carries an empty
//! `errors`.

use std::time::Duration;

use futures::stream;
use serde_json::{json, Value};
use stripe_graphql::{
    events::{WebhookSettings, DEFAULT_TOLERANCE},
    profile::hasura::HasuraSettings,
    secret::SecretString,
};
use stripe_sandbox::demo::{AVA, BEN};

use crate::{
    fake_hasura::FakeHasura,
    helpers::{spawn_app_over_with, spawn_app_with, TestApp},
};

const TOKEN: &str = "transport-suite-token-31";
const ADMIN_SECRET: &str = "transport-suite-admin-secret";
const WEBHOOK_SECRET: &str = "whsec_transport_suite";
/// Ava's profile id under the custom metadata key.
const PROFILE: &str = "9d3f6a10-5b1c-4c7e-8f2a-6e5d4c3b2a19";

async fn get(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> Value {
    let mut request = app
        .http
        .get(format!("{}/graphql", app.base))
        .query(&[("query", query)])
        .bearer_auth(TOKEN);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn post(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> Value {
    let mut request = app
        .http
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": query }))
        .bearer_auth(TOKEN);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_query_answers_the_same_over_get_and_post() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    let url = hasura.url();
    let app = spawn_app_over_with(
        |store| {
            store.update("customer", AVA, |c| {
                c["metadata"]["profile_id"] = json!(PROFILE);
            });
        },
        move |o| {
            o.config.http.auth_token = Some(SecretString::new(TOKEN));
            o.config.http.scoping.metadata_key = "profile_id".into();
            o.config.limits.max_stripe_fields = 3;
            o.config.hasura = Some(HasuraSettings {
                url: url.parse().unwrap(),
                admin_secret: SecretString::new(ADMIN_SECRET),
                timeout: Duration::from_secs(5),
                phone_default_region: None,
            });
        },
    )
    .await;
    let user = [("x-hasura-role", "user"), ("x-hasura-user-id", PROFILE)];
    let stranger = [
        ("x-hasura-role", "user"),
        ("x-hasura-user-id", "00000000-0000-4000-8000-000000000000"),
    ];
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&str, String, Headers); 6] = [
        // The profile lookup by the configured metadata key.
        (
            "duplicates by sso",
            format!("{{ duplicateStripeCustomers(ssoId: \"{PROFILE}\") {{ id }} }}"),
            &[],
        ),
        // Scoping on the configured key: the user's own customer, and someone else's.
        (
            "own customer",
            format!("{{ customer(id: \"{AVA}\") {{ id }} }}"),
            &user,
        ),
        (
            "another's customer",
            format!("{{ customer(id: \"{BEN}\") {{ id }} }}"),
            &user,
        ),
        (
            "stranger",
            format!("{{ customer(id: \"{AVA}\") {{ id }} }}"),
            &stranger,
        ),
        // A scoped role is refused the lists.
        ("list", "{ customers { data { id } } }".to_owned(), &user),
        // The Stripe-field budget.
        (
            "budget",
            (0..4)
                .map(|i| format!("c{i}: customer(id: \"{AVA}\") {{ id }}"))
                .collect::<Vec<_>>()
                .join(" "),
            &[],
        ),
    ];
    for (name, query, headers) in cases {
        let query = if query.starts_with('{') {
            query
        } else {
            format!("{{ {query} }}")
        };
        let over_post = post(&app, &query, headers).await;
        let over_get = get(&app, &query, headers).await;
        assert_eq!(over_get, over_post, "{name}: {query}");
        // And each answers what it should, so the equality is not two equal failures.
        let expected = match name {
            "duplicates by sso" => json!({"duplicateStripeCustomers": [{"id": AVA}]}),
            "own customer" => json!({"customer": {"id": AVA}}),
            "another's customer" | "stranger" => json!({"customer": null}),
            "list" | "budget" => Value::Null,
            _ => unreachable!(),
        };
        assert_eq!(over_post["data"], expected, "{name}: {over_post}");
        let code = over_post["errors"][0]["extensions"]["code"].clone();
        match name {
            "list" => assert_eq!(code, json!("FORBIDDEN")),
            "budget" => assert_eq!(code, json!("QUERY_BUDGET_EXCEEDED")),
            _ => assert_eq!(code, Value::Null, "{name}: {over_post}"),
        }
    }
    // A mutation is refused over GET before anything runs, whoever asks.
    let mutation = format!("mutation {{ ensureStripeCustomer(ssoId: \"{PROFILE}\") {{ id }} }}");
    let refused = get(&app, &mutation, &[]).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        json!("FORBIDDEN")
    );
    assert!(
        hasura.requests().is_empty(),
        "no Hasura call for a GET mutation"
    );
}

/// The server with a small body bound, webhooks and the profile write-back on.
async fn with_body_bound(max_body_bytes: usize, hasura: &FakeHasura) -> TestApp {
    let url = hasura.url();
    spawn_app_with(move |o| {
        o.config.http.auth_token = Some(SecretString::new(TOKEN));
        o.config.http.max_body_bytes = max_body_bytes;
        o.config.webhook = Some(WebhookSettings {
            secret: SecretString::new(WEBHOOK_SECRET),
            tolerance: DEFAULT_TOLERANCE,
        });
        o.config.hasura = Some(HasuraSettings {
            url: url.parse().unwrap(),
            admin_secret: SecretString::new(ADMIN_SECRET),
            timeout: Duration::from_secs(5),
            phone_default_region: None,
        });
    })
    .await
}

const POST_ROUTES: [&str; 3] = ["/graphql", "/webhooks/stripe", "/hasura/events"];

/// The code in the route's own error envelope.
fn code_in(route: &str, body: &Value) -> Value {
    match route {
        "/graphql" => body["errors"][0]["extensions"]["code"].clone(),
        "/webhooks/stripe" => {
            assert_eq!(body["received"], json!(false), "{body}");
            body["error"]["code"].clone()
        }
        _ => body["error"]["code"].clone(),
    }
}

#[tokio::test]
async fn every_post_route_answers_an_oversized_body_with_a_json_413() {
    let hasura = FakeHasura::start(ADMIN_SECRET);
    let limit = 64 * 1024;
    let app = with_body_bound(limit, &hasura).await;
    let oversized = vec![b' '; 300 * 1024];
    for route in POST_ROUTES {
        // Announced by Content-Length, and streamed in chunks without one.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = oversized
            .chunks(16 * 1024)
            .map(|c| Ok(c.to_vec()))
            .collect();
        for body in [
            reqwest::Body::from(oversized.clone()),
            reqwest::Body::wrap_stream(stream::iter(chunks)),
        ] {
            let response = app
                .http
                .post(format!("{}{route}", app.base))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 413, "{route}");
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(content_type, "application/json", "{route}");
            let answer: Value = response.json().await.unwrap();
            assert_eq!(
                code_in(route, &answer),
                json!("PAYLOAD_TOO_LARGE"),
                "{route}"
            );
            let message = answer.to_string();
            assert!(
                message.contains(&format!("{limit} bytes")),
                "{route}: {message}"
            );
        }
    }
    assert!(hasura.requests().is_empty());
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn a_body_past_actixs_own_default_limit_but_under_the_bound_is_read_on_every_post_route() {
    // actix-web's default payload limit is 256 KiB; the bound here is 1 MiB.
    let hasura = FakeHasura::start(ADMIN_SECRET);
    let app = with_body_bound(1024 * 1024, &hasura).await;
    let padding = "x".repeat(300 * 1024);
    let graphql = json!({ "query": format!("# {padding}\n{{ __typename }}") });
    let event = json!({
        "id": "evt-big", "table": {"schema": "public", "name": "customers"},
        "trigger": {"name": "customers_stripe_sync"}, "padding": padding,
        "event": {"op": "UPDATE", "data": {"old": null, "new": null}},
    });
    for (route, body) in [("/graphql", graphql), ("/hasura/events", event)] {
        let response = app
            .http
            .post(format!("{}{route}", app.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{route}");
    }
    // The webhook: a signed body of the same size is read and verified.
    let body = serde_json::to_vec(&json!({
        "id": "evt_big", "object": "event", "type": "invoice.paid", "created": 1,
        "data": {"object": {"id": "in_1", "object": "invoice", "padding": padding}},
    }))
    .unwrap();
    let signature = stripe_sandbox::webhooks::signature_header(
        WEBHOOK_SECRET,
        stripe_graphql::clock::unix_now(),
        &body,
    );
    let response = app
        .http
        .post(format!("{}/webhooks/stripe", app.base))
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["outcome"], json!("ignored"), "{answer}");
}

#[tokio::test]
async fn no_answer_ever_carries_an_empty_errors_list() {
    let app = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;
    let queries = [
        "{ __typename }".to_owned(),
        format!("{{ customer(id: \"{AVA}\") {{ id email subscriptions {{ data {{ id }} }} }} }}"),
        "{ customer(id: \"cus_DoesNotExist\") { id } }".to_owned(),
        "{ prices { data { id } } }".to_owned(),
        "{ __schema { queryType { name } } }".to_owned(),
        "mutation { createCustomer(email: \"e@example.com\") { id } }".to_owned(),
        // An error answer has a non-empty list.
        "{ customer(id: 5) { id } }".to_owned(),
    ];
    let mut answers: Vec<Value> = Vec::new();
    for query in &queries {
        answers.push(post(&app, query, &[]).await);
        if !query.starts_with("mutation") {
            answers.push(get(&app, query, &[]).await);
        }
    }
    let batch = app
        .http
        .post(format!("{}/graphql", app.base))
        .bearer_auth(TOKEN)
        .json(&json!([{ "query": "{ __typename }" }, { "query": queries[1] }]))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    answers.extend(batch.as_array().unwrap().iter().cloned());
    let mut with_errors = 0;
    for answer in &answers {
        match answer.get("errors") {
            None => {}
            Some(Value::Array(errors)) if !errors.is_empty() => with_errors += 1,
            Some(other) => {
                panic!("`errors` must be absent or a non-empty list: {other} in {answer}")
            }
        }
    }
    // Only the malformed id, over POST and GET.
    assert_eq!(with_errors, 2, "{answers:#?}");
}
