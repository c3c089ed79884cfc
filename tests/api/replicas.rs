//! Several replicas sharing one Redis: a real `redis-server` started on 127.0.0.1 (a free
//! port, no persistence; [`crate::redis_servers`]), two servers over one sandbox; the
//! sharing tests again over a three-primary Redis Cluster ([`cluster`]).
//!
//! Ignored by `cargo test` (they need `redis-server`); `.ci/run` installs it and runs them
//! with `cargo test --test api replicas -- --ignored` (`REDIS_SERVER` names another binary).

use std::{num::NonZeroU32, time::Duration};

use serde_json::{json, Value};
use stripe_graphql::{
    config::Config,
    events::{WebhookSettings, DEFAULT_TOLERANCE},
    secret::SecretString,
    shared::RedisSettings,
};
use stripe_sandbox::{demo, demo::AVA, RateLimits, Sandbox};

use crate::{
    helpers::{hasura_join, metric_at, start_server, test_config, KEY, NOW},
    redis_servers::{RedisServer, RedisUnderTest},
};

const WEBHOOK_SECRET: &str = "whsec_replicas_suite";

/// A replica: the test configuration over `sandbox`, sharing `redis`.
fn replica(sandbox: &Sandbox, redis: &impl RedisUnderTest) -> Config {
    let mut config = test_config(&sandbox.base_url(), KEY);
    config.redis = Some(RedisSettings {
        url: SecretString::new(redis.url()),
        cluster: redis.cluster(),
        prefix: "test".into(),
        timeout: Duration::from_millis(250),
        expected_replicas: NonZeroU32::new(2).unwrap(),
    });
    config.webhook = Some(WebhookSettings {
        secret: SecretString::new(WEBHOOK_SECRET),
        tolerance: DEFAULT_TOLERANCE,
    });
    config
}

async fn query(base: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn email_of(ava: &Value) -> &str {
    ava["data"]["customer"]["email"].as_str().unwrap_or("-")
}

const AVA_EMAIL: &str = "{ customer(id: \"cus_AvaMartinez\") { id email } }";

/// Two replicas over one sandbox and `redis`.
async fn two_replicas<R: RedisUnderTest>(redis: R) -> (Sandbox, R, String, String) {
    let sandbox = Sandbox::start(demo::store(NOW), KEY).await.unwrap();
    let a = start_server(replica(&sandbox, &redis)).await;
    let b = start_server(replica(&sandbox, &redis)).await;
    (sandbox, redis, a, b)
}

#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn one_customer_asked_of_two_replicas_costs_one_stripe_call() {
    one_customer_asked_of_two_replicas_costs_one_stripe_call_over(RedisServer::start()).await;
}

async fn one_customer_asked_of_two_replicas_costs_one_stripe_call_over(redis: impl RedisUnderTest) {
    let (sandbox, _redis, a, b) = two_replicas(redis).await;
    let from_a = query(&a, AVA_EMAIL).await;
    let from_b = query(&b, AVA_EMAIL).await;
    assert_eq!(from_a, from_b);
    assert_eq!(from_a["data"]["customer"]["id"], json!(AVA));
    assert_eq!(sandbox.total_calls(), 1, "{:?}", sandbox.calls());
}

#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn a_hundred_identical_cold_queries_split_between_two_replicas_cost_one_call() {
    a_hundred_identical_cold_queries_split_between_two_replicas_cost_one_call_over(
        RedisServer::start(),
    )
    .await;
}

async fn a_hundred_identical_cold_queries_split_between_two_replicas_cost_one_call_over(
    redis: impl RedisUnderTest,
) {
    let (sandbox, _redis, a, b) = two_replicas(redis).await;
    // Held until every query has asked, so they all overlap.
    sandbox.hold_answers();
    let queries: Vec<_> = (0..100)
        .map(|i| {
            let base = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { query(&base, AVA_EMAIL).await })
        })
        .collect();
    while sandbox.total_calls() < 1 {
        tokio::task::yield_now().await;
    }
    sandbox.release_answers();
    for answer in queries {
        assert_eq!(answer.await.unwrap()["data"]["customer"]["id"], json!(AVA));
    }
    assert_eq!(sandbox.total_calls(), 1, "{:?}", sandbox.calls());
}

