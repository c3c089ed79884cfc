//! The level several replicas share: Redis (`REDIS_URL`), between each replica's in-process
//! level and Stripe. A [`Source`] that answers a miss from Redis, else makes sure one replica
//! asks Stripe and every other waits for its answer.
//!
//! Guarantees (on top of the in-process level's, [`super`]):
//!
//! - **One answer for all replicas.** A miss reads the entry from Redis. An entry carries the
//!   time it was fetched from Stripe: it is answered as it is while fresh (the same TTLs as in
//!   process, counted from that time, so an in-process copy never outlives the shared one),
//!   kept past its TTL for the stale-if-error window, and never served from a fill that an
//!   invalidation overtook.
//! - **Coalescing across replicas.** Without a fresh entry, one replica takes a short lease on
//!   the key (`SET NX PX`, renewed while its Stripe call runs, so a lease whose holder died
//!   lapses within [`LEASE`]) and asks Stripe; the others wait for its "filled" message on
//!   pub/sub (not by polling) and read its answer. N replicas asking for one cold customer
//!   cost one Stripe call, however long the holder's call queues behind the rate limits: a
//!   waiter waits as long as the holder renews its lease, up to its own Stripe deadline
//!   (`wait_limit`). A waiter whose message does not come (the holder died) takes the lease
//!   itself when it lapses.
//! - **Invalidation everywhere.** An invalidation (a webhook, a write-through) bumps a
//!   generation per tag in Redis and deletes every entry holding one of the tags, in one
//!   script, before the webhook is answered; a fill that started before it is not stored (the
//!   same rule as in process, across replicas); and a message tells every other replica's
//!   in-process level.
//! - **Redis failing fails no request.** Without an answer from Redis (within
//!   `REDIS_TIMEOUT_MILLISECONDS`) the miss goes to Stripe as without Redis, with the
//!   in-process coalescing. Invalidations that could not reach Redis are kept (up to
//!   [`MAX_PENDING`] tags) and applied when it answers again; more than that makes every
//!   entry in Redis stale instead. And because pub/sub messages sent during an outage are
//!   lost, each replica forgets its whole in-process level when Redis comes back.
//! - **What is stored.** Stripe's objects as JSON without nulls ([`codec`]), under the
//!   deployment's namespace ([`crate::shared`]), each with a lifetime of its TTL plus the
//!   stale-if-error window: Redis holds no entry longer than that, and never a secret.

pub mod codec;
mod scripts;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::Duration,
};

use futures::{future::BoxFuture, FutureExt};
use tokio::{sync::Notify, time::Instant};

use super::{
    key::{Entry, Fetch, Filled, Key},
    source::{Remote, RemoteSink, Source},
    tags::{tags_of, Tag},
    CacheSettings,
};
use crate::{
    metrics::{CacheEvent, Metrics},
    shared::Shared,
    stripe::{request::ListRequest, StripeError},
};
use codec::{decode, encode, key_text, now_ms, tag_of, tag_text};

/// How long a lease on a key lasts unless its holder renews it (it does, every third of it,
/// while its Stripe call runs).
pub const LEASE: Duration = Duration::from_secs(3);

/// Most invalidated tags kept while Redis is unreachable, to apply when it is back.
pub const MAX_PENDING: usize = 10_000;

/// The channel a fill's key is announced on.
const FILLED: &str = "filled";
/// The channel invalidations are announced on.
const INVALIDATED: &str = "invalidated";

struct State {
    shared: Shared,
    /// Where a miss goes when Redis has nothing: Stripe.
    below: Arc<dyn Source>,
    settings: CacheSettings,
    metrics: Metrics,
    /// Misses of this replica waiting for another replica's fill, by entry key (an entry
    /// lives while a miss waits on it: [`Waiter`]).
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
    /// How long a miss waits for other replicas' fills of its key, at most, before asking
    /// Stripe itself: as long as its own Stripe call could take.
    wait_limit: Duration,
    /// Invalidations Redis did not take (an outage), to apply when it is back; `None` once
    /// more than [`MAX_PENDING`] tags piled up (then everything is made stale instead).
    pending: Mutex<Option<Vec<Tag>>>,
    /// The in-process level, told of other replicas' invalidations.
    sink: OnceLock<RemoteSink>,
}

