//! Mutations: who may write, argument checks before any call, and (with the sandbox's write
//! endpoints) the lifecycle, idempotency, retries and write-through freshness.

use serde_json::{json, Value};
use stripe_sandbox::demo;

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

/// Runs a mutation (or query) with the token that must succeed; returns `data`.
async fn mutated(app: &TestApp, query: &str) -> Value {
    let body = send(app, query, json!({}), &[]).await;
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

/// The sandbox calls with this method whose path starts with `path`.
fn calls(app: &TestApp, method: &str, path: &str) -> Vec<stripe_sandbox::Call> {
    app.sandbox
        .calls()
        .into_iter()
        .filter(|c| c.method == method && c.path.starts_with(path))
        .collect()
}

fn customers_in_sandbox(app: &TestApp) -> usize {
    app.sandbox.with_store(|s| {
        s.objects("customer")
            .filter(|c| c["deleted"] != json!(true))
            .count()
    })
}

fn subscriptions_of(app: &TestApp, customer: &str) -> usize {
    app.sandbox.with_store(|s| {
        s.objects("subscription")
            .filter(|x| x["customer"] == json!(customer))
            .count()
    })
}

#[tokio::test]
async fn a_created_customer_is_answered_and_its_next_read_costs_no_stripe_call() {
    let app = writer_app().await;
    let body = send(
        &app,
        CREATE_CUSTOMER,
        json!({"email": "jane@example.com", "metadata": {"sso": "0b7e8d7c-1111-4c1e-9a52-3f1c5d2e7a10"}}),
        &[],
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let created = &body["data"]["createCustomer"];
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["email"], json!("jane@example.com"));
    assert_eq!(created["name"], json!("Jane Doe"));
    assert_eq!(
        created["metadata"],
        json!({"sso": "0b7e8d7c-1111-4c1e-9a52-3f1c5d2e7a10"})
    );
    let posts = calls(&app, "POST", "/v1/customers");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].param("email"), Some("jane@example.com"));
    assert_eq!(
        posts[0].param("metadata[sso]"),
        Some("0b7e8d7c-1111-4c1e-9a52-3f1c5d2e7a10")
    );
    let key = posts[0]
        .idempotency_key
        .as_deref()
        .expect("a POST carries a key");
    assert!(
        uuid::Uuid::parse_str(key).is_ok(),
        "a generated key is a UUID: {key}"
    );

    app.sandbox.reset_calls();
    let read = mutated(
        &app,
        &format!("{{ customer(id: \"{id}\") {{ id email }} }}"),
    )
    .await;
    assert_eq!(read["customer"]["email"], json!("jane@example.com"));
    assert_eq!(app.stripe_calls(), 0, "written through the cache");
}

#[tokio::test]
async fn retrying_a_mutation_with_its_idempotency_key_answers_the_first_result_and_creates_one_customer(
) {
    let app = writer_app().await;
    let before = customers_in_sandbox(&app);
    let variables = json!({"email": "retry@example.com", "key": "signup-retry-1"});
    let first = send(&app, CREATE_CUSTOMER, variables.clone(), &[]).await;
    let again = send(&app, CREATE_CUSTOMER, variables, &[]).await;
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(first, again, "the same customer, answered twice");
    assert_eq!(customers_in_sandbox(&app), before + 1);
    let posts = calls(&app, "POST", "/v1/customers");
    assert_eq!(posts.len(), 2);
    assert!(posts
        .iter()
        .all(|c| c.idempotency_key.as_deref() == Some("signup-retry-1")));

    // The same key with other arguments is refused, naming the problem.
    let other = send(
        &app,
        CREATE_CUSTOMER,
        json!({"email": "other@example.com", "key": "signup-retry-1"}),
        &[],
    )
    .await;
    assert_eq!(error_code(&other), "STRIPE_IDEMPOTENCY_ERROR", "{other}");
    assert_eq!(other["data"]["createCustomer"], Value::Null);
    assert_eq!(customers_in_sandbox(&app), before + 1);
}