/// Waits (yielding, with short pauses; bounded) until `condition` holds.
async fn until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

const REMOTE_INVALIDATIONS: &str =
    "stripe_graphql_cache_events_total{event=\"remote_invalidation\"}";

#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn a_webhook_delivered_to_one_replica_is_fresh_on_the_other() {
    a_webhook_delivered_to_one_replica_is_fresh_on_the_other_over(RedisServer::start()).await;
}

async fn a_webhook_delivered_to_one_replica_is_fresh_on_the_other_over(redis: impl RedisUnderTest) {
    let (sandbox, _redis, a, b) = two_replicas(redis).await;
    assert_eq!(
        email_of(&query(&a, AVA_EMAIL).await),
        "ava.martinez@example.com"
    );
    assert_eq!(
        email_of(&query(&b, AVA_EMAIL).await),
        "ava.martinez@example.com"
    );
    assert_eq!(sandbox.total_calls(), 1);

    // Stripe changes Ava and tells replica A only.
    sandbox.send_webhooks_to(&format!("{a}/webhooks/stripe"), WEBHOOK_SECRET);
    let delivered = sandbox
        .update("customer", AVA, |c| {
            c["email"] = json!("ava.new@example.com")
        })
        .await
        .expect("delivered");
    assert_eq!(delivered.status, 200, "{:?}", delivered.answer);
    // B is told by A's message.
    until("B applied A's invalidation", async || {
        metric_at(&b, REMOTE_INVALIDATIONS).await >= 1.0
    })
    .await;

    assert_eq!(email_of(&query(&b, AVA_EMAIL).await), "ava.new@example.com");
    assert_eq!(email_of(&query(&a, AVA_EMAIL).await), "ava.new@example.com");
    assert_eq!(sandbox.total_calls(), 2, "one more call, for both");
}

#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn a_webhook_delivered_to_one_mirrored_replica_is_fresh_on_the_others_mirror() {
    let redis = RedisServer::start();
    let sandbox = Sandbox::start(demo::store(NOW), KEY).await.unwrap();
    let mirrored = || {
        let mut config = replica(&sandbox, &redis);
        config.mirror = Some(stripe_graphql::mirror::MirrorSettings {
            reconcile_every: Duration::from_secs(3600),
        });
        config
    };
    let a = start_server(mirrored()).await;
    let b = start_server(mirrored()).await;
    for base in [&a, &b] {
        until("the replica's mirror is ready", async || {
            metric_at(base, "stripe_graphql_mirror_ready").await == 1.0
        })
        .await;
    }
    // After the backfills' second, so the event is ordered after them.
    let ready = stripe_sandbox::unix_now();
    until("the next second", async || {
        stripe_sandbox::unix_now() > ready
    })
    .await;
    sandbox.reset_calls();
    assert_eq!(
        email_of(&query(&b, AVA_EMAIL).await),
        "ava.martinez@example.com"
    );
    assert_eq!(sandbox.total_calls(), 0, "served from B's mirror");

    sandbox.send_webhooks_to(&format!("{a}/webhooks/stripe"), WEBHOOK_SECRET);
    let delivered = sandbox
        .update("customer", AVA, |c| {
            c["email"] = json!("ava.new@example.com")
        })
        .await
        .expect("delivered");
    assert_eq!(delivered.status, 200, "{:?}", delivered.answer);
    until("B applied A's invalidation", async || {
        metric_at(&b, REMOTE_INVALIDATIONS).await >= 1.0
    })
    .await;
    // A applied the event to its mirror; B forgot Ava and reads her again, once.
    assert_eq!(email_of(&query(&a, AVA_EMAIL).await), "ava.new@example.com");
    assert_eq!(email_of(&query(&b, AVA_EMAIL).await), "ava.new@example.com");
    assert_eq!(sandbox.total_calls(), 1, "{:?}", sandbox.calls());
    assert_eq!(email_of(&query(&b, AVA_EMAIL).await), "ava.new@example.com");
    assert_eq!(sandbox.total_calls(), 1);
}

#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn an_invalidation_during_another_replicas_fill_is_not_undone_by_the_fills_older_answer() {
    an_invalidation_during_another_replicas_fill_is_not_undone_by_the_fills_older_answer_over(
        RedisServer::start(),
    )
    .await;
}

