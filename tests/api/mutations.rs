//! Mutations: who may write, argument checks before any call, and (with the sandbox's write
//! endpoints) the lifecycle, idempotency, retries and write-through freshness.

use serde_json::{json, Value};
use stripe_graphql::sandbox::demo;

use crate::helpers::{error_code, spawn_app_with, TestApp};

/// The bearer token the writer app is configured with.
const TOKEN: &str = "mutation-suite-token-0123456789";

/// The app with `GRAPHQL_AUTH_TOKEN` set, so mutations may run.
async fn writer_app() -> TestApp {
    spawn_app_with(|o| {
        o.config.http.auth_token = Some(stripe_graphql::secret::SecretString::new(TOKEN));
    })
    .await
}

/// POSTs `query` with `variables`, the token and extra headers; returns status and body.
async fn send(app: &TestApp, query: &str, variables: Value, headers: &[(&str, &str)]) -> Value {
    let mut request = app
        .http
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = &app.token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("server answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON body")
}

const CREATE_CUSTOMER: &str = "mutation($email: String, $metadata: JSON, $key: String) {
    createCustomer(email: $email, name: \"Jane Doe\", metadata: $metadata, idempotencyKey: $key) {
        id email name metadata
    }
}";

#[tokio::test]
async fn a_mutation_without_a_configured_token_is_forbidden_before_any_call() {
    let app = spawn_app_with(|_| {}).await;
    let body = send(
        &app,
        CREATE_CUSTOMER,
        json!({"email": "jane@example.com"}),
        &[],
    )
    .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("GRAPHQL_AUTH_TOKEN"), "{message}");
    assert_eq!(body["data"]["createCustomer"], Value::Null);
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn a_hasura_role_outside_the_writer_roles_is_forbidden_before_any_call() {
    let app = writer_app().await;
    for role in ["user", "anonymous", ""] {
        let body = send(
            &app,
            CREATE_CUSTOMER,
            json!({"email": "jane@example.com"}),
            &[("x-hasura-role", role), ("x-hasura-user-id", "u-1")],
        )
        .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{role}: {body}");
    }
    let cancel = format!(
        "mutation {{ cancelSubscription(id: \"{}\") {{ id status }} }}",
        "sub_AvaEssentials"
    );
    let body = send(&app, &cancel, json!({}), &[("x-hasura-role", "user")]).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn a_mutation_sent_with_get_is_forbidden() {
    let app = writer_app().await;
    let response = app
        .http
        .get(format!("{}/graphql", app.base))
        .query(&[(
            "query",
            "mutation { deleteCustomer(id: \"cus_AvaMartinez\") { id deleted } }",
        )])
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("POST"), "{message}");
    assert_eq!(app.stripe_calls(), 0);
}

/// Each invalid call, the `extensions.argument` it must name, and words of its message.
#[tokio::test]
async fn invalid_arguments_are_refused_naming_the_argument_before_any_call() {
    let app = writer_app().await;
    let cases: &[(&str, Value, &str, &str)] = &[
        (CREATE_CUSTOMER, json!({"email": "not-an-address"}), "email", "not an email"),
        (
            CREATE_CUSTOMER,
            json!({"metadata": {"sso": 42}}),
            "metadata.sso",
            "must be a string",
        ),
        (
            CREATE_CUSTOMER,
            json!({"metadata": {"a[b]": "x"}}),
            "metadata",
            "keys must be",
        ),
        (
            CREATE_CUSTOMER,
            json!({"email": "jane@example.com", "key": "has space"}),
            "idempotencyKey",
            "printable ASCII",
        ),
        (
            "mutation { updateCustomer(id: \"cus_AvaMartinez\") { id } }",
            json!({}),
            "id",
            "nothing to change",
        ),
        (
            "mutation { updateCustomer(id: \"sub_1\", name: \"x\") { id } }",
            json!({}),
            "id",
            "must start with `cus_`",
        ),
        (
            "mutation { updateCustomer(id: \"cus_1\", address: {country: \"Germany\"}) { id } }",
            json!({}),
            "address.country",
            "two-letter",
        ),
        (
            "mutation { createSubscription(customer: \"cus_AvaMartinez\", items: []) { id } }",
            json!({}),
            "items",
            "at least one",
        ),
        (
            "mutation { createSubscription(customer: \"cus_AvaMartinez\", items: [{quantity: 1}]) { id } }",
            json!({}),
            "items.0",
            "needs a `price`",
        ),
        (
            "mutation { createSubscription(customer: \"cus_AvaMartinez\", items: [{price: \"price_ProMonthly\", plan: \"price_ProMonthly\"}]) { id } }",
            json!({}),
            "items.0",
            "not both",
        ),
        (
            "mutation { createSubscription(customer: \"cus_AvaMartinez\", items: [{price: \"../customers\"}]) { id } }",
            json!({}),
            "items.0.price",
            "letters, digits",
        ),
        (
            "mutation { createSubscription(customer: \"cus_AvaMartinez\", items: [{price: \"price_ProMonthly\", quantity: -1}]) { id } }",
            json!({}),
            "items.0.quantity",
            "0 or more",
        ),
        (
            "mutation { createSubscription(customer: \"cus_AvaMartinez\", items: [{price: \"price_ProMonthly\"}], trialPeriodDays: 731) { id } }",
            json!({}),
            "trialPeriodDays",
            "1 to 730",
        ),
        (
            "mutation { updateSubscription(id: \"sub_1\", items: [{deleted: true}]) { id } }",
            json!({}),
            "items.0",
            "needs the item's `id`",
        ),
        (
            "mutation { cancelSubscription(id: \"sub_1\", atPeriodEnd: true, prorate: true) { id } }",
            json!({}),
            "atPeriodEnd",
            "immediate cancellation",
        ),
        (
            "mutation { pauseCollection(id: \"sub_1\", behavior: void, resumesAt: -5) { id } }",
            json!({}),
            "resumesAt",
            "Unix time",
        ),
    ];
    for (query, variables, argument, words) in cases {
        let body = send(&app, query, variables.clone(), &[]).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["argument"], json!(argument), "{body}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(words), "{query}: {message}");
    }
    let many_items: Vec<Value> = (0..21)
        .map(|_| json!({"price": "price_ProMonthly"}))
        .collect();
    let body = send(
        &app,
        "mutation($items: [StripeSubscriptionItemInput!]!) { createSubscription(customer: \"cus_AvaMartinez\", items: $items) { id } }",
        json!({ "items": many_items }),
        &[],
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["argument"],
        json!("items"),
        "{body}"
    );
    assert_eq!(
        app.stripe_calls(),
        0,
        "no argument error costs a Stripe call"
    );
}

#[tokio::test]
async fn mutations_count_against_the_stripe_field_budget() {
    let app = spawn_app_with(|o| {
        o.config.http.auth_token = Some(stripe_graphql::secret::SecretString::new(TOKEN));
        o.config.limits.max_stripe_fields = 3;
    })
    .await;
    let aliases: String = (0..4)
        .map(|i| format!("c{i}: deleteCustomer(id: \"{}\") {{ id }} ", demo::AVA))
        .collect();
    let body = send(&app, &format!("mutation {{ {aliases} }}"), json!({}), &[]).await;
    assert_eq!(error_code(&body), "QUERY_BUDGET_EXCEEDED", "{body}");
    assert_eq!(app.stripe_calls(), 0);
}
