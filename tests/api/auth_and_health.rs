//! Bearer-token auth on /graphql, GraphiQL, /healthz and /readyz.

use serde_json::{json, Value};
use stripe_graphql::secret::SecretString;

use crate::helpers::{spawn_app, spawn_app_with};

const TOKEN: &str = "hasura-shared-secret-42";

#[tokio::test]
async fn graphql_requests_without_the_right_bearer_token_get_a_graphql_shaped_401() {
    let app = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;
    let url = format!("{}/graphql", app.base);
    let body = json!({ "query": "{ __typename }" });

    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic aGFzdXJhOg=="),
        Some(TOKEN),
    ] {
        let mut request = app.http.post(&url).json(&body);
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"stripe-graphql\""
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            json!("UNAUTHENTICATED")
        );
        assert!(!body.to_string().contains(TOKEN));
    }
    // GET queries need the token too.
    let response = app
        .http
        .get(format!("{url}?query=%7B__typename%7D"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn graphql_requests_with_the_bearer_token_are_served() {
    let app = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;

    let data = app.data("{ __typename }").await;
    assert_eq!(data["__typename"], json!("QueryRoot"));

    let response = app
        .http
        .get(format!("{}/graphql?query=%7B__typename%7D", app.base))
        .header("Authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], json!("QueryRoot"));
}

#[tokio::test]
async fn graphiql_is_served_on_get_and_needs_the_token_on_graphql_when_one_is_set() {
    let open = spawn_app().await;
    let page = open
        .http
        .get(format!("{}/graphql", open.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("graphiql"));

    let app = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;
    let refused = app
        .http
        .get(format!("{}/graphql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        401,
        "every /graphql request needs the token"
    );
    let with_token = app
        .http
        .get(format!("{}/graphql", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);
    let static_page = app
        .http
        .get(format!("{}/graphiql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        static_page.status(),
        200,
        "browsers open GraphiQL at /graphiql"
    );
    let html = static_page.text().await.unwrap();
    assert!(html.contains("/graphql") && !html.contains(TOKEN));
}

#[tokio::test]
async fn healthz_answers_ok_and_every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"].len(), 36, "a UUID");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );

    let echoed = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("X-Request-Id", "hasura-req-7")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "hasura-req-7");
    assert_eq!(app.stripe_calls(), 0, "liveness never calls Stripe");
}

#[tokio::test]
async fn readyz_reports_ready_when_stripe_accepts_the_key() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A second probe within 30 s reuses the answer.
    app.http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(app.sandbox.calls_to("/v1/customers"), 1);
}

#[tokio::test]
async fn readyz_reports_unavailable_when_stripe_refuses_the_key() {
    let app = spawn_app_with(|o| {
        crate::helpers::endpoint(&mut o.config).secret_key =
            SecretString::new("sk_test_revoked_key_999");
    })
    .await;
    let response = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "unavailable", "reason": "STRIPE_AUTHENTICATION_FAILED"})
    );
}