#[tokio::test]
async fn two_deliberate_creates_without_a_key_are_two_customers() {
    let app = writer_app().await;
    let before = customers_in_sandbox(&app);
    let variables = json!({"email": "twice@example.com"});
    let first = send(&app, CREATE_CUSTOMER, variables.clone(), &[]).await;
    let second = send(&app, CREATE_CUSTOMER, variables, &[]).await;
    assert_ne!(
        first["data"]["createCustomer"]["id"],
        second["data"]["createCustomer"]["id"]
    );
    assert_eq!(customers_in_sandbox(&app), before + 2);
    let keys: Vec<_> = calls(&app, "POST", "/v1/customers")
        .into_iter()
        .map(|c| c.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1], "a fresh key per mutation");
}

#[tokio::test]
async fn racing_duplicate_creates_with_one_key_make_one_subscription() {
    let app = writer_app().await;
    let before = subscriptions_of(&app, demo::AVA);
    let query = format!(
        "mutation {{ createSubscription(customer: \"{}\", items: [{{price: \"price_EssentialsMonthly\"}}], idempotencyKey: \"race-1\") {{ id status }} }}",
        demo::AVA
    );
    // Hold every answer until all eight requests have reached the sandbox.
    app.sandbox.hold_answers();
    let racing: Vec<_> = (0..8)
        .map(|_| {
            let (app_base, query) = (app.base.clone(), query.clone());
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{app_base}/graphql"))
                    .bearer_auth(TOKEN)
                    .json(&json!({ "query": query }))
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while calls(&app, "POST", "/v1/subscriptions").len() < 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "all eight POSTs arrive"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    app.sandbox.release_answers();
    let mut ids = Vec::new();
    for answer in racing {
        let body = answer.await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        ids.push(body["data"]["createSubscription"]["id"].clone());
    }
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "every request got the same subscription: {ids:?}"
    );
    assert_eq!(subscriptions_of(&app, demo::AVA), before + 1);
}

#[tokio::test]
async fn a_post_whose_answer_was_lost_is_retried_with_the_same_key_and_makes_one_subscription() {
    let app = writer_app().await;
    let before = subscriptions_of(&app, demo::AVA);
    app.fail_next(
        Some("/v1/subscriptions"),
        stripe_sandbox::Fault::DroppedAfterApplying,
        1,
    );
    let data = mutated(
        &app,
        &format!(
            "mutation {{ createSubscription(customer: \"{}\", items: [{{price: \"price_EssentialsMonthly\", quantity: 2}}]) {{ id status quantity }} }}",
            demo::AVA
        ),
    )
    .await;
    assert_eq!(data["createSubscription"]["status"], json!("active"));
    assert_eq!(data["createSubscription"]["quantity"], json!(2));
    let posts = calls(&app, "POST", "/v1/subscriptions");
    assert_eq!(posts.len(), 2, "the lost answer was retried once");
    assert!(posts[0].idempotency_key.is_some());
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    assert_eq!(posts[0].form, posts[1].form);
    assert_eq!(
        subscriptions_of(&app, demo::AVA),
        before + 1,
        "one subscription"
    );
}

#[tokio::test]
async fn a_stripe_server_error_on_a_post_is_retried_with_the_same_key() {
    let app = writer_app().await;
    app.fail_next(Some("/v1/customers"), stripe_sandbox::Fault::Status(500), 1);
    let body = send(
        &app,
        CREATE_CUSTOMER,
        json!({"email": "five@example.com"}),
        &[],
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let posts = calls(&app, "POST", "/v1/customers");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    // Writes are counted under their route template, like reads.
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let endpoint = "endpoint=\"POST /v1/customers\"";
    for series in [
        format!("stripe_graphql_stripe_retries_total{{{endpoint},reason=\"5xx\"}} 1"),
        format!("stripe_graphql_stripe_requests_total{{{endpoint},status=\"500\"}} 1"),
        format!("stripe_graphql_stripe_requests_total{{{endpoint},status=\"200\"}} 1"),
    ] {
        assert!(text.lines().any(|l| l == series), "{series} in:\n{text}");
    }
}

#[tokio::test]
async fn stripe_refusals_are_coded_errors_naming_the_parameter_and_change_nothing() {
    let app = writer_app().await;
    let before = subscriptions_of(&app, demo::AVA);
    let body = send(
        &app,
        &format!(
            "mutation {{ createSubscription(customer: \"{}\", items: [{{price: \"price_DoesNotExist\"}}]) {{ id }} }}",
            demo::AVA
        ),
        json!({}),
        &[],
    )
    .await;
    assert_eq!(error_code(&body), "STRIPE_INVALID_REQUEST", "{body}");
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["param"], json!("items[0][price]"));
    assert_eq!(extensions["stripeCode"], json!("resource_missing"));
    assert_eq!(body["data"]["createSubscription"], Value::Null);

    // A declined card, as Stripe answers it.
    app.fail_next(
        Some("/v1/subscriptions"),
        stripe_sandbox::Fault::Json(
            402,
            json!({"error": {"type": "card_error", "code": "card_declined",
                "decline_code": "insufficient_funds", "param": "default_payment_method",
                "message": "Your card has insufficient funds."}}),
        ),
        1,
    );
    let body = send(
        &app,
        &format!(
            "mutation {{ createSubscription(customer: \"{}\", items: [{{price: \"price_EssentialsMonthly\"}}], paymentBehavior: error_if_incomplete) {{ id }} }}",
            demo::AVA
        ),
        json!({}),
        &[],
    )
    .await;
    assert_eq!(error_code(&body), "STRIPE_CARD_ERROR", "{body}");
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["declineCode"], json!("insufficient_funds"));
    assert_eq!(extensions["stripeCode"], json!("card_declined"));
    assert_eq!(extensions["param"], json!("default_payment_method"));
    assert_eq!(
        calls(&app, "POST", "/v1/subscriptions").len(),
        2,
        "a refusal is not retried"
    );

    // No payment method and no trial: Stripe refuses (Ben has no card on file).
    let body = send(
        &app,
        &format!(
            "mutation {{ createSubscription(customer: \"{}\", items: [{{price: \"price_EssentialsMonthly\"}}]) {{ id }} }}",
            demo::BEN
        ),
        json!({}),
        &[],
    )
    .await;
    assert_eq!(error_code(&body), "STRIPE_INVALID_REQUEST", "{body}");
    assert_eq!(subscriptions_of(&app, demo::AVA), before);
}