async fn an_invalidation_during_another_replicas_fill_is_not_undone_by_the_fills_older_answer_over(
    redis: impl RedisUnderTest,
) {
    let (sandbox, _redis, a, b) = two_replicas(redis).await;
    sandbox.send_webhooks_to(&format!("{a}/webhooks/stripe"), WEBHOOK_SECRET);
    // B fills Ava; its Stripe call is held while Stripe changes and A is told.
    sandbox.hold_answers();
    let filling = tokio::spawn({
        let b = b.clone();
        async move { query(&b, AVA_EMAIL).await }
    });
    while sandbox.total_calls() < 1 {
        tokio::task::yield_now().await;
    }
    sandbox
        .update("customer", AVA, |c| {
            c["email"] = json!("ava.new@example.com")
        })
        .await
        .expect("delivered to A");
    sandbox.release_answers();
    filling.await.unwrap();

    // B's fill started before A's invalidation: neither Redis nor B kept it, so A asks
    // Stripe, and B then reads A's answer from Redis.
    assert_eq!(email_of(&query(&a, AVA_EMAIL).await), "ava.new@example.com");
    assert_eq!(sandbox.total_calls(), 2, "{:?}", sandbox.calls());
    until("B applied A's invalidation", async || {
        metric_at(&b, REMOTE_INVALIDATIONS).await >= 1.0
    })
    .await;
    assert_eq!(email_of(&query(&b, AVA_EMAIL).await), "ava.new@example.com");
    assert_eq!(sandbox.total_calls(), 2, "{:?}", sandbox.calls());
}

/// Which customers the two replicas' joins ask for.
#[derive(Clone, Copy, PartialEq)]
enum Joins {
    /// Each its own: the replicas share only the budget.
    Distinct,
    /// The same ones: the replicas share the fills too.
    Same,
}

/// Two replicas over one Redis, both paced at `account`/s for the account and 25/s for
/// each endpoint (a live key's defaults are 100 and 25, a test key's 25 and 25), against a
/// sandbox applying `limits`, each doing a cold join of `each` customers at the same time
/// (`joins`: other customers, or the same); with `redis_down`, Redis is killed before the
/// joins. Asserts no alias errored, one call per customer and under 5% of Stripe calls met a
/// 429.
async fn two_replicas_cold_joins_at_once(
    mut redis: impl RedisUnderTest,
    account: u32,
    limits: RateLimits,
    each: usize,
    joins: Joins,
    redis_down: bool,
) {
    let customers = if joins == Joins::Same { each } else { 2 * each };
    let sandbox = Sandbox::start(
        {
            let mut store = demo::store(NOW);
            demo::add_generated_customers(&mut store, customers, NOW);
            store
        },
        KEY,
    )
    .await
    .unwrap();
    sandbox.set_rate_limits(Some(limits));
    let paced = || {
        let mut config = replica(&sandbox, &redis);
        config.client.rate_limit = NonZeroU32::new(account);
        config.client.endpoint_rate_limit = NonZeroU32::new(25).unwrap();
        if !redis_down {
            // These runs are about coalescing, not outages: one Redis answer slower than the
            // 250 ms default on a loaded CI machine is an outage to the server (a second
            // without Redis, fills neither stored nor announced, so a waiter's lease lapses
            // and it asks Stripe too: what an outage costs, which the Redis-down tests cover).
            if let Some(redis) = config.redis.as_mut() {
                redis.timeout = Duration::from_secs(2);
            }
        }
        config
    };
    let a = start_server(paced()).await;
    let b = start_server(paced()).await;
    let (a_base, b_base) = (a.clone(), b.clone());
    if redis_down {
        redis.stop();
    }

    let second = if joins == Joins::Same { 0 } else { each };
    let joins: Vec<_> = [(a, 0), (b, second)]
        .into_iter()
        .map(|(base, first)| {
            tokio::spawn(async move {
                let ids: Vec<_> = (first..first + each)
                    .map(demo::generated_customer_id)
                    .collect();
                (
                    ids.clone(),
                    query(&base, &hasura_join(&ids, "{ id }")).await,
                )
            })
        })
        .collect();
    for join in joins {
        let (ids, body) = join.await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(body["data"][format!("f{i}")]["id"], json!(id));
        }
    }
    let calls = sandbox.total_calls();
    let refused = sandbox.rate_limited();
    let mut seen = Vec::new();
    for base in [&a_base, &b_base] {
        for series in [
            "stripe_graphql_redis_errors_total",
            "stripe_graphql_cache_events_total{event=\"shared_miss\"}",
            "stripe_graphql_cache_events_total{event=\"shared_coalesced\"}",
        ] {
            seen.push(format!("{series} {}", metric_at(base, series).await));
        }
    }
    assert_eq!(
        calls,
        customers + refused,
        "one call per customer, and every 429 retried; the replicas' counts: {seen:?}"
    );
    assert!(refused * 20 < calls, "{refused} of {calls} answered 429");
}

