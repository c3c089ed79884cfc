//! `STRIPE_MIRROR=on`: the backfill's calls, readiness while it runs, cold joins served with
//! no Stripe call and the same answer as without the mirror, events applied from their own
//! object (newer applied, older ignored, a same-second tie read again once), what webhooks
//! missed healed from the Events API, and ids the mirror does not hold asked of Stripe.

use std::time::Duration;

use serde_json::{json, Value};
use stripe_graphql::{
    events::WebhookSettings, http::MetricsAuth, mirror::MirrorSettings, secret::SecretString,
};
use stripe_sandbox::{
    demo::{self, AVA, BEN, CHLOE, DIEGO, EMMA, FAISAL, GRACE},
    fixtures, unix_now, Fault, Sandbox, Store,
};

use crate::helpers::{
    sample_in, seed_join, spawn_app_over_with, start_app_on, start_server, test_config, Options,
    TestApp, KEY, NOW,
};

const SECRET: &str = "whsec_api_suite_mirror_secret_77";
const DEMO_CUSTOMERS: [&str; 6] = [AVA, BEN, CHLOE, DIEGO, EMMA, GRACE];

fn mirrored(options: &mut Options) {
    options.config.mirror = Some(MirrorSettings {
        reconcile_every: Duration::from_secs(3600),
    });
    options.config.webhook = Some(WebhookSettings {
        secret: SecretString::new(SECRET),
        tolerance: Duration::from_secs(300),
    });
}

/// A mirrored server over the demo data changed by `store`, with webhooks from its sandbox,
/// once its first backfill is complete; the sandbox's call log starts empty.
async fn spawn_mirrored(
    store: impl FnOnce(&mut Store),
    options: impl FnOnce(&mut Options),
) -> TestApp {
    let app = spawn_app_over_with(store, |o| {
        mirrored(o);
        options(o);
    })
    .await;
    app.sandbox
        .send_webhooks_to(&format!("{}/webhooks/stripe", app.base), SECRET);
    wait_ready(&app).await;
    next_second().await;
    app.sandbox.reset_calls();
    app
}

/// A mirrored server (as [`spawn_mirrored`]) that reads the Events API every second.
async fn spawn_reconciling_every_second() -> TestApp {
    spawn_mirrored(
        |_| {},
        |o| {
            o.config.mirror = Some(MirrorSettings {
                reconcile_every: Duration::from_secs(1),
            })
        },
    )
    .await
}