#[tokio::test]
async fn a_subscription_goes_from_trial_to_scheduled_cancellation_and_back_to_canceled() {
    let app = writer_app().await;
    let data = mutated(
        &app,
        &format!(
            "mutation {{ createSubscription(customer: \"{}\", items: [{{price: \"price_EssentialsMonthly\"}}], trialPeriodDays: 14, metadata: {{source: \"test\"}}) {{ id status trialStart trialEnd metadata }} }}",
            demo::BEN
        ),
    )
    .await;
    let sub = &data["createSubscription"];
    let id = sub["id"].as_str().unwrap().to_owned();
    assert_eq!(sub["status"], json!("trialing"));
    let (start, end) = (
        sub["trialStart"].as_i64().unwrap(),
        sub["trialEnd"].as_i64().unwrap(),
    );
    assert_eq!(end - start, 14 * 86_400);
    assert_eq!(sub["metadata"], json!({"source": "test"}));
    let post = &calls(&app, "POST", "/v1/subscriptions")[0];
    assert_eq!(post.param("trial_period_days"), Some("14"));
    assert_eq!(
        post.param("items[0][price]"),
        Some("price_EssentialsMonthly")
    );

    let data = mutated(
        &app,
        &format!("mutation {{ cancelSubscription(id: \"{id}\", atPeriodEnd: true) {{ status cancelAtPeriodEnd cancelAt canceledAt }} }}"),
    )
    .await;
    let scheduled = &data["cancelSubscription"];
    assert_eq!(scheduled["status"], json!("trialing"));
    assert_eq!(scheduled["cancelAtPeriodEnd"], json!(true));
    assert!(scheduled["cancelAt"].is_i64());

    let data = mutated(
        &app,
        &format!("mutation {{ undoScheduledCancellation(id: \"{id}\") {{ cancelAtPeriodEnd cancelAt }} }}"),
    )
    .await;
    assert_eq!(
        data["undoScheduledCancellation"],
        json!({"cancelAtPeriodEnd": false, "cancelAt": null})
    );

    let data = mutated(
        &app,
        &format!("mutation {{ cancelSubscription(id: \"{id}\", invoiceNow: true, prorate: false) {{ status endedAt }} }}"),
    )
    .await;
    assert_eq!(data["cancelSubscription"]["status"], json!("canceled"));
    assert!(data["cancelSubscription"]["endedAt"].is_i64());
    let delete = &calls(&app, "DELETE", "/v1/subscriptions")[0];
    assert_eq!(delete.query, "invoice_now=true&prorate=false");
    assert_eq!(delete.idempotency_key, None, "a DELETE takes no key");

    // Canceling again (a retry after a lost answer): the canceled subscription, no error.
    let data = mutated(
        &app,
        &format!("mutation {{ cancelSubscription(id: \"{id}\") {{ status }} }}"),
    )
    .await;
    assert_eq!(data["cancelSubscription"]["status"], json!("canceled"));
}