/// The shared level (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct SharedSource {
    state: Arc<State>,
}

impl SharedSource {
    /// The level over `shared`, answering what Redis does not hold from `below`, with the
    /// cache's TTLs. Subscribes to the deployment's channels.
    pub async fn over(
        shared: Shared,
        below: Arc<dyn Source>,
        settings: CacheSettings,
        wait_limit: Duration,
        metrics: Metrics,
    ) -> Arc<dyn Source> {
        let source = SharedSource {
            state: Arc::new(State {
                shared: shared.clone(),
                below,
                settings,
                metrics,
                waiting: Mutex::new(HashMap::new()),
                wait_limit,
                pending: Mutex::new(Some(Vec::new())),
                sink: OnceLock::new(),
            }),
        };
        let weak = Arc::downgrade(&source.state);
        shared
            .subscribe(
                FILLED,
                Arc::new(move |payload: &[u8]| {
                    let (Some(state), Ok(key)) = (weak.upgrade(), std::str::from_utf8(payload))
                    else {
                        return;
                    };
                    let waiter = lock(&state.waiting).get(key).cloned();
                    if let Some(waiter) = waiter {
                        waiter.notify_waiters();
                    }
                }),
            )
            .await;
        let weak = Arc::downgrade(&source.state);
        shared
            .subscribe(
                INVALIDATED,
                Arc::new(move |payload: &[u8]| {
                    if let Some(state) = weak.upgrade() {
                        state.remote_invalidation(payload);
                    }
                }),
            )
            .await;
        let weak = Arc::downgrade(&source.state);
        shared.on_recovery(Arc::new(move || {
            if let Some(state) = weak.upgrade() {
                let io = crate::runtime::io();
                if let Ok(io) = io {
                    io.spawn(async move { SharedSource { state }.recovered().await });
                }
            }
        }));
        Arc::new(source)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A miss's interest in the "filled" message of one key: registered in
/// [`State::waiting`] while it lives, and the key forgotten when its last waiter goes, so
/// the map holds only keys being waited on.
struct Waiter<'a> {
    waiting: &'a Mutex<HashMap<String, Arc<Notify>>>,
    key: &'a str,
    notify: Option<Arc<Notify>>,
}

impl<'a> Waiter<'a> {
    fn new(waiting: &'a Mutex<HashMap<String, Arc<Notify>>>, key: &'a str) -> Waiter<'a> {
        let notify = lock(waiting).entry(key.to_owned()).or_default().clone();
        Waiter {
            waiting,
            key,
            notify: Some(notify),
        }
    }

    fn notify(&self) -> &Notify {
        self.notify
            .as_deref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut waiting = lock(self.waiting);
        drop(self.notify.take());
        // Under the lock, so no other miss can take a clone meanwhile.
        if waiting
            .get(self.key)
            .is_some_and(|notify| Arc::strong_count(notify) == 1)
        {
            waiting.remove(self.key);
        }
    }
}

/// What Redis holds for one fetch.
enum Held {
    /// Fresh: the answer.
    Fresh(Filled),
    /// Past its TTL but within the stale-if-error window: served only if Stripe fails.
    Stale(Filled),
    /// Nothing usable.
    Nothing,
}

impl State {
    /// How long an entry is answered fresh.
    fn ttl_of(&self, entry: &Entry) -> Duration {
        match entry {
            Entry::Missing => self.settings.not_found_ttl,
            _ => self.settings.ttl,
        }
    }

    /// How long Redis keeps an entry: its TTL and the stale-if-error window.
    fn keep_of(&self, entry: &Entry) -> Duration {
        self.ttl_of(entry) + self.settings.stale_if_error
    }

    /// How long a tag's invalidation is remembered: as long as any entry filled before it
    /// can live.
    fn retention(&self) -> Duration {
        self.settings.ttl.max(self.settings.not_found_ttl)
            + self.settings.stale_if_error
            + Duration::from_secs(60)
    }

    fn key(&self, name: &str) -> String {
        self.shared.key(name)
    }