/// Returns once the wall clock's second has changed: an event made after this is in a later
/// second than any read made before it (events have one-second resolution, and one inside
/// the seconds a read ran is read again rather than ordered, which a test of "no call" must
/// not meet by chance).
async fn next_second() {
    let now = unix_now();
    while unix_now() == now {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `GET /readyz`: its status and body.
async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Waits (at most 10 s, asking every 5 ms) until the mirror's first backfill is complete.
async fn wait_ready(app: &TestApp) {
    wait_for(app, "the mirror is ready", "stripe_graphql_mirror_ready 1").await;
}

/// The /metrics text.
async fn metrics(app: &TestApp) -> String {
    app.http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one sample (`name{labels}`) in /metrics, 0 when absent.
async fn sample(app: &TestApp, series: &str) -> f64 {
    sample_in(&metrics(app).await, series).unwrap_or(0.0)
}

/// Waits (at most 10 s) until /metrics has the line `line`.
async fn wait_for(app: &TestApp, what: &str, line: &str) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !metrics(app).await.lines().any(|l| l == line) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting until {what} ({line})");
}

/// Waits (at most 10 s) until the sample `series` is at least `at_least`.
async fn wait_for_count(app: &TestApp, what: &str, series: &str, at_least: f64) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while sample(app, series).await < at_least {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "gave up waiting until {what} ({series} >= {at_least})"
    );
}

/// `n` more customers, each with two active subscriptions of two items (the seed's shape),
/// created after the demo's.
fn add_customers(store: &mut Store, n: usize) -> Vec<String> {
    let pro = store.get("price", "price_ProMonthly").unwrap().clone();
    let support = store.get("price", "price_SupportMonthly").unwrap().clone();
    (0..n)
        .map(|i| {
            let id = format!("cus_Gen{i:05}");
            let created = 1_795_100_000 + i as i64;
            store.put(fixtures::customer(
                &id,
                "Generated",
                &format!("g{i}@example.com"),
                created,
            ));
            for s in 0..2 {
                let sub = format!("sub_Gen{i:05}{s}");
                let items = [
                    fixtures::ItemSpec {
                        id: &format!("si_Gen{i:05}{s}a"),
                        price: &pro,
                        quantity: Some(1),
                    },
                    fixtures::ItemSpec {
                        id: &format!("si_Gen{i:05}{s}b"),
                        price: &support,
                        quantity: Some(2),
                    },
                ];
                store.put(fixtures::subscription(
                    &sub,
                    &id,
                    "active",
                    &items,
                    (created, created + 2_592_000),
                    created + s,
                ));
            }
            id
        })
        .collect()
}

#[tokio::test]
async fn the_backfill_reads_each_list_in_pages_of_a_hundred_and_readyz_says_warming_until_it_is_done(
) {
    let mut store = demo::store(NOW);
    add_customers(&mut store, 245);
    let sandbox = Sandbox::start(store, KEY).await.unwrap();
    // Every Stripe answer is held until the test has seen the warming state.
    sandbox.hold_answers();
    let app = start_app_on(sandbox, mirrored).await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["reason"], "MIRROR_WARMING");
    assert_eq!(sample(&app, "stripe_graphql_mirror_ready").await, 0.0);
    app.sandbox.release_answers();
    wait_ready(&app).await;

    // 251 live customers (245 + the demo's 6): 3 pages and one call more, for the windows
    // of creation time the readers share (src/mirror/windows.rs): the first page hands the
    // time older than its next 8 pages' worth to a second reader, which finds the demo's 6
    // there while the first reads its 145 remaining customers on 2 pages. The catalog: one
    // page each; one look at the newest event. Nothing else.
    let calls = app.sandbox.calls();
    let to = |path: &str| calls.iter().filter(|c| c.path == path).count();
    let customers = to("/v1/customers");
    assert_eq!(customers, 4, "{calls:?}");
    assert_eq!(to("/v1/prices"), 1);
    assert_eq!(to("/v1/plans"), 1);
    assert_eq!(to("/v1/products"), 1);
    assert_eq!(to("/v1/events"), 1);
    assert_eq!(calls.len(), customers + 4, "{calls:?}");
    // The first page is the plain list; the others are windows of it.
    let first = calls.iter().find(|c| c.path == "/v1/customers").unwrap();
    assert_eq!(first.query, "limit=100&expand%5B%5D=data.subscriptions");
    assert!(calls
        .iter()
        .filter(|c| c.path == "/v1/customers")
        .all(|c| c.query.contains("limit=100")
            && c.query.contains("expand%5B%5D=data.subscriptions")));
    assert_eq!(
        sample(&app, "stripe_graphql_mirror_objects{type=\"customer\"}").await,
        251.0
    );
    let (status, body) = readyz(&app).await;
    assert_eq!((status, &body["status"]), (200, &json!("ready")), "{body}");
}

#[tokio::test]
async fn a_backfill_cursor_stripe_no_longer_knows_is_read_again_from_its_oldest_second_not_forever()
{
    let mut store = demo::store(NOW);
    add_customers(&mut store, 245);
    let sandbox = Sandbox::start(store, KEY).await.unwrap();
    // The first page ends with cus_Gen00145; every page asked after it is answered as
    // Stripe answers a cursor whose customer was deleted since its page was read (asking
    // again with that cursor would never end).
    sandbox.inject_where(
        Some("/v1/customers"),
        Some("starting_after=cus_Gen00145"),
        Fault::Json(
            404,
            json!({"error": {
                "type": "invalid_request_error", "code": "resource_missing",
                "param": "starting_after", "message": "No such customer: 'cus_Gen00145'"
            }}),
        ),
        usize::MAX,
    );
    let app = start_app_on(sandbox, mirrored).await;
    wait_ready(&app).await;

    let calls = app.sandbox.calls();
    let pages: Vec<&str> = calls
        .iter()
        .filter(|c| c.path == "/v1/customers")
        .map(|c| c.query.as_str())
        .collect();
    // The first page; the refused cursor; its window again without a cursor, up to the
    // first page's oldest second, then by cursor; the older window with the demo's 6.
    assert_eq!(pages.len(), 5, "{pages:?}");
    let refused = pages
        .iter()
        .position(|q| q.contains("starting_after"))
        .unwrap();
    let again = pages[refused + 1..]
        .iter()
        .find(|q| !q.contains("starting_after") && q.contains("created%5Bgte%5D"))
        .unwrap_or_else(|| panic!("the window read again: {pages:?}"));
    assert!(again.contains("created%5Blt%5D="), "{again}");
    assert_eq!(
        sample(&app, "stripe_graphql_mirror_objects{type=\"customer\"}").await,
        251.0
    );
}

