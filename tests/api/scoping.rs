//! Data scoping for Hasura roles: a non-trusted `x-hasura-role` reads only the Stripe
//! customer whose `metadata.sso` is its `x-hasura-user-id`, and no list root fields.

use serde_json::{json, Value};
use stripe_graphql::secret::SecretString;
use stripe_sandbox::demo::{AVA, BEN};

use crate::helpers::{error_code, seed_join, spawn_app_with, TestApp};

const TOKEN: &str = "hasura-remote-schema-token-7";

/// The app with `GRAPHQL_AUTH_TOKEN` set, as behind Hasura.
async fn behind_hasura() -> TestApp {
    spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await
}

/// The `sso` metadata of a demo customer (the `sso_id` of its profile in hasura/seeds).
fn sso_of(app: &TestApp, customer: &str) -> String {
    app.stored("customer", customer)["metadata"]["sso"]
        .as_str()
        .unwrap_or_else(|| panic!("{customer} has metadata.sso"))
        .to_owned()
}

/// POSTs `query` with the app's token (if any) and these extra headers; the whole body.
async fn post_as(app: &TestApp, headers: &[(&str, &str)], query: &str) -> Value {
    let mut request = app
        .http
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": query }));
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

/// A Hasura join as Hasura sends it for the seed query: `fN: customer(id:)` per key.
#[tokio::test]
async fn a_user_join_for_their_own_profile_returns_their_stripe_data() {
    let app = behind_hasura().await;
    let ava = sso_of(&app, AVA);
    let join = seed_join(&[AVA]);

    let as_user = post_as(
        &app,
        &[("x-hasura-role", "user"), ("x-hasura-user-id", &ava)],
        &join,
    )
    .await;
    let as_admin = post_as(&app, &[("x-hasura-role", "admin")], &join).await;

    assert!(as_user.get("errors").is_none(), "{as_user}");
    assert_eq!(as_user["data"]["f0"]["id"], json!(AVA));
    assert_eq!(as_user["data"]["f0"]["metadata"]["sso"], json!(ava));
    assert!(!as_user["data"]["f0"]["subscriptions"]["data"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(as_user, as_admin, "the user's own data is not cut down");
}

#[tokio::test]
async fn another_users_customer_id_answers_null_and_leaks_nothing() {
    let app = behind_hasura().await;
    let ava = sso_of(&app, AVA);
    let ben = app.stored("customer", BEN);
    let ben_sso = sso_of(&app, BEN);

    let body = post_as(
        &app,
        &[("x-hasura-role", "user"), ("x-hasura-user-id", &ava)],
        &format!(
            "{{ mine: customer(id: \"{AVA}\") {{ id }} theirs: customer(id: \"{BEN}\") {{ id email name metadata subscriptions {{ data {{ id }} }} }} }}"
        ),
    )
    .await;

    assert!(body.get("errors").is_none(), "a join must not fail: {body}");
    assert_eq!(body["data"]["mine"]["id"], json!(AVA));
    assert_eq!(body["data"]["theirs"], Value::Null);
    let text = body.to_string();
    for leaked in [
        ben["email"].as_str().unwrap(),
        ben["name"].as_str().unwrap(),
        &ben_sso,
        "sub_BenTrial",
    ] {
        assert!(!text.contains(leaked), "{leaked} in {text}");
    }
}

#[tokio::test]
async fn a_user_without_a_user_id_sees_no_customer() {
    let app = behind_hasura().await;
    for headers in [
        vec![("x-hasura-role", "user")],
        vec![("x-hasura-role", "user"), ("x-hasura-user-id", "")],
    ] {
        let body = post_as(
            &app,
            &headers,
            &format!("{{ customer(id: \"{AVA}\") {{ id }} }}"),
        )
        .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["customer"], Value::Null, "{headers:?}");
    }
}

#[tokio::test]
async fn list_root_fields_are_refused_to_a_user_before_any_stripe_call() {
    let app = behind_hasura().await;
    let ava = sso_of(&app, AVA);
    let user = [
        ("x-hasura-role", "user"),
        ("x-hasura-user-id", ava.as_str()),
    ];

    for (field, query) in [
        (
            "customers",
            "{ customers { data { id email } } }".to_owned(),
        ),
        (
            "subscriptions",
            format!("{{ subscriptions(customer: \"{AVA}\") {{ data {{ id }} }} }}"),
        ),
        ("prices", "{ prices { data { id } } }".to_owned()),
    ] {
        let body = post_as(&app, &user, &query).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        assert_eq!(body["data"][field], Value::Null, "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(field) && message.contains("user"),
            "{message}"
        );
    }
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn a_user_reads_a_subscription_only_when_it_is_their_customers() {
    let app = behind_hasura().await;
    let ava = sso_of(&app, AVA);
    let user = [
        ("x-hasura-role", "user"),
        ("x-hasura-user-id", ava.as_str()),
    ];

    let body = post_as(
        &app,
        &user,
        "{ mine: subscription(id: \"sub_AvaPro\") { id customer { id } } \
           theirs: subscription(id: \"sub_BenTrial\") { id status customer { email } } }",
    )
    .await;

    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["mine"]["customer"]["id"], json!(AVA));
    assert_eq!(body["data"]["theirs"], Value::Null);
    assert!(!body.to_string().contains("ben.carter"));
}

#[tokio::test]
async fn catalogue_objects_stay_readable_by_a_user() {
    let app = behind_hasura().await;
    let ava = sso_of(&app, AVA);
    let body = post_as(
        &app,
        &[("x-hasura-role", "user"), ("x-hasura-user-id", &ava)],
        "{ price(id: \"price_ProMonthly\") { id product { id } } }",
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["price"]["id"], json!("price_ProMonthly"));
}

#[tokio::test]
async fn admin_and_a_token_holder_without_a_role_are_unaffected() {
    let app = behind_hasura().await;
    let query = format!(
        "{{ customer(id: \"{BEN}\") {{ id email }} customers(first: 3) {{ data {{ id }} }} \
           subscription(id: \"sub_BenTrial\") {{ id }} prices(first: 1) {{ data {{ id }} }} }}"
    );
    for headers in [vec![("x-hasura-role", "admin")], vec![]] {
        let body = post_as(&app, &headers, &query).await;
        assert!(body.get("errors").is_none(), "{headers:?}: {body}");
        assert_eq!(body["data"]["customer"]["id"], json!(BEN));
        assert_eq!(
            body["data"]["customers"]["data"].as_array().unwrap().len(),
            3
        );
        assert_eq!(body["data"]["subscription"]["id"], json!("sub_BenTrial"));
    }
}

#[tokio::test]
async fn more_trusted_roles_can_be_configured() {
    let app = spawn_app_with(|o| {
        o.config.http.auth_token = Some(SecretString::new(TOKEN));
        o.config.http.scoping.trusted_roles = vec!["admin".into(), "backoffice".into()];
    })
    .await;
    let query = format!("{{ customer(id: \"{BEN}\") {{ id }} }}");
    let body = post_as(&app, &[("x-hasura-role", "backoffice")], &query).await;
    assert_eq!(body["data"]["customer"]["id"], json!(BEN));
    let body = post_as(&app, &[("x-hasura-role", "user")], &query).await;
    assert_eq!(body["data"]["customer"], Value::Null);
}

#[tokio::test]
async fn hasura_headers_without_the_configured_token_are_refused() {
    let app = behind_hasura().await;
    let response = app
        .http
        .post(format!("{}/graphql", app.base))
        .header("x-hasura-role", "admin")
        .json(&json!({ "query": format!("{{ customer(id: \"{BEN}\") {{ email }} }}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(!response.text().await.unwrap().contains("ben.carter"));
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn without_a_token_a_claimed_role_only_narrows_and_a_direct_client_is_served() {
    // No GRAPHQL_AUTH_TOKEN: nothing vouches for x-hasura-role, so even `admin` is scoped,
    // while a request naming no role (the README's direct queries, --demo) is served.
    let app = spawn_app_with(|_| {}).await;
    assert!(app.token.is_none());
    let ava = sso_of(&app, AVA);
    let query = format!("{{ customer(id: \"{BEN}\") {{ id email }} }}");

    for headers in [
        vec![("x-hasura-role", "admin")],
        vec![
            ("x-hasura-role", "user"),
            ("x-hasura-user-id", ava.as_str()),
        ],
    ] {
        let body = post_as(&app, &headers, &query).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["customer"], Value::Null, "{headers:?}");
    }
    let body = post_as(&app, &[], &query).await;
    assert_eq!(body["data"]["customer"]["id"], json!(BEN));
    // A user is still served their own customer.
    let own = post_as(
        &app,
        &[("x-hasura-role", "user"), ("x-hasura-user-id", &ava)],
        &format!("{{ customer(id: \"{AVA}\") {{ id }} }}"),
    )
    .await;
    assert_eq!(own["data"]["customer"]["id"], json!(AVA));
}

#[tokio::test]
async fn with_scoping_off_a_user_is_served_as_before() {
    let app = spawn_app_with(|o| {
        o.config.http.auth_token = Some(SecretString::new(TOKEN));
        o.config.http.scoping.enabled = false;
    })
    .await;
    let ava = sso_of(&app, AVA);
    let body = post_as(
        &app,
        &[("x-hasura-role", "user"), ("x-hasura-user-id", &ava)],
        &format!("{{ customer(id: \"{BEN}\") {{ id }} customers(first: 2) {{ data {{ id }} }} }}"),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["customer"]["id"], json!(BEN));
    assert_eq!(
        body["data"]["customers"]["data"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn a_scoped_out_lookup_is_cached_for_a_later_admin_lookup() {
    let app = behind_hasura().await;
    let ava = sso_of(&app, AVA);
    let query = format!("{{ customer(id: \"{BEN}\") {{ id }} }}");
    let path = format!("/v1/customers/{BEN}");

    let body = post_as(
        &app,
        &[("x-hasura-role", "user"), ("x-hasura-user-id", &ava)],
        &query,
    )
    .await;
    assert_eq!(body["data"]["customer"], Value::Null);
    assert_eq!(app.sandbox.calls_to(&path), 1);

    let body = post_as(&app, &[("x-hasura-role", "admin")], &query).await;
    assert_eq!(body["data"]["customer"]["id"], json!(BEN));
    assert_eq!(app.sandbox.calls_to(&path), 1, "served from the cache");
    assert_eq!(app.stripe_calls(), 1);
}

#[tokio::test]
async fn the_demo_customers_carry_their_seeded_profiles_sso_id_under_metadata_sso() {
    let app = spawn_app_with(|_| {}).await;
    let seeds = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/hasura/seeds/default/1795608120000_demo_customers.sql"
    ))
    .unwrap();
    let mut checked = 0;
    for line in seeds.lines().filter(|l| l.contains("'cus_")) {
        let quoted: Vec<&str> = line.split('\'').skip(1).step_by(2).collect();
        let sso_id = quoted[0];
        let customer = quoted.iter().find(|q| q.starts_with("cus_")).unwrap();
        if app.stored("customer", customer)["deleted"] == json!(true) {
            continue; // Faisal: deleted in Stripe, nothing left to match
        }
        assert_eq!(sso_of(&app, customer), sso_id, "{customer}");
        checked += 1;
    }
    assert!(
        checked >= 6,
        "{checked} seeded profiles with a Stripe customer"
    );
}

#[tokio::test]
async fn get_queries_and_every_element_of_a_batch_are_scoped_like_a_post() {
    let app = behind_hasura().await;
    let ava = sso_of(&app, AVA);
    let theirs = format!("{{ customer(id: \"{BEN}\") {{ id }} }}");
    let mine = format!("{{ customer(id: \"{AVA}\") {{ id }} }}");

    let url = reqwest::Url::parse_with_params(
        &format!("{}/graphql", app.base),
        &[("query", theirs.as_str())],
    )
    .unwrap();
    let body: Value = app
        .http
        .get(url)
        .bearer_auth(TOKEN)
        .header("x-hasura-role", "user")
        .header("x-hasura-user-id", &ava)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["customer"], Value::Null);

    let body: Value = app
        .http
        .post(format!("{}/graphql", app.base))
        .bearer_auth(TOKEN)
        .header("x-hasura-role", "user")
        .header("x-hasura-user-id", &ava)
        .json(&json!([{ "query": theirs }, { "query": mine }]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body[0]["data"]["customer"], Value::Null, "{body}");
    assert_eq!(body[1]["data"]["customer"]["id"], json!(AVA), "{body}");
}

/// Hasura takes the session of a request in its unauthorized role from the caller's own
/// headers: such a request claiming Ava's user id must read nothing of hers.
#[tokio::test]
async fn a_request_in_hasuras_unauthorized_role_reads_no_customer_whatever_user_id_it_claims() {
    for scoping in [true, false] {
        let app = spawn_app_with(move |o| {
            o.config.http.auth_token = Some(SecretString::new(TOKEN));
            o.config.http.scoping.enabled = scoping;
            o.config.http.scoping.unauthorized_role = Some("anonymous".into());
        })
        .await;
        let ava = sso_of(&app, AVA);
        let claims = [
            ("x-hasura-role", "anonymous"),
            ("x-hasura-user-id", ava.as_str()),
        ];

        let join = post_as(&app, &claims, &seed_join(&[AVA])).await;
        assert!(join.get("errors").is_none(), "{join}");
        assert_eq!(join["data"]["f0"], Value::Null, "scoping {scoping}");
        for list in [
            "{ customers { data { id } } }",
            "{ subscriptions { data { id } } }",
            "{ duplicateStripeCustomers(email: \"ava@example.com\") { id } }",
        ] {
            let body = post_as(&app, &claims, list).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{list}: {body}");
        }
        let write = post_as(
            &app,
            &claims,
            "mutation { createCustomer(email: \"x@example.com\") { id } }",
        )
        .await;
        assert_eq!(error_code(&write), "FORBIDDEN", "{write}");
        // The catalogue stays readable, as for any scoped role.
        let price = post_as(&app, &claims, "{ price(id: \"price_ProMonthly\") { id } }").await;
        assert_eq!(price["data"]["price"]["id"], json!("price_ProMonthly"));
        // The same user id in a real role is served.
        let user = post_as(
            &app,
            &[
                ("x-hasura-role", "user"),
                ("x-hasura-user-id", ava.as_str()),
            ],
            &seed_join(&[AVA]),
        )
        .await;
        assert_eq!(user["data"]["f0"]["id"], json!(AVA), "scoping {scoping}");
    }
}