#[tokio::test]
async fn items_are_swapped_resized_added_and_removed_in_one_update() {
    let app = writer_app().await;
    let data = mutated(
        &app,
        "mutation { updateSubscription(id: \"sub_AvaPro\", prorationBehavior: none, metadata: {changed: \"yes\"},
            items: [{id: \"si_AvaPro\", price: \"price_EssentialsMonthly\", quantity: 3},
                    {id: \"si_AvaSupport\", deleted: true},
                    {price: \"price_ProMonthly\", quantity: 1}]) {
            id metadata items { data { id quantity price { id } } } } }",
    )
    .await;
    let sub = &data["updateSubscription"];
    assert_eq!(sub["metadata"]["changed"], json!("yes"));
    let items = sub["items"]["data"].as_array().unwrap();
    let by_price = |price: &str| {
        items
            .iter()
            .find(|i| i["price"]["id"] == json!(price))
            .unwrap_or_else(|| panic!("{price} in {items:?}"))
    };
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(
        by_price("price_EssentialsMonthly")["id"],
        json!("si_AvaPro")
    );
    assert_eq!(by_price("price_EssentialsMonthly")["quantity"], json!(3));
    assert_eq!(by_price("price_ProMonthly")["quantity"], json!(1));
    let post = &calls(&app, "POST", "/v1/subscriptions/sub_AvaPro")[0];
    assert_eq!(post.param("proration_behavior"), Some("none"));
    assert_eq!(post.param("items[1][deleted]"), Some("true"));
    assert_eq!(post.param("items[2][price]"), Some("price_ProMonthly"));
}

#[tokio::test]
async fn paused_collection_and_a_paused_subscription_both_resume() {
    let app = writer_app().await;
    let data = mutated(
        &app,
        "mutation { pauseCollection(id: \"sub_AvaPro\", behavior: keep_as_draft, resumesAt: 1900000000) {
            status pauseCollection { behavior resumesAt } } }",
    )
    .await;
    assert_eq!(
        data["pauseCollection"],
        json!({"status": "active", "pauseCollection": {"behavior": "keep_as_draft", "resumesAt": 1_900_000_000}})
    );
    let data = mutated(
        &app,
        "mutation { resumeSubscription(id: \"sub_AvaPro\") { status pauseCollection { behavior } } }",
    )
    .await;
    assert_eq!(
        data["resumeSubscription"],
        json!({"status": "active", "pauseCollection": null})
    );
    let clear = calls(&app, "POST", "/v1/subscriptions/sub_AvaPro")
        .pop()
        .unwrap();
    assert_eq!(clear.param("pause_collection"), Some(""));

    // A trial that ended without a payment method is `paused`; resuming uses /resume.
    app.sandbox
        .with_store(|s| s.set_subscription_status("sub_BenTrial", "paused"));
    let data = mutated(
        &app,
        "mutation { resumeSubscription(id: \"sub_BenTrial\") { status } }",
    )
    .await;
    assert_eq!(data["resumeSubscription"]["status"], json!("active"));
    assert_eq!(
        calls(&app, "POST", "/v1/subscriptions/sub_BenTrial/resume").len(),
        1
    );

    // Neither: nothing to resume, and no write.
    let body = send(
        &app,
        "mutation { resumeSubscription(id: \"sub_ChloeYearly\") { status } }",
        json!({}),
        &[],
    )
    .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(calls(&app, "POST", "/v1/subscriptions/sub_ChloeYearly").is_empty());
}