#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn two_replicas_cold_joins_at_once_in_test_mode_share_one_budget_without_errors() {
    two_replicas_cold_joins_at_once(
        RedisServer::start(),
        25,
        RateLimits::TEST,
        100,
        Joins::Distinct,
        false,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn two_replicas_cold_joins_at_once_in_live_mode_share_one_budget_without_errors() {
    two_replicas_cold_joins_at_once(
        RedisServer::start(),
        100,
        RateLimits::LIVE,
        100,
        Joins::Distinct,
        false,
    )
    .await;
}

/// The same 200 customers asked of both replicas at once: 8 s of Stripe calls at 25/s, so
/// most of one replica's misses wait seconds for the other's fills, queued behind the
/// shared budget; they wait as long as the holder renews its lease, and no customer costs
/// two calls.
#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn the_same_cold_join_asked_of_two_replicas_at_once_costs_one_call_per_customer() {
    two_replicas_cold_joins_at_once(
        RedisServer::start(),
        25,
        RateLimits::TEST,
        200,
        Joins::Same,
        false,
    )
    .await;
}

/// Without Redis, each of the two expected replicas paces at half the limits, so together
/// they still stay under Stripe's.
#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn with_redis_down_two_replicas_each_pace_at_half_the_limits_and_stay_under_stripes() {
    two_replicas_cold_joins_at_once(
        RedisServer::start(),
        25,
        RateLimits::TEST,
        50,
        Joins::Distinct,
        true,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn redis_killed_under_load_fails_no_query_and_the_replicas_share_again_once_it_is_back() {
    let sandbox = Sandbox::start(
        {
            let mut store = demo::store(NOW);
            demo::add_generated_customers(&mut store, 400, NOW);
            store
        },
        KEY,
    )
    .await
    .unwrap();
    let mut redis = RedisServer::start();
    let a = start_server(replica(&sandbox, &redis)).await;
    let b = start_server(replica(&sandbox, &redis)).await;

    // 16 clients, each asking both replicas for cold customers, while Redis is killed.
    let clients: Vec<_> = (0..16)
        .map(|client| {
            let (a, b) = (a.clone(), b.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in 0..20 {
                    let id = demo::generated_customer_id(client * 20 + i);
                    let base = if i % 2 == 0 { &a } else { &b };
                    let body = query(base, &format!("{{ customer(id: \"{id}\") {{ id }} }}")).await;
                    answers.push((id, body));
                }
                answers
            })
        })
        .collect();
    while sandbox.total_calls() < 40 {
        tokio::task::yield_now().await;
    }
    redis.kill();
    for client in clients {
        for (id, body) in client.await.unwrap() {
            assert!(body.get("errors").is_none(), "{id}: {body}");
            assert_eq!(body["data"]["customer"]["id"], json!(id));
        }
    }
    assert!(
        metric_at(&a, "stripe_graphql_redis_errors_total").await
            + metric_at(&b, "stripe_graphql_redis_errors_total").await
            >= 1.0
    );

    // Back (empty): each replica finds it again by itself.
    redis.restart();
    let probe = "{ customer(id: \"cus_BenCarter\") { id } }";
    for base in [&a, &b] {
        until("the replica uses Redis again", async || {
            query(base, probe).await;
            metric_at(base, "stripe_graphql_redis_up").await == 1.0
        })
        .await;
    }
    // Shared again: a cold customer asked of both costs one call, and a webhook to A is
    // fresh on B.
    let before = sandbox.total_calls();
    let cold = format!(
        "{{ customer(id: \"{}\") {{ id email }} }}",
        demo::generated_customer_id(399)
    );
    query(&a, &cold).await;
    query(&b, &cold).await;
    assert_eq!(sandbox.total_calls(), before + 1, "shared again");
    sandbox.send_webhooks_to(&format!("{a}/webhooks/stripe"), WEBHOOK_SECRET);
    let seen = metric_at(&b, REMOTE_INVALIDATIONS).await;
    sandbox
        .update("customer", &demo::generated_customer_id(399), |c| {
            c["email"] = json!("changed@example.com")
        })
        .await
        .expect("delivered");
    until("B applied A's invalidation", async || {
        metric_at(&b, REMOTE_INVALIDATIONS).await > seen
    })
    .await;
    assert_eq!(
        query(&b, &cold).await["data"]["customer"]["email"],
        json!("changed@example.com")
    );
}

