//! Bad input gets a clear error, never a panic, a hang or a call to the wrong Stripe path.

use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_app};

#[tokio::test]
async fn a_path_traversal_id_is_refused_before_any_stripe_call() {
    let app = spawn_app().await;

    for id in [
        "cus_1/../../v1/charges",
        "cus_1%2F..%2Fcharges",
        "cus_1?expand[]=x",
        "../v1/charges",
        "",
    ] {
        let body = app
            .query(&format!("{{ customer(id: {}) {{ id }} }}", json!(id)))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{id:?}: {body}");
        assert_eq!(body["data"]["customer"], Value::Null);
    }
    assert_eq!(app.stripe_calls(), 0, "{:?}", app.sandbox.calls());
}

#[tokio::test]
async fn ids_of_the_wrong_kind_are_refused_with_a_clear_message() {
    let app = spawn_app().await;
    let body = app
        .query("{ subscription(id: \"cus_AvaMartinez\") { id } }")
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(
        body["errors"][0]["message"],
        json!("subscription id must start with `sub_`")
    );
    let body = app
        .query("{ subscriptions(customer: \"sub_1\") { hasMore } }")
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = app
        .query("{ customers(after: \"sub_1\") { hasMore } }")
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn page_sizes_outside_stripes_range_are_refused() {
    let app = spawn_app().await;
    for first in [0, 101, -5] {
        let body = app
            .query(&format!("{{ customers(first: {first}) {{ hasMore }} }}"))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{first}");
    }
    let body = app.query("{ customers(email: \"\") { hasMore } }").await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn malformed_bodies_get_graphql_errors_not_500s() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.base);
    for (body, status) in [
        ("{not json", 400),
        ("{\"query\": 5}", 400),
        ("{}", 400),
        ("", 400),
        ("{\"query\": \"{ customer(\"}", 200),
        ("{\"query\": \"{ nope }\"}", 200),
        ("{\"query\": \"{ customer(id: 5) { id } }\"}", 200),
    ] {
        let response = app
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let json: Value = response.json().await.unwrap();
        let message = json["errors"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}: {json}"));
        assert!(!message.is_empty());
    }
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn an_oversized_body_gets_a_graphql_413() {
    let app = spawn_app().await; // the helper sets MAX_BODY_BYTES to 1 MiB
    let padding = " ".repeat(2 * 1024 * 1024);
    let response = app
        .http
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(format!("{{\"query\": \"{{ __typename }}{padding}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn queries_deeper_than_the_limit_are_refused_without_stripe_calls() {
    let app = spawn_app().await;
    let mut selection = String::from("{ id }");
    for _ in 0..6 {
        selection = format!("{{ customer {{ subscriptions {{ data {selection} }} }} }}");
    }
    let body = app
        .query(&format!(
            "{{ subscription(id: \"sub_AvaPro\") {selection} }}"
        ))
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{body}"
    );
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn parse_and_validation_errors_carry_a_code() {
    let app = spawn_app().await;
    for (query, code) in [
        ("{ customer(", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ customer(id: 5) { id } }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ subscriptions(status: sleeping) { hasMore } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "{ customers(first: 99999999999) { hasMore } }",
            "BAD_USER_INPUT",
        ),
        (
            "query A { __typename } query B { __typename }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ] {
        let body = app.query(query).await;
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: {body}"));
        for error in errors {
            assert_eq!(error["extensions"]["code"], json!(code), "{query}: {body}");
        }
    }
    // Variables of the wrong type, and an operation name that is not in the document.
    for request in [
        json!({ "query": "query($id: String!) { customer(id: $id) { id } }", "variables": { "id": 5 } }),
        json!({ "query": "query A { __typename }", "operationName": "B" }),
    ] {
        let body: Value = app.post(request.clone()).await.json().await.unwrap();
        assert_eq!(
            error_code(&body),
            "GRAPHQL_VALIDATION_FAILED",
            "{request}: {body}"
        );
    }
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn an_id_that_names_a_stripe_endpoint_is_refused_before_any_call() {
    let app = spawn_app().await;
    for query in [
        "{ price(id: \"search\") { id } }",
        "{ product(id: \"search\") { id } }",
        "{ plan(id: \"search\") { id } }",
        "{ prices(product: \"search\") { hasMore } }",
    ] {
        let body = app.query(query).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("`search` is not a"),
            "{body}"
        );
    }
    assert_eq!(app.stripe_calls(), 0, "{:?}", app.sandbox.calls());
}