    /// The generation keys (`V:<tag>`) of `tags`, then their member sets (`T:<tag>`), as
    /// the STORE and INVALIDATE scripts take them.
    fn tag_keys(&self, tags: &[Tag]) -> Vec<String> {
        ["V", "T"]
            .iter()
            .flat_map(|kind| {
                tags.iter()
                    .map(move |t| self.key(&format!("{kind}:{}", tag_text(t))))
            })
            .collect()
    }

    fn entry_key(&self, key: &Key) -> String {
        self.key(&format!("E:{}", key_text(key)))
    }

    /// An invalidation another replica announced: `<origin>\n<tag>\n…`, or `<origin>\n*`
    /// for everything.
    fn remote_invalidation(&self, payload: &[u8]) {
        let Ok(text) = std::str::from_utf8(payload) else {
            return;
        };
        let mut lines = text.split('\n');
        if lines.next() == Some(self.shared.replica()) {
            return;
        }
        let Some(sink) = self.sink.get() else {
            return;
        };
        let rest: Vec<&str> = lines.collect();
        self.metrics.cache(CacheEvent::RemoteInvalidation);
        if rest == ["*"] {
            sink(Remote::All);
        } else {
            let tags: Vec<Tag> = rest.into_iter().filter_map(tag_of).collect();
            sink(Remote::Tags(&tags));
        }
    }
}

impl SharedSource {
    /// The keys a fetch's answer is read from: the primary one, and for a customer with its
    /// first subscription page, that page.
    fn read_keys(&self, fetch: &Fetch) -> Vec<Key> {
        match fetch {
            Fetch::CustomerWithSubscriptions(id) => vec![
                Key::Object(id.clone()),
                Key::List(ListRequest::of_customer(id).query().clone()),
            ],
            other => vec![other.key()],
        }
    }

    /// What Redis holds for `fetch`; `None` when Redis did not answer.
    async fn read(&self, fetch: &Fetch) -> Option<Held> {
        let state = &self.state;
        let keys = self.read_keys(fetch);
        let mut names: Vec<String> = keys.iter().map(|k| state.entry_key(k)).collect();
        names.push(state.key("F"));
        let mut cmd = ::redis::cmd("MGET");
        for name in &names {
            cmd.arg(name);
        }
        let values: Vec<Option<Vec<u8>>> = state.shared.run(&cmd).await?;
        let floor: u64 = values
            .last()
            .cloned()
            .flatten()
            .and_then(|f| String::from_utf8(f).ok())
            .and_then(|f| f.parse().ok())
            .unwrap_or(0);
        let now = now_ms();
        let mut fresh = true;
        let mut found = Vec::new();
        for value in &values[..keys.len()] {
            let Some(decoded) = value.as_deref().and_then(decode) else {
                return Some(Held::Nothing);
            };
            if decoded.generation < floor {
                return Some(Held::Nothing);
            }
            let age = Duration::from_millis(now.saturating_sub(decoded.fetched_at_ms));
            if age >= state.keep_of(&decoded.entry) {
                return Some(Held::Nothing);
            }
            if age >= state.ttl_of(&decoded.entry) {
                fresh = false;
            }
            found.push((decoded.entry, age));
        }
        let mut found = found.into_iter();
        let (primary, age) = found.next()?;
        let mut filled = Filled {
            primary,
            also: Vec::new(),
            age,
        };
        // A customer's page: its own key, and each subscription on it by id.
        if let (Some((page, page_age)), Some(page_key)) = (found.next(), keys.get(1)) {
            if let Entry::Subscriptions(list) = &page {
                filled.also.extend(super::key::objects_of(list));
            }
            filled.also.push((page_key.clone(), page));
            filled.age = filled.age.max(page_age);
        }
        Some(if fresh {
            Held::Fresh(filled)
        } else {
            Held::Stale(filled)
        })
    }