#[tokio::test]
#[ignore = "needs redis-server: run by .ci/run"]
async fn redis_holds_only_the_deployments_namespaced_entries_and_no_secret() {
    let (sandbox, redis, a, _b) = two_replicas(RedisServer::start()).await;
    query(
        &a,
        "{ customers(first: 5) { data { id subscriptions { data { id } } } } }",
    )
    .await;
    sandbox.send_webhooks_to(&format!("{a}/webhooks/stripe"), WEBHOOK_SECRET);
    sandbox
        .update("customer", AVA, |c| c["name"] = json!("Ava M."))
        .await
        .expect("delivered");
    let keys = redis.cli(&["--scan"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert!(keys.len() > 5, "{keys:?}");
    let namespace = stripe_graphql::shared::namespace("test", KEY);
    for key in &keys {
        assert!(key.starts_with(&format!("{namespace}:")), "{key}");
    }
    let dump = keys
        .iter()
        .filter(|k| k.contains(":E:"))
        .map(|k| redis.cli(&["GET", k]))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        dump.contains("\"id\":\"cus_"),
        "entries hold customers: {dump}"
    );
    for secret in [KEY, WEBHOOK_SECRET] {
        assert!(!dump.contains(secret) && !keys.iter().any(|k| k.contains(secret)));
    }
}

/// The sharing tests again, over a three-primary Redis Cluster (`REDIS_CLUSTER=on`: every key
/// of the deployment in one slot, sharded pub/sub).
mod cluster {
    use super::*;
    use crate::redis_servers::RedisCluster;

    #[tokio::test]
    #[ignore = "needs redis-server: run by .ci/run"]
    async fn one_customer_asked_of_two_replicas_costs_one_stripe_call() {
        one_customer_asked_of_two_replicas_costs_one_stripe_call_over(RedisCluster::start()).await;
    }

    #[tokio::test]
    #[ignore = "needs redis-server: run by .ci/run"]
    async fn a_hundred_identical_cold_queries_split_between_two_replicas_cost_one_call() {
        a_hundred_identical_cold_queries_split_between_two_replicas_cost_one_call_over(
            RedisCluster::start(),
        )
        .await;
    }

    #[tokio::test]
    #[ignore = "needs redis-server: run by .ci/run"]
    async fn a_webhook_delivered_to_one_replica_is_fresh_on_the_other() {
        a_webhook_delivered_to_one_replica_is_fresh_on_the_other_over(RedisCluster::start()).await;
    }

    #[tokio::test]
    #[ignore = "needs redis-server: run by .ci/run"]
    async fn an_invalidation_during_another_replicas_fill_is_not_undone_by_the_fills_older_answer()
    {
        an_invalidation_during_another_replicas_fill_is_not_undone_by_the_fills_older_answer_over(
            RedisCluster::start(),
        )
        .await;
    }

    #[tokio::test]
    #[ignore = "needs redis-server: run by .ci/run"]
    async fn two_replicas_cold_joins_at_once_in_test_mode_share_one_budget_without_errors() {
        two_replicas_cold_joins_at_once(
            RedisCluster::start(),
            25,
            RateLimits::TEST,
            100,
            Joins::Distinct,
            false,
        )
        .await;
    }
}
