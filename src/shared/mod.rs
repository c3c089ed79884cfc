//! What several replicas share: Redis (`REDIS_URL`), one connection per process, under one
//! namespace, with pub/sub and the health of the link.
//!
//! Guarantees:
//!
//! - **Namespaced, one hash slot.** Every key and channel is `{<REDIS_KEY_PREFIX>:<mode>:<key
//!   fingerprint>}:<name>`: the mode (`test`, `live`) and a fingerprint of the Stripe key (the
//!   first 16 hex digits of its SHA-256, which reveals nothing of it) keep two Stripe accounts,
//!   or test and live, sharing one Redis apart, and the braces put every key of a deployment in
//!   one Redis Cluster hash slot, so each script's keys share a slot and sharded pub/sub
//!   reaches every replica. No secret is ever written to Redis.
//! - **Redis failing never fails a request.** Every command is bounded by
//!   `REDIS_TIMEOUT_MILLISECONDS`; a failure marks Redis down for a second, during which no
//!   command is tried (callers go on without it: [`Shared::available`]). During an outage a
//!   probe pings Redis every second, so the end of it is found even when no request needs
//!   Redis (everything served from memory); the connection reconnects by itself (and
//!   resubscribes). An outage is logged once when it starts and once when it ends, never per
//!   request, and counted (`redis_errors_total`, `redis_up`); when it ends the
//!   [`Shared::on_recovery`] hooks run.
//! - **Pub/sub** ([`Shared::publish`], [`Shared::subscribe`]): one subscription per process,
//!   on the same connection (RESP3), messages dispatched to the handlers registered for their
//!   channel. Redis delivers at most once: a message published while this process was cut off
//!   is lost, which the recovery hooks account for.

mod conn;

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::Duration,
};

use ::redis::{FromRedisValue, PushInfo, PushKind, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::{metrics::Metrics, secret::SecretString};
use conn::Conn;

/// How long Redis is left alone after a failure before the next command tries again.
const BACKOFF: Duration = Duration::from_secs(1);

/// Where Redis is and how it is used (`REDIS_URL`, `REDIS_CLUSTER`, `REDIS_KEY_PREFIX`,
/// `REDIS_TIMEOUT_MILLISECONDS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS; with `cluster`, one or
    /// more seed nodes separated by commas. Kept as a secret: it may hold a password.
    pub url: SecretString,
    /// Whether Redis is a Redis Cluster.
    pub cluster: bool,
    /// The first part of every key, to share one Redis with other applications.
    pub prefix: String,
    /// Bound on every command.
    pub timeout: Duration,
    /// How many replicas share the account's Stripe limits: while Redis does not answer, each
    /// paces its calls at the limits divided by this.
    pub expected_replicas: NonZeroU32,
}

/// A handler for the messages of one channel.
pub type Handler = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// What runs when an outage ends.
pub type RecoveryHook = Arc<dyn Fn() + Send + Sync>;

/// Why Redis could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// `REDIS_URL` is not a Redis URL (what is wrong, never the URL itself: it may hold a
    /// password).
    #[error("REDIS_URL is not a Redis URL: {0}")]
    BadUrl(String),
}

struct Inner {
    conn: Conn,
    namespace: String,
    /// This process's id among the replicas (a random UUID), to tell its own messages.
    replica: String,
    timeout: Duration,
    metrics: Metrics,
    /// Whether an outage is in progress.
    down: AtomicBool,
    /// Until when no command is tried.
    quiet_until: Mutex<Option<Instant>>,
    handlers: Mutex<HashMap<String, Vec<Handler>>>,
    recovery: Mutex<Vec<RecoveryHook>>,
}

/// The shared Redis of one process. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Shared {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

/// `{prefix:mode:fingerprint}`: the namespace of a deployment whose Stripe key is `key`.
pub fn namespace(prefix: &str, key: &str) -> String {
    let mode = if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
        "live"
    } else {
        "test"
    };
    let digest = Sha256::digest(key.as_bytes());
    let fingerprint: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{{{prefix}:{mode}:{fingerprint}}}")
}

