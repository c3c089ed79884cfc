//! Replays what Hasura sends for the seeded profiles (hasura/seeds): one POST, an `fN` alias
//! per distinct non-null `stripe_customer_id`, keys inlined as string literals.

use serde_json::{json, Value};
use stripe_sandbox::demo::FAISAL;

use crate::helpers::{fixture, spawn_app};

/// `stripe_customer_id`s of the seeded profiles, in row order, as Hasura collects them:
/// NULL keys left out, duplicates sent once.
fn seeded_stripe_ids() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/hasura/seeds/default");
    let mut ids: Vec<String> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let sql = std::fs::read_to_string(file).unwrap();
        for quoted in sql.split('\'').skip(1).step_by(2) {
            if quoted.starts_with("cus_") && !ids.iter().any(|id| id == quoted) {
                ids.push(quoted.to_owned());
            }
        }
    }
    ids
}

/// The selection Hasura sends for the seed query's `stripe_data`.
fn seed_selection() -> String {
    let request: Value = serde_json::from_str(&fixture("seed-join-request.json")).unwrap();
    let query = request["query"].as_str().unwrap();
    let prefix = "query { f0: customer(id: \"cus_REPLACE_ME\") ";
    query
        .strip_prefix(prefix)
        .and_then(|q| q.strip_suffix(" }"))
        .expect("seed join shape")
        .to_owned()
}

#[tokio::test]
async fn the_join_hasura_sends_for_the_seeded_profiles_returns_their_stripe_data() {
    let app = spawn_app().await;
    let ids = seeded_stripe_ids();
    assert!(ids.len() >= 7, "the seeds name the demo customers: {ids:?}");
    let selection = seed_selection();
    let fields: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!("f{i}: customer(id: \"{id}\") {selection}"))
        .collect();

    let response = app
        .post(json!({ "query": format!("query {{ {} }}", fields.join(" ")) }))
        .await;
    let body: Value = response.json().await.unwrap();

    assert!(body.get("errors").is_none(), "{body}");
    for (i, id) in ids.iter().enumerate() {
        let value = &body["data"][format!("f{i}")];
        if id == FAISAL {
            assert_eq!(value, &Value::Null, "deleted in Stripe");
        } else {
            assert_eq!(value["id"], json!(id));
            assert!(value["subscriptions"]["data"].is_array());
        }
    }
}
