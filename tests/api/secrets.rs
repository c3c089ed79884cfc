//! The Stripe key, the bearer token and the webhook secret never appear in a response or a
//! log line, whatever is asked and whatever fails, at the most verbose log level.

use std::time::Duration;

use serde_json::{json, Value};
use stripe_sandbox::{
    demo::{self, AVA},
    webhooks::signature_header,
    Fault, Sandbox,
};

use crate::{helpers::NOW, process::Server};

/// Recognisable values: any of them in a response or log line fails the test.
const KEY: &str = "sk_test_RECOGNISABLEkey0123456789";
const TOKEN: &str = "RECOGNISABLE-bearer-token-42";
const WEBHOOK_SECRET: &str = "whsec_RECOGNISABLEsecret987";
const HASURA_SECRET: &str = "RECOGNISABLE-hasura-admin-secret";

fn assert_clean(what: &str, text: &str) {
    for secret in [KEY, TOKEN, WEBHOOK_SECRET, HASURA_SECRET] {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
    // Not even a large piece of them (Stripe's own errors echo a key's tail).
    for fragment in [
        "RECOGNISABLEkey",
        "RECOGNISABLE-bearer",
        "RECOGNISABLEsecret",
        "RECOGNISABLE-hasura",
    ] {
        assert!(!text.contains(fragment), "{what} shows {fragment}: {text}");
    }
}

/// Everything observable about one answer: status, headers and body.
async fn observed(response: reqwest::Response) -> String {
    let mut text = format!("{} ", response.status());
    for (name, value) in response.headers() {
        text.push_str(&format!("{name}: {} ", value.to_str().unwrap_or("?")));
    }
    text + &response.text().await.unwrap_or_default()
}

#[tokio::test]
async fn no_secret_appears_in_any_response_or_log_line_at_debug_level() {
    let sandbox = Sandbox::start(demo::store(NOW), KEY).await.unwrap();
    let (mut server, url) = Server::start(
        &sandbox,
        KEY,
        &[
            ("RUST_LOG", "debug"),
            ("GRAPHQL_AUTH_TOKEN", TOKEN),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_MAX_RETRIES", "1"),
            // Nothing listens there: every profile write-back fails, and says so.
            ("HASURA_GRAPHQL_URL", "http://127.0.0.1:9/v1/graphql"),
            ("HASURA_ADMIN_SECRET", HASURA_SECRET),
        ],
    );
    let base = url.trim_end_matches("/graphql").to_owned();
    let http = reqwest::Client::new();
    let graphql = |query: &str, token: Option<&str>| {
        let mut request = http.post(&url).json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let mut answers = Vec::new();

    // Successes, GraphQL errors, bad input, and refused tokens.
    for query in [
        format!("{{ customer(id: \"{AVA}\") {{ id email subscriptions {{ data {{ id }} }} }} }}"),
        "{ customer(id: \"not an id\") { id } }".to_owned(),
        "{ customer(id: ".to_owned(),
        "{ nope }".to_owned(),
        "{ customers(first: 1000) { data { id } } }".to_owned(),
        // Writes: a refused argument, a write Stripe answers, one it refuses.
        "mutation { createCustomer(email: \"nope\") { id } }".to_owned(),
        format!("mutation {{ updateCustomer(id: \"{AVA}\", name: \"Ava M\", idempotencyKey: \"secret-suite\") {{ id name }} }}"),
        "mutation { deleteCustomer(id: \"cus_NeverExisted\") { id } }".to_owned(),
    ] {
        answers.push(observed(graphql(&query, Some(TOKEN)).await.unwrap()).await);
    }
    for token in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
        answers.push(observed(graphql("{ __typename }", token).await.unwrap()).await);
    }

    // Stripe refusing the key, failing, and answering garbage.
    for (fault, times) in [
        (Fault::Status(401), 1),
        (Fault::Status(403), 1),
        (Fault::Status(500), 2),
        (Fault::Garbage, 1),
        (
            Fault::Json(
                401,
                json!({"error": {"type": "invalid_request_error",
                    "message": format!("Invalid API Key provided: {KEY}")}}),
            ),
            1,
        ),
    ] {
        sandbox.inject(None, fault.clone(), times);
        let query = format!(
            "{{ customer(id: \"cus_Secret{times}x{}\") {{ id }} }}",
            answers.len()
        );
        answers.push(observed(graphql(&query, Some(TOKEN)).await.unwrap()).await);
        sandbox.inject(None, fault, times);
        let write = format!(
            "mutation {{ updateCustomer(id: \"{AVA}\", name: \"x{}\") {{ id }} }}",
            answers.len()
        );
        answers.push(observed(graphql(&write, Some(TOKEN)).await.unwrap()).await);
    }

    // Webhooks: signed, forged, unsigned, another secret.
    let event = json!({"id": "evt_1", "object": "event", "type": "customer.updated",
        "data": {"object": {"id": AVA, "object": "customer"}}});
    let body = event.to_string();
    let now = stripe_sandbox::unix_now();
    for signature in [
        Some(signature_header(WEBHOOK_SECRET, now, body.as_bytes())),
        Some(signature_header("whsec_other", now, body.as_bytes())),
        Some(format!("t={now},v1={}", "0".repeat(64))),
        None,
    ] {
        let mut request = http
            .post(format!("{base}/webhooks/stripe"))
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        answers.push(observed(request.send().await.unwrap()).await);
    }

    // The profile write-back, failing to reach Hasura.
    answers.push(
        observed(
            graphql(
                "mutation { ensureStripeCustomer(ssoId: \"0b7e8d7c-1111-4c1e-9a52-3f1c5d2e7a10\") { id } }",
                Some(TOKEN),
            )
            .await
            .unwrap(),
        )
        .await,
    );
    let event = json!({"id": "e1", "table": {"schema": "public", "name": "customers"},
        "event": {"op": "INSERT", "data": {"old": null, "new": {"sso_id": "0b7e8d7c-1111-4c1e-9a52-3f1c5d2e7a10"}}}});
    for token in [None, Some(TOKEN)] {
        let mut request = http.post(format!("{base}/hasura/events")).json(&event);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answers.push(observed(request.send().await.unwrap()).await);
    }

    // The other routes.
    for path in ["/metrics", "/readyz", "/healthz", "/graphiql", "/graphql"] {
        for token in [None, Some(TOKEN)] {
            let mut request = http.get(format!("{base}{path}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            answers.push(observed(request.send().await.unwrap()).await);
        }
    }

    for answer in &answers {
        assert_clean("a response", answer);
    }
    // Each kind of request above was really answered (not refused wholesale).
    assert!(answers[0].contains(AVA), "{}", answers[0]);
    assert!(answers
        .iter()
        .any(|a| a.contains("STRIPE_AUTHENTICATION_FAILED")));
    assert!(answers
        .iter()
        .any(|a| a.contains("\"outcome\":\"applied\"")));
    assert!(answers.iter().any(|a| a.contains("SIGNATURE_MISMATCH")));
    assert!(answers.iter().any(|a| a.contains("HASURA_UNAVAILABLE")));

    server.terminate();
    assert_eq!(server.exit_code(Duration::from_secs(15)).await, Some(0));
    let lines = server.all_lines();
    assert!(lines.len() > 20, "debug logging was on: {lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("stripe call")),
        "Stripe calls were logged"
    );
    for line in &lines {
        assert_clean("a log line", line);
        let _: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("JSON: {line}"));
    }
}