impl Shared {
    /// Connects (lazily: a Redis that is down at start is tried again by itself) for the
    /// deployment whose Stripe key is `stripe_key`.
    pub fn connect(
        settings: &RedisSettings,
        stripe_key: &SecretString,
        metrics: Metrics,
    ) -> Result<Shared, SharedError> {
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let weak = weak.clone();
            let on_push = move |push: PushInfo| {
                if let Some(inner) = weak.upgrade() {
                    dispatch(&inner, push);
                }
            };
            let conn = Conn::open(settings, on_push);
            Inner {
                conn: conn.unwrap_or_else(Conn::broken),
                namespace: namespace(&settings.prefix, stripe_key.expose()),
                replica: uuid::Uuid::new_v4().simple().to_string(),
                timeout: settings.timeout,
                metrics,
                down: AtomicBool::new(false),
                quiet_until: Mutex::new(None),
                handlers: Mutex::new(HashMap::new()),
                recovery: Mutex::new(Vec::new()),
            }
        });
        if inner.conn.is_broken() {
            return Err(SharedError::BadUrl(conn::url_problem(settings)));
        }
        inner.metrics.redis_up(true);
        Ok(Shared { inner })
    }

    /// Waits, at most `within`, until the connection is made (a Redis Cluster's slots are
    /// learnt in the background from the seed nodes): so the first requests and the
    /// subscriptions of a starting server already use it. Whether it is; when not, the server
    /// goes on without Redis until the probe finds it.
    pub async fn connected(&self, within: Duration) -> bool {
        self.inner.conn.connected(within).await
    }

    /// The full name of key or channel `name` in this deployment's namespace.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.inner.namespace)
    }

    /// This process's id among the replicas.
    pub fn replica(&self) -> &str {
        &self.inner.replica
    }

    /// Whether Redis is worth a try now (not within a second of a failure).
    pub fn available(&self) -> bool {
        let quiet = self
            .inner
            .quiet_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        quiet.is_none_or(|until| Instant::now() >= until)
    }

    /// Runs `cmd`, bounded by the timeout: its answer, or `None` when Redis failed (counted;
    /// logged once per outage) or is resting after a failure.
    pub async fn run<T: FromRedisValue>(&self, cmd: &::redis::Cmd) -> Option<T> {
        if !self.available() {
            return None;
        }
        let answer = self.guard(self.inner.conn.query(cmd)).await?;
        self.decode(answer)
    }

    /// Runs `script` on `keys` (all of this namespace) with `args`, as [`Shared::run`]
    /// (`EVALSHA`, and the script itself when Redis does not know it yet: a restart, a new
    /// primary).
    pub async fn script<T: FromRedisValue>(
        &self,
        script: &::redis::Script,
        keys: &[String],
        args: &[Vec<u8>],
    ) -> Option<T> {
        if !self.available() {
            return None;
        }
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg.as_slice());
        }
        let answer = self.guard(self.inner.conn.invoke(&invocation)).await?;
        self.decode(answer)
    }

    /// Awaits `call` within the timeout, recording the outcome in the link's health.
    async fn guard(
        &self,
        call: impl std::future::Future<Output = ::redis::RedisResult<Value>>,
    ) -> Option<Value> {
        match tokio::time::timeout(self.inner.timeout, call).await {
            Ok(Ok(value)) => {
                self.succeeded();
                Some(value)
            }
            Ok(Err(e)) if refused_command(&e) => {
                // Redis answered, with an error about the command: the link is fine.
                self.succeeded();
                tracing::warn!(error = %e, "redis refused a command");
                None
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("no answer within REDIS_TIMEOUT_MILLISECONDS");
                None
            }
        }
    }

    fn decode<T: FromRedisValue>(&self, value: Value) -> Option<T> {
        match T::from_redis_value(value) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!(error = %e, "redis answered something unexpected");
                None
            }
        }
    }

    /// Publishes `payload` on channel `name` of this namespace (sharded in a cluster).
    pub async fn publish(&self, name: &str, payload: &[u8]) -> bool {
        let cmd = self.inner.conn.publish_cmd(&self.key(name), payload);
        self.run::<Value>(&cmd).await.is_some()
    }

    /// Calls `handler` with the payload of every message on channel `name` of this
    /// namespace, from now on (the subscription is made once per channel, and renewed after
    /// a reconnection by the connection itself).
    pub async fn subscribe(&self, name: &str, handler: Handler) {
        let channel = self.key(name);
        let first = {
            let mut handlers = self
                .inner
                .handlers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let entry = handlers.entry(channel.clone()).or_default();
            entry.push(handler);
            entry.len() == 1
        };
        if first {
            if let Err(e) = self.inner.conn.subscribe(&channel).await {
                self.failed(&e.to_string());
            }
        }
    }

    /// Runs `hook` each time an outage ends (Redis answers again after failing).
    pub fn on_recovery(&self, hook: RecoveryHook) {
        self.inner
            .recovery
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(hook);
    }

    fn succeeded(&self) {
        let inner = &self.inner;
        if inner.down.swap(false, Ordering::SeqCst) {
            tracing::info!("redis reachable again: replicas share their cache and limits again");
            inner.metrics.redis_up(true);
            let hooks = inner
                .recovery
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            for hook in hooks {
                hook();
            }
        }
    }

    fn failed(&self, why: &str) {
        let inner = &self.inner;
        inner.metrics.redis_error();
        *inner
            .quiet_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + BACKOFF);
        if !inner.down.swap(true, Ordering::SeqCst) {
            inner.metrics.redis_up(false);
            tracing::warn!(
                reason = %why,
                "redis unreachable: serving with the in-process cache, coalescing and limits until it is back"
            );
            self.probe();
        }
    }

    /// Pings Redis every [`BACKOFF`] until it answers (then the outage ends).
    fn probe(&self) {
        let Ok(io) = crate::runtime::io() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        io.spawn(async move {
            loop {
                tokio::time::sleep(BACKOFF).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                if !inner.down.load(Ordering::SeqCst) {
                    return;
                }
                let shared = Shared { inner };
                let cmd = ::redis::cmd("PING");
                let ping = shared.inner.conn.query(&cmd);
                if let Ok(Ok(_)) = tokio::time::timeout(shared.inner.timeout, ping).await {
                    *shared
                        .inner
                        .quiet_until
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = None;
                    shared.succeeded();
                    return;
                }
            }
        });
    }
}

