//! The schema as Hasura and introspection tools see it.

use serde_json::{json, Value};
use stripe_graphql::{graphql, secret::SecretString};

use crate::helpers::{fixture, spawn_app_with};

const TOKEN: &str = "introspection-token";

/// Runs Hasura's exact introspection request with only the headers Hasura sends on it.
async fn hasura_introspection() -> Value {
    let app = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;
    let response = app
        .http
        .post(format!("{}/graphql", app.base))
        .header("Content-Type", "application/json")
        .header("User-Agent", "hasura-graphql-engine/v2.48.5")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(json!({ "operationName": "IntrospectionQuery", "query": fixture("hasura-introspection-query.graphql") }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(app.stripe_calls(), 0, "introspection never calls Stripe");
    body["data"]["__schema"].clone()
}

fn named<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == json!(name))
        .unwrap_or_else(|| panic!("type {name}"))
}

#[tokio::test]
async fn hasuras_introspection_query_succeeds_with_only_the_configured_header() {
    let schema = hasura_introspection().await;
    assert_eq!(schema["queryType"]["name"], json!("QueryRoot"));
    assert_eq!(schema["mutationType"]["name"], json!("MutationRoot"));
    assert_eq!(schema["subscriptionType"], Value::Null);
    let customer_field = named(&schema, "QueryRoot")["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == json!("customer"))
        .unwrap()
        .clone();
    assert_eq!(
        customer_field["type"],
        json!({ "kind": "OBJECT", "name": "StripeCustomer", "ofType": null }),
        "nullable"
    );
    assert_eq!(customer_field["args"][0]["name"], json!("id"));
    assert_eq!(customer_field["args"][0]["type"]["kind"], json!("NON_NULL"));
    assert_eq!(
        customer_field["args"][0]["type"]["ofType"]["name"],
        json!("String")
    );
}

#[tokio::test]
async fn type_names_cannot_collide_with_hasuras_and_no_object_is_called_subscription() {
    let schema = hasura_introspection().await;
    for t in schema["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let kind = t["kind"].as_str().unwrap();
        if name.starts_with("__") {
            continue;
        }
        match kind {
            "OBJECT" | "ENUM" | "INPUT_OBJECT" | "INTERFACE" | "UNION" => {
                assert!(
                    name == "QueryRoot" || name == "MutationRoot" || name.starts_with("Stripe"),
                    "{kind} {name} needs the Stripe prefix"
                );
            }
            "SCALAR" => assert!(
                [
                    "String",
                    "Boolean",
                    "Int",
                    "Float",
                    "ID",
                    "JSON",
                    "UnixTimestamp",
                    "StripeAmount",
                    "StripeCount"
                ]
                .contains(&name),
                "unexpected scalar {name}"
            ),
            other => panic!("unexpected kind {other}"),
        }
        if kind == "ENUM" {
            assert!(
                !t["enumValues"].as_array().unwrap().is_empty(),
                "Hasura crashes on empty enums: {name}"
            );
        }
        assert!(![
            "Subscription",
            "Mutation",
            "uuid",
            "jsonb",
            "timestamptz",
            "bigint",
            "numeric"
        ]
        .contains(&name));
    }
}

#[tokio::test]
async fn no_output_field_is_a_32_bit_int() {
    let schema = hasura_introspection().await;
    fn base(t: &Value) -> &Value {
        if t["ofType"].is_null() {
            t
        } else {
            base(&t["ofType"])
        }
    }
    for t in schema["types"].as_array().unwrap() {
        if t["name"].as_str().unwrap().starts_with("__") {
            continue;
        }
        for field in t["fields"].as_array().into_iter().flatten() {
            assert_ne!(
                base(&field["type"])["name"],
                json!("Int"),
                "{}.{} would overflow Int",
                t["name"],
                field["name"]
            );
        }
    }
}

#[test]
fn the_committed_schema_graphql_is_the_generated_sdl() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists");
    assert!(
        committed == graphql::sdl(),
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

/// The directives the GraphQL specification defines; anything else is custom.
const BUILT_IN_DIRECTIVES: [&str; 3] = ["deprecated", "include", "skip"];

#[test]
fn the_sdl_holds_no_custom_directives() {
    let sdl = graphql::sdl();
    let defined: Vec<&str> = sdl
        .lines()
        .filter_map(|l| l.strip_prefix("directive @"))
        .map(|rest| rest.split(['(', ' ']).next().unwrap())
        .collect();
    assert_eq!(
        defined, BUILT_IN_DIRECTIVES,
        "only the specification's own directives"
    );
    for (i, _) in sdl.match_indices('@') {
        let rest = &sdl[i..];
        let in_description = sdl[..i].matches("\"\"\"").count() % 2 == 1;
        let in_definition = sdl[..i].ends_with("directive ");
        assert!(
            in_description || in_definition || rest.starts_with("@deprecated"),
            "unexpected directive at {}",
            &rest[..rest.len().min(30)]
        );
    }
}

#[tokio::test]
async fn introspection_lists_only_built_in_directives() {
    let schema = hasura_introspection().await;
    let names: Vec<&str> = schema["directives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for name in &names {
        assert!(
            BUILT_IN_DIRECTIVES.contains(name) || *name == "oneOf" || *name == "specifiedBy",
            "custom directive {name}"
        );
    }
}