#[tokio::test]
async fn a_cold_join_of_mirrored_customers_costs_no_stripe_call_and_answers_as_the_unmirrored_server(
) {
    let app = spawn_mirrored(|_| {}, |_| {}).await;
    let mut plain = test_config(&app.sandbox.base_url(), KEY);
    plain.cache.ttl = Duration::from_secs(60);
    let plain = start_server(plain).await;

    let join = seed_join(&DEMO_CUSTOMERS);
    let catalog = r#"{ p: price(id: "price_ProMonthly") { id nickname unitAmount product { id name } }
        q: plan(id: "price_EssentialsYearly") { id nickname amount interval }
        r: product(id: "prod_Pro") { id name description active }
        s: subscription(id: "sub_AvaPro") { id status items { data { id price { id } } } } }"#;
    let mirrored_join = app
        .post(json!({ "query": join }))
        .await
        .text()
        .await
        .unwrap();
    let mirrored_catalog = app
        .post(json!({ "query": catalog }))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(app.sandbox.total_calls(), 0, "{:?}", app.sandbox.calls());

    let http = reqwest::Client::new();
    let plain_join = http
        .post(format!("{plain}/graphql"))
        .json(&json!({ "query": join }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let plain_catalog = http
        .post(format!("{plain}/graphql"))
        .json(&json!({ "query": catalog }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        app.sandbox.total_calls() >= 6,
        "the plain server asked Stripe"
    );
    assert_eq!(mirrored_join, plain_join);
    assert_eq!(mirrored_catalog, plain_catalog);
    assert!(!mirrored_join.contains("\"errors\""), "{mirrored_join}");
}

#[tokio::test]
async fn a_deleted_customer_and_an_id_the_mirror_does_not_hold_are_asked_of_stripe_never_a_wrong_null(
) {
    let app = spawn_mirrored(
        |_| {},
        |o| {
            o.config.cache.ttl = Duration::ZERO;
            o.config.cache.not_found_ttl = Duration::ZERO;
        },
    )
    .await;
    // Created after the backfill, its webhook not delivered.
    let mut late = fixtures::customer("cus_LateComer", "Late", "late@example.com", 1_795_200_000);
    late["metadata"] = json!({"tier": "new"});
    app.sandbox.create_quietly(late);

    let query = r#"{ late: customer(id: "cus_LateComer") { id email metadata }
                     gone: customer(id: "cus_FaisalRahman") { id } }"#;
    let data = app.data(query).await;
    assert_eq!(data["late"]["email"], "late@example.com");
    assert_eq!(data["gone"], Value::Null);
    assert_eq!(app.sandbox.calls_to(&format!("/v1/customers/{FAISAL}")), 1);
    assert_eq!(app.sandbox.calls_to("/v1/customers/cus_LateComer"), 1);

    // The late customer joined the mirror: with the cache's TTL at zero, asked again, it
    // costs nothing; the deleted one (never mirrored) is asked again.
    let data = app.data(query).await;
    assert_eq!(data["late"]["metadata"]["tier"], "new");
    assert_eq!(app.sandbox.calls_to("/v1/customers/cus_LateComer"), 1);
    assert_eq!(app.sandbox.calls_to(&format!("/v1/customers/{FAISAL}")), 2);
}

#[tokio::test]
async fn a_webhook_is_applied_from_its_object_without_a_call_and_an_older_event_is_ignored() {
    let app = spawn_mirrored(|_| {}, |_| {}).await;
    let email = format!("{{ customer(id: \"{AVA}\") {{ email name }} }}");
    assert_eq!(
        app.data(&email).await["customer"]["email"],
        "ava.martinez@example.com"
    );

    let first = app
        .sandbox
        .update("customer", AVA, |c| {
            c["email"] = json!("ava.one@example.com")
        })
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(
        app.data(&email).await["customer"]["email"],
        "ava.one@example.com"
    );
    // A second change a second later, so the two events are ordered by `created`.
    let mut second = first.event.clone();
    second["id"] = json!("evt_api_suite_second");
    second["created"] = json!(first.event["created"].as_i64().unwrap() + 1);
    second["data"]["object"]["email"] = json!("ava.two@example.com");
    app.sandbox.with_store(|s| {
        s.update("customer", AVA, |c| {
            c["email"] = json!("ava.two@example.com")
        })
    });
    app.sandbox.send_event(&second).await.unwrap();
    assert_eq!(
        app.data(&email).await["customer"]["email"],
        "ava.two@example.com"
    );

    // The first event again (Stripe redelivers, in no order): older, ignored.
    let again = app.sandbox.send_event(&first.event).await.unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(
        app.data(&email).await["customer"]["email"],
        "ava.two@example.com"
    );
    assert_eq!(app.sandbox.total_calls(), 0, "{:?}", app.sandbox.calls());
    assert_eq!(
        sample(
            &app,
            "stripe_graphql_mirror_events_total{source=\"webhook\",outcome=\"ignored\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn two_events_for_one_customer_in_the_same_second_read_it_again_once_instead_of_guessing() {
    let app = spawn_mirrored(|_| {}, |_| {}).await;
    let first = app
        .sandbox
        .update("customer", AVA, |c| c["name"] = json!("Ava One"))
        .await
        .unwrap();
    // Another event in the same second, carrying a copy older than what Stripe now holds
    // (Stripe's sync engine lets such a copy win: its bug #268).
    let mut tie = first.event.clone();
    tie["id"] = json!("evt_api_suite_tie");
    tie["data"]["object"]["name"] = json!("Ava Stale");
    app.sandbox.send_event(&tie).await.unwrap();

    let query =
        format!("{{ customer(id: \"{AVA}\") {{ name subscriptions {{ data {{ id }} }} }} }}");
    let data = app.data(&query).await;
    assert_eq!(data["customer"]["name"], "Ava One");
    assert_eq!(app.sandbox.calls_to(&format!("/v1/customers/{AVA}")), 1);
    assert_eq!(app.sandbox.total_calls(), 1, "{:?}", app.sandbox.calls());
    app.data(&query).await;
    assert_eq!(app.sandbox.total_calls(), 1);
    assert_eq!(
        sample(
            &app,
            "stripe_graphql_mirror_events_total{source=\"webhook\",outcome=\"refetched\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn subscription_events_move_the_customers_page_without_a_call() {
    let app = spawn_mirrored(|_| {}, |_| {}).await;
    // A new subscription for Grace (none yet), its event delivered.
    let price = app.stored("price", "price_EssentialsMonthly");
    let now = unix_now();
    let sub = "sub_GraceNew".to_owned();
    let items = [fixtures::ItemSpec {
        id: "si_GraceNew",
        price: &price,
        quantity: Some(1),
    }];
    let delivery = app
        .sandbox
        .create(fixtures::subscription(
            &sub,
            GRACE,
            "active",
            &items,
            (now, now + 2_592_000),
            now,
        ))
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    app.sandbox.reset_calls();
    let query = format!(
        "{{ customer(id: \"{GRACE}\") {{ subscriptions {{ data {{ id status }} hasMore }} }} }}"
    );
    let data = app.data(&query).await;
    assert_eq!(
        data["customer"]["subscriptions"]["data"],
        json!([{"id": sub, "status": "active"}])
    );
    // Canceled, a second later (two events in one second would be read again): it leaves
    // the default page.
    next_second().await;
    app.sandbox
        .update("subscription", &sub, |s| s["status"] = json!("canceled"))
        .await
        .unwrap();
    let data = app.data(&query).await;
    assert_eq!(data["customer"]["subscriptions"]["data"], json!([]));
    assert_eq!(app.sandbox.total_calls(), 0, "{:?}", app.sandbox.calls());
}

#[tokio::test]
async fn changes_made_without_a_webhook_are_healed_from_the_events_api() {
    let app = spawn_reconciling_every_second().await;
    let query =
        format!("{{ a: customer(id: \"{AVA}\") {{ name }} b: customer(id: \"{BEN}\") {{ id }} }}");
    let before = app.data(&query).await;
    assert_eq!(before["b"]["id"], BEN);

    // An update and a deletion Stripe made, whose webhooks never arrived.
    app.sandbox
        .update_quietly("customer", AVA, |c| c["name"] = json!("Ava Healed"))
        .unwrap();
    app.sandbox.delete_customer_quietly(BEN).unwrap();
    wait_for_count(
        &app,
        "the Events API reading applied them",
        "stripe_graphql_mirror_events_total{source=\"events_api\",outcome=\"applied\"}",
        3.0,
    )
    .await;
    app.sandbox.reset_calls();
    let after = app.data(&query).await;
    assert_eq!(after["a"]["name"], "Ava Healed");
    assert_eq!(after["b"], Value::Null);
    assert_eq!(
        app.sandbox
            .calls()
            .iter()
            .filter(|c| c.path != "/v1/events")
            .count(),
        0,
        "served from the mirror: {:?}",
        app.sandbox.calls()
    );
}

#[tokio::test]
async fn a_cursor_stripe_no_longer_knows_starts_a_new_backfill() {
    let app = spawn_reconciling_every_second().await;
    app.sandbox
        .update_quietly("customer", AVA, |c| c["name"] = json!("Ava Once"))
        .unwrap();
    wait_for_count(
        &app,
        "the event was read",
        "stripe_graphql_mirror_events_total{source=\"events_api\",outcome=\"applied\"}",
        1.0,
    )
    .await;
    // Changes with no event to read (made straight in the store), then past Stripe's 30
    // days: the cursor names an event Stripe forgot.
    app.sandbox.with_store(|s| {
        s.update("customer", CHLOE, |c| c["name"] = json!("Chloe Backfilled"));
        s.delete_customer(DIEGO, unix_now());
    });
    app.sandbox.forget_events();
    wait_for_count(
        &app,
        "a new backfill ran",
        "stripe_graphql_mirror_reconcile_total{outcome=\"backfill\"}",
        1.0,
    )
    .await;
    wait_for_count(
        &app,
        "it completed",
        "stripe_graphql_mirror_backfill_passes_total",
        2.0,
    )
    .await;
    app.sandbox.reset_calls();
    let data = app
        .data(&format!(
            "{{ c: customer(id: \"{CHLOE}\") {{ name }} d: customer(id: \"{DIEGO}\") {{ id }} }}"
        ))
        .await;
    assert_eq!(data["c"]["name"], "Chloe Backfilled");
    // Deleted with no event: the new pass did not see Diego, so the mirror dropped him and
    // Stripe was asked (and said deleted).
    assert_eq!(data["d"], Value::Null);
    assert_eq!(app.sandbox.calls_to(&format!("/v1/customers/{DIEGO}")), 1);
    assert_eq!(app.sandbox.calls_to(&format!("/v1/customers/{CHLOE}")), 0);
}

#[tokio::test]
async fn a_customer_created_through_this_server_is_mirrored_at_once_before_any_webhook() {
    const TOKEN: &str = "mirror-suite-token-0123456789";
    let app = spawn_mirrored(
        |_| {},
        |o| {
            o.config.http.auth_token = Some(SecretString::new(TOKEN));
            o.config.http.metrics_auth = MetricsAuth::None;
            o.config.cache.ttl = Duration::ZERO;
        },
    )
    .await;
    // No webhook arrives (its receiver is gone): only the write's own answer can tell.
    app.sandbox
        .send_webhooks_to("http://127.0.0.1:9/gone", SECRET);
    let created: Value = app
        .http
        .post(format!("{}/graphql", app.base))
        .bearer_auth(TOKEN)
        .json(&json!({ "query": "mutation { createCustomer(name: \"New One\", email: \"new@example.com\") { id } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["data"]["createCustomer"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    app.sandbox.reset_calls();
    let body: Value = app
        .http
        .post(format!("{}/graphql", app.base))
        .bearer_auth(TOKEN)
        .json(&json!({ "query": format!("{{ customer(id: \"{id}\") {{ email subscriptions {{ data {{ id }} hasMore }} }} }}") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["data"]["customer"]["email"], "new@example.com",
        "{body}"
    );
    assert_eq!(
        body["data"]["customer"]["subscriptions"],
        json!({"data": [], "hasMore": false})
    );
    assert_eq!(app.sandbox.total_calls(), 0, "{:?}", app.sandbox.calls());
}

#[tokio::test]
async fn a_price_change_reaches_every_mirrored_subscription_that_embeds_it_without_a_call() {
    let app = spawn_mirrored(|_| {}, |_| {}).await;
    // A recurring price: Stripe sends price.updated and plan.updated.
    app.sandbox
        .update("price", "price_EssentialsMonthly", |p| {
            p["nickname"] = json!("Essentials, renamed")
        })
        .await
        .unwrap();
    let query = format!(
        "{{ customer(id: \"{BEN}\") {{ subscriptions {{ data {{ plan {{ nickname }} items {{ data {{ price {{ nickname }} }} }} }} }} }} }}"
    );
    let data = app.data(&query).await;
    let sub = &data["customer"]["subscriptions"]["data"][0];
    assert_eq!(sub["plan"]["nickname"], "Essentials, renamed");
    assert_eq!(
        sub["items"]["data"][0]["price"]["nickname"],
        "Essentials, renamed"
    );
    assert_eq!(app.sandbox.total_calls(), 0, "{:?}", app.sandbox.calls());
}