/// Whether Redis answered `e` about the command itself (a script error, a wrong type, a
/// missing permission): the link works. Cluster states (down, loading, read-only, moved) and
/// I/O failures are outages.
fn refused_command(e: &::redis::RedisError) -> bool {
    use ::redis::{ErrorKind, ServerErrorKind};
    matches!(
        e.kind(),
        ErrorKind::Server(
            ServerErrorKind::ResponseError
                | ServerErrorKind::ExecAbort
                | ServerErrorKind::NoScript
                | ServerErrorKind::CrossSlot
                | ServerErrorKind::NoPerm
        ) | ErrorKind::UnexpectedReturnType
    )
}

/// Hands a pushed message to the handlers of its channel.
fn dispatch(inner: &Inner, push: PushInfo) {
    if !matches!(push.kind, PushKind::Message | PushKind::SMessage) {
        return;
    }
    let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
        (push.data.first(), push.data.get(1))
    else {
        return;
    };
    let Ok(channel) = std::str::from_utf8(channel) else {
        return;
    };
    let handlers = inner
        .handlers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(channel)
        .cloned()
        .unwrap_or_default();
    for handler in handlers {
        handler(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_keeps_modes_and_keys_apart_and_holds_no_secret() {
        let test = namespace("sg", "sk_test_51Abcdef0123456789");
        let live = namespace("sg", "sk_live_51Abcdef0123456789");
        let other = namespace("sg", "sk_test_51Zzzzzz0123456789");
        assert!(
            test.starts_with("{sg:test:") && test.ends_with('}'),
            "{test}"
        );
        assert!(live.starts_with("{sg:live:"), "{live}");
        assert_ne!(test, other);
        assert_eq!(test, namespace("sg", "sk_test_51Abcdef0123456789"));
        assert!(!test.contains("51Abcdef"));
        // One hash tag: every key of the deployment in one cluster slot.
        assert_eq!(test.matches('{').count(), 1);
    }
}