    /// Stores what a fill fetched, each entry unless an invalidation overtook the fill
    /// (started at `generation`).
    async fn store(&self, key: &Key, filled: &Filled, generation: u64) {
        let state = &self.state;
        let fetched_at = now_ms().saturating_sub(filled.age.as_millis() as u64);
        let entries =
            std::iter::once((key, &filled.primary)).chain(filled.also.iter().map(|(k, e)| (k, e)));
        for (key, entry) in entries {
            let Some(value) = encode(entry, fetched_at, generation) else {
                continue;
            };
            let tags = tags_of(key, entry);
            let mut keys = vec![state.entry_key(key), state.key("F")];
            keys.extend(state.tag_keys(&tags));
            let keep = state.keep_of(entry).as_millis().to_string();
            let args = vec![
                value,
                keep.into_bytes(),
                generation.to_string().into_bytes(),
                tags.len().to_string().into_bytes(),
            ];
            let stored: Option<i64> = state.shared.script(&scripts::STORE, &keys, &args).await;
            if stored.is_none() {
                return;
            }
        }
    }

    /// This replica fills `fetch` from Stripe, holding the lease `lease` with `token`.
    async fn fill(
        &self,
        fetch: Fetch,
        lease: &str,
        token: &str,
        stale: Option<Filled>,
    ) -> Result<Filled, StripeError> {
        let state = &self.state;
        let generation: u64 = state
            .shared
            .run(::redis::cmd("GET").arg(state.key("G")))
            .await
            .unwrap_or(Some(0u64))
            .unwrap_or(0);
        let key = fetch.key();
        // Renew the lease while Stripe answers, so a slow call keeps it and a dead holder's
        // lapses.
        let renew = {
            let (shared, lease, token) = (state.shared.clone(), lease.to_owned(), token.to_owned());
            async move {
                let every = LEASE / 3;
                loop {
                    tokio::time::sleep(every).await;
                    let args = vec![
                        token.clone().into_bytes(),
                        LEASE.as_millis().to_string().into_bytes(),
                    ];
                    let _: Option<i64> = shared
                        .script(&scripts::EXTEND, std::slice::from_ref(&lease), &args)
                        .await;
                }
            }
        };
        let answer = tokio::select! {
            answer = state.below.fetch(fetch) => answer,
            _ = renew => unreachable!("the renewal loop never ends"),
        };
        let answer = match answer {
            Ok(filled) => {
                self.store(&key, &filled, generation).await;
                Ok(filled)
            }
            Err(e) if e.is_transient() && stale.is_some() => {
                state.metrics.cache(CacheEvent::StaleServed);
                tracing::warn!(error = %e, "stripe failed; serving the shared level's last good value (stale-if-error)");
                Ok(stale.unwrap_or_else(|| unreachable!()))
            }
            Err(e) => Err(e),
        };
        let _: Option<i64> = state
            .shared
            .script(
                &scripts::RELEASE,
                std::slice::from_ref(&lease.to_owned()),
                &[token.as_bytes().to_vec()],
            )
            .await;
        state
            .shared
            .publish(FILLED, state.entry_key(&key).as_bytes())
            .await;
        answer
    }

    async fn fetch_shared(self, fetch: Fetch) -> Result<Filled, StripeError> {
        let state = &self.state;
        let below = || state.below.fetch(fetch.clone());
        let entry_key = state.entry_key(&fetch.key());
        let lease = state.key(&format!("L:{}", key_text(&fetch.key())));
        let token = format!(
            "{}:{}",
            state.shared.replica(),
            uuid::Uuid::new_v4().simple()
        );
        let give_up = Instant::now() + state.wait_limit;
        let mut waited = false;
        loop {
            let stale = match self.read(&fetch).await {
                None => return below().await,
                Some(Held::Fresh(filled)) => {
                    state.metrics.cache(CacheEvent::SharedHit);
                    return Ok(filled);
                }
                Some(Held::Stale(filled)) => Some(filled),
                Some(Held::Nothing) => None,
            };
            // Listen for the fill before asking for the lease, so its message cannot be
            // missed between the two.
            let waiter = Waiter::new(&state.waiting, &entry_key);
            let notified = waiter.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut set = ::redis::cmd("SET");
            set.arg(&lease)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(LEASE.as_millis() as u64);
            let taken: Option<Option<String>> = state.shared.run(&set).await;
            match taken {
                None => return below().await,
                Some(Some(_)) => {
                    state.metrics.cache(CacheEvent::SharedMiss);
                    return self.fill(fetch, &lease, &token, stale).await;
                }
                Some(None) => {
                    if !waited {
                        state.metrics.cache(CacheEvent::SharedCoalesced);
                        waited = true;
                    }
                    let now = Instant::now();
                    if now >= give_up {
                        break;
                    }
                    // Another replica fills it: its message, or at most a lease's time (a
                    // holder alive renews it, so the loop waits again; one that died lets it
                    // lapse, and the next turn takes it).
                    let _ = tokio::time::timeout(LEASE.min(give_up - now), notified).await;
                }
            }
        }
        // A holder still renewing past the wait limit: ask Stripe, rather than wait on.
        below().await
    }