#[tokio::test]
async fn after_a_write_the_customer_and_its_subscriptions_read_fresh_without_a_webhook() {
    let app = writer_app().await;
    let seed = format!(
        "{{ customer(id: \"{}\") {{ id name subscriptions {{ data {{ id status }} }} }} }}",
        demo::AVA
    );
    let before = mutated(&app, &seed).await;
    let count = before["customer"]["subscriptions"]["data"]
        .as_array()
        .unwrap()
        .len();
    // Warm: no call.
    app.sandbox.reset_calls();
    mutated(&app, &seed).await;
    assert_eq!(app.stripe_calls(), 0);

    let created = mutated(
        &app,
        &format!(
            "mutation {{ createSubscription(customer: \"{}\", items: [{{price: \"price_EssentialsMonthly\"}}]) {{ id }} }}",
            demo::AVA
        ),
    )
    .await;
    let new_id = created["createSubscription"]["id"].clone();
    mutated(
        &app,
        &format!(
            "mutation {{ updateCustomer(id: \"{}\", name: \"Ava M.\") {{ id }} }}",
            demo::AVA
        ),
    )
    .await;
    app.sandbox.reset_calls();
    let after = mutated(&app, &seed).await;
    assert_eq!(
        after["customer"]["name"],
        json!("Ava M."),
        "no call for the customer"
    );
    let subs = after["customer"]["subscriptions"]["data"]
        .as_array()
        .unwrap();
    assert_eq!(subs.len(), count + 1);
    assert!(subs.iter().any(|s| s["id"] == new_id));
    assert_eq!(
        app.stripe_calls(),
        1,
        "only the subscription page is read again: {:?}",
        app.sandbox.calls()
    );
    app.sandbox.reset_calls();
    let read = mutated(
        &app,
        &format!("{{ subscription(id: {new_id}) {{ status }} }}"),
    )
    .await;
    assert_eq!(read["subscription"]["status"], json!("active"));
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn a_deleted_customer_reads_as_null_at_once_and_deleting_again_succeeds() {
    let app = writer_app().await;
    let seed = format!("{{ customer(id: \"{}\") {{ id }} }}", demo::GRACE);
    assert_eq!(
        mutated(&app, &seed).await["customer"]["id"],
        json!(demo::GRACE)
    );
    let query = format!(
        "mutation {{ deleteCustomer(id: \"{}\") {{ id deleted }} }}",
        demo::GRACE
    );
    let data = mutated(&app, &query).await;
    assert_eq!(
        data["deleteCustomer"],
        json!({"id": demo::GRACE, "deleted": true})
    );
    app.sandbox.reset_calls();
    assert_eq!(mutated(&app, &seed).await["customer"], Value::Null);
    assert_eq!(app.stripe_calls(), 0);
    let again = mutated(&app, &query).await;
    assert_eq!(again["deleteCustomer"]["deleted"], json!(true));
    let body = send(
        &app,
        "mutation { deleteCustomer(id: \"cus_NeverExisted\") { id } }",
        json!({}),
        &[],
    )
    .await;
    assert_eq!(error_code(&body), "STRIPE_NOT_FOUND", "{body}");
}

#[tokio::test]
async fn a_writer_role_with_the_token_may_write() {
    let app = writer_app().await;
    let body = send(
        &app,
        "mutation { updateCustomer(id: \"cus_AvaMartinez\", phone: \"+49 30 1234\") { phone } }",
        json!({}),
        &[("x-hasura-role", "admin"), ("x-hasura-user-id", "x")],
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["updateCustomer"]["phone"],
        json!("+49 30 1234")
    );
    let post = &calls(&app, "POST", "/v1/customers/cus_AvaMartinez")[0];
    assert_eq!(post.param("phone"), Some("+49 30 1234"));
}