    /// Applies `tags` in Redis and tells the other replicas; `false` when Redis did not take
    /// them.
    async fn invalidate_shared(&self, tags: &[Tag]) -> bool {
        let state = &self.state;
        let mut keys = vec![state.key("G")];
        keys.extend(state.tag_keys(tags));
        let args = vec![
            tags.len().to_string().into_bytes(),
            state.retention().as_millis().to_string().into_bytes(),
        ];
        let applied: Option<i64> = state
            .shared
            .script(&scripts::INVALIDATE, &keys, &args)
            .await;
        if applied.is_none() {
            return false;
        }
        let mut message = state.shared.replica().to_owned();
        for tag in tags {
            message.push('\n');
            message.push_str(&tag_text(tag));
        }
        state.shared.publish(INVALIDATED, message.as_bytes()).await;
        true
    }

    /// Redis answers again: what this replica could not apply meanwhile is applied (or, if
    /// too much piled up, every entry in Redis is made stale), and the in-process level is
    /// emptied, since other replicas' invalidation messages may have been lost.
    async fn recovered(self) {
        let state = &self.state;
        let pending = lock(&state.pending).replace(Vec::new());
        match pending {
            Some(tags) if tags.is_empty() => {}
            Some(tags) => {
                if !self.invalidate_shared(&tags).await {
                    self.keep_pending(&tags);
                }
            }
            None => {
                let keys = vec![state.key("G"), state.key("F")];
                let _: Option<i64> = state.shared.script(&scripts::FLOOR, &keys, &[]).await;
                let message = format!("{}\n*", state.shared.replica());
                state.shared.publish(INVALIDATED, message.as_bytes()).await;
            }
        }
        if let Some(sink) = state.sink.get() {
            sink(Remote::All);
        }
    }

    /// Keeps `tags` to apply when Redis is back (or gives up counting: everything then).
    fn keep_pending(&self, tags: &[Tag]) {
        let mut pending = lock(&self.state.pending);
        if let Some(kept) = pending.as_mut() {
            kept.extend(tags.iter().cloned());
            if kept.len() > MAX_PENDING {
                *pending = None;
            }
        }
    }
}

impl Source for SharedSource {
    fn fetch(&self, fetch: Fetch) -> BoxFuture<'static, Result<Filled, StripeError>> {
        self.clone().fetch_shared(fetch).boxed()
    }

    fn invalidated(&self, tags: &[Tag]) -> BoxFuture<'static, ()> {
        let source = self.clone();
        let tags = tags.to_vec();
        async move {
            if !source.invalidate_shared(&tags).await {
                source.keep_pending(&tags);
            }
        }
        .boxed()
    }

    fn attach(&self, sink: RemoteSink) {
        let _ = self.state.sink.set(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_waited_on_while_a_waiter_lives_and_forgotten_with_the_last() {
        let waiting = Mutex::new(HashMap::new());
        let first = Waiter::new(&waiting, "E:c:cus_1");
        let second = Waiter::new(&waiting, "E:c:cus_1");
        let other = Waiter::new(&waiting, "E:c:cus_2");
        assert_eq!(lock(&waiting).len(), 2);
        // The two waiters of one key share its notification.
        assert!(std::ptr::eq(first.notify(), second.notify()));

        drop(first);
        assert!(
            lock(&waiting).contains_key("E:c:cus_1"),
            "second still waits"
        );
        drop(second);
        assert!(!lock(&waiting).contains_key("E:c:cus_1"));
        drop(other);
        assert!(lock(&waiting).is_empty());
    }
}
