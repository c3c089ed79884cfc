//! The cache in front of Stripe: every Stripe call the GraphQL layer and the profile sync
//! make goes through [`StripeCache`], reads and writes alike.
//!
//! | module | holds |
//! |---|---|
//! | this one | [`StripeCache`]: the lookup (fresh entry, else the one call in flight, else stale-if-error), the write-through, the guarantees below |
//! | [`key`] | keys, the [`Fetch`] a miss asks for, the typed entries |
//! | [`memory`] | the in-process level: moka, TTLs, invalidation generations |
//! | [`source`] | the seam below it: where a miss is answered ([`StripeSource`]: Stripe itself) |
//! | [`tags`] | what each entry holds and what each change makes stale |
//!
//! One instance is shared by every request, and it guarantees:
//!
//! - **Freshness bound.** A found object or list page is served from memory for at most the
//!   configured TTL (default 60 s) after it was fetched; a "does not exist" answer (404 or a
//!   deleted object) for at most the not-found TTL (default 10 s). Errors are never cached.
//! - **Webhook freshness.** [`StripeCache::invalidate`] (called for every verified webhook)
//!   makes every entry holding a changed object stale at once, list pages and embedding
//!   objects included; an answer whose Stripe call was in flight when the invalidation
//!   landed is never stored, and a lookup that began after it never takes that answer.
//! - **Coalescing.** Concurrent lookups of the same key while it is missing or expired are
//!   coalesced into one Stripe call: the first starts it, the others wait for its answer
//!   (success or error). This holds within one GraphQL request (repeated aliases) and across
//!   requests (Hasura's back-to-back join calls). The call runs as its own task on the Stripe
//!   I/O runtime, so it fills the cache even when the requests that wanted it are gone, and
//!   no HTTP worker's shutdown can cut it off.
//! - **Stale-if-error.** A value is kept for the stale-if-error window (default 300 s) past
//!   its TTL. When refreshing it fails with an outage, a timeout, a rate limit or an answer
//!   that is not JSON (after the client's retries: [`StripeError::is_transient`]), that last
//!   good value is served instead of an error, logged at warn and counted; never a value a
//!   webhook invalidated, and never instead of an answer about the request itself (bad key,
//!   refused parameter).
//! - **One call fills every entry its answer holds.** A list page fills each object on it
//!   under its id, and a customer fetched with `expand[]=subscriptions`
//!   ([`StripeCache::customer`]) fills the customer, its first subscription page and each
//!   subscription: a later query that asks for any of them another way costs no call.
//! - **Writes are written through.** [`StripeCache::write`] sends one write and, once Stripe
//!   confirmed it, makes stale everything the change touches (the same tags as the matching
//!   webhook) and stores Stripe's answer: the next read of the object costs no call and sees
//!   the write. A retried delete or cancel that meets its own earlier success answers that
//!   state ([`StripeCache::delete_customer`], [`StripeCache::cancel_subscription`]).
//! - **Size bound.** At most `max_entries` entries (objects and list pages together); beyond
//!   that the least useful entries are evicted (moka's TinyLFU policy).

pub mod key;
pub mod memory;
pub mod shared;
pub mod source;
pub mod tags;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::{
    future::{BoxFuture, Shared},
    FutureExt,
};
use tracing::Instrument;

pub use key::{CachedList, CachedObject, Fetch, Filled, Key};
pub use shared::SharedSource;
pub use source::{Remote, RemoteSink, Source, StripeSource, Wrote};
pub use tags::{Tag, Written};

use key::Entry;
use memory::{Memory, Stored};

use crate::{
    clock,
    ids::StripeId,
    metrics::{CacheEvent, Metrics},
    stripe::{
        models::{Customer, List, Subscription, SubscriptionItem},
        request::ListRequest,
        write::{Form, Write},
        StripeClient, StripeError,
    },
};

/// Most pages read when completing a subscription's items (Stripe allows 20 items per
/// subscription, so one page of 100 always suffices; the bound is a guard).
const MAX_ITEM_PAGES: usize = 5;

/// How many times a lookup starts over when the answer it got was made stale by a webhook
/// that arrived after the lookup began (each time means another invalidation landed during
/// a Stripe call; the bound only stops a webhook storm from holding a request forever).
const MAX_REFETCHES: usize = 3;

/// Cache bounds (`CACHE_TTL_SECONDS`, `CACHE_NOT_FOUND_TTL_SECONDS`,
/// `CACHE_STALE_IF_ERROR_SECONDS`, `CACHE_MAX_ENTRIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// TTL of found objects and list pages; zero disables reuse (coalescing stays).
    pub ttl: Duration,
    /// TTL of "does not exist" answers.
    pub not_found_ttl: Duration,
    /// How long past its TTL a value may still be served when Stripe fails.
    pub stale_if_error: Duration,
    /// Entry bound.
    pub max_entries: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            ttl: Duration::from_secs(60),
            not_found_ttl: Duration::from_secs(10),
            stale_if_error: Duration::from_secs(300),
            max_entries: 10_000,
        }
    }
}

type Flight = Shared<BoxFuture<'static, Result<Arc<Stored>, StripeError>>>;

struct Inner {
    memory: Memory,
    /// Where misses are answered.
    source: Arc<dyn Source>,
    /// Writes, and the reads that must not be served from a cache (a search, the state a
    /// write depends on), go to Stripe through it.
    client: StripeClient,
    metrics: Metrics,
    /// Lookups whose call is in flight, by key (the coalescing).
    inflight: Mutex<HashMap<Key, Flight>>,
}

/// The shared cache in front of Stripe (see the module docs for its guarantees). Cheap to
/// clone; clones share everything.
#[derive(Clone)]
pub struct StripeCache {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StripeCache {
    /// A cache over `client` (misses answered by Stripe itself) with the given bounds,
    /// counting its events in `metrics`.
    pub fn new(client: StripeClient, settings: CacheSettings, metrics: Metrics) -> StripeCache {
        let source = StripeSource::shared(client.clone());
        StripeCache::over(source, client, settings, metrics)
    }

    /// A cache whose misses `source` answers; writes go to Stripe through `client`.
    pub fn over(
        source: Arc<dyn Source>,
        client: StripeClient,
        settings: CacheSettings,
        metrics: Metrics,
    ) -> StripeCache {
        let cache = StripeCache {
            inner: Arc::new(Inner {
                memory: Memory::new(settings, metrics.clone()),
                source,
                client,
                metrics,
                inflight: Mutex::new(HashMap::new()),
            }),
        };
        let weak = Arc::downgrade(&cache.inner);
        cache
            .inner
            .source
            .attach(Arc::new(move |remote: Remote<'_>| {
                if let Some(inner) = weak.upgrade() {
                    match remote {
                        Remote::Tags(tags) => inner.memory.invalidate(tags),
                        Remote::All => inner.memory.invalidate_all(),
                    }
                }
            }));
        cache
    }

    /// The entry `fetch` asks for: from memory when fresh and not invalidated, else from the
    /// one call in flight for its key (started by this lookup if there is none), else, when
    /// that call fails with a transient error, the last good entry if it is within the
    /// stale-if-error window and no webhook invalidated it.
    async fn lookup(&self, fetch: Fetch) -> Result<Arc<Stored>, StripeError> {
        let inner = &self.inner;
        let memory = &inner.memory;
        let key = fetch.key();
        let asked_at = memory.generation();
        let mut previous = None;
        if let Some(stored) = memory.get(&key) {
            if memory.is_current(&stored) {
                if memory.is_fresh(&stored) {
                    inner.metrics.cache(CacheEvent::Hit);
                    return Ok(stored);
                }
                previous = Some(stored);
            } else {
                inner.metrics.cache(CacheEvent::Invalidated);
                memory.remove(&key);
            }
        }
        let mut refetches = 0;
        loop {
            let flight = self.join_or_start(&key, &fetch);
            match flight.await {
                Ok(stored) => match memory.invalidated_since(&stored) {
                    // This lookup joined a call that started before a webhook the lookup
                    // itself came after: the answer may predate the change, so ask again
                    // (that flight is over, so this starts or joins a newer call).
                    Some(at) if at <= asked_at && refetches < MAX_REFETCHES => {
                        refetches += 1;
                    }
                    _ => return Ok(stored),
                },
                Err(e) => {
                    let stale = previous
                        .filter(|p| e.is_transient() && memory.is_current(p) && memory.is_kept(p));
                    return match stale {
                        Some(stale) => {
                            inner.metrics.cache(CacheEvent::StaleServed);
                            tracing::warn!(
                                error = %e,
                                age_s = stale.fetched_at.elapsed().as_secs(),
                                "stripe failed; serving the last good value (stale-if-error)"
                            );
                            Ok(stale)
                        }
                        None => Err(e),
                    };
                }
            }
        }
    }

    /// The flight for `key`: the one in progress, or a new one asking the source for
    /// `fetch`. The call runs as its own task, so it completes and fills the cache even if
    /// every lookup waiting for it is dropped (a client that hung up).
    fn join_or_start(&self, key: &Key, fetch: &Fetch) -> Flight {
        let inner = &self.inner;
        let mut inflight = lock(&inner.inflight);
        if let Some(flight) = inflight.get(key) {
            inner.metrics.cache(CacheEvent::Coalesced);
            return flight.clone();
        }
        inner.metrics.cache(CacheEvent::Miss);
        let fetched_gen = inner.memory.generation();
        let call = inner.source.fetch(fetch.clone());
        let task_inner = inner.clone();
        let task_key = key.clone();
        // The task removes its own map entry when done; it cannot do so before the entry
        // is inserted below, because it needs this lock to.
        // On the Stripe I/O runtime, which outlives every HTTP worker (see
        // `runtime::io`), and in the span of the lookup that started it, so its log
        // lines carry that request.
        let task = inner.client.io().spawn(
            async move {
                let outcome = call.await.map(|filled| {
                    task_inner
                        .memory
                        .store(task_key.clone(), filled, fetched_gen)
                });
                lock(&task_inner.inflight).remove(&task_key);
                outcome
            }
            .in_current_span(),
        );
        let flight: Flight = async move {
            task.await.unwrap_or(Err(StripeError::Unavailable {
                status: None,
                request_id: None,
            }))
        }
        .boxed()
        .shared();
        inflight.insert(key.clone(), flight.clone());
        flight
    }

    /// The object with this id, or `None` if Stripe says it does not exist or was deleted.
    /// One Stripe call when not cached (and none if a cached list page held it).
    pub async fn object<T: CachedObject>(
        &self,
        id: &StripeId,
    ) -> Result<Option<Arc<T>>, StripeError> {
        let stored = self.lookup(Fetch::Object(id.clone())).await?;
        Ok(T::unwrap(&stored.entry))
    }

    /// The customer with this id, as [`StripeCache::object`]. With `with_subscriptions`
    /// (the caller will read the customer's first page of subscriptions with default
    /// arguments) and neither the customer nor that page cached, one call
    /// (`GET /v1/customers/{id}?expand[]=subscriptions`) fills both the customer and the page
    /// ([`ListRequest::of_customer`]), and each subscription on it under its own id.
    pub async fn customer(
        &self,
        id: &StripeId,
        with_subscriptions: bool,
    ) -> Result<Option<Arc<Customer>>, StripeError> {
        if !with_subscriptions {
            return self.object(id).await;
        }
        let memory = &self.inner.memory;
        if let Some(stored) = memory.fresh(&Key::Object(id.clone())) {
            self.inner.metrics.cache(CacheEvent::Hit);
            return Ok(key::unwrap::<Customer>(&stored.entry));
        }
        let page_key = Key::List(ListRequest::of_customer(id).query().clone());
        if memory.fresh(&page_key).is_some() {
            return self.object(id).await;
        }
        let stored = self
            .lookup(Fetch::CustomerWithSubscriptions(id.clone()))
            .await?;
        Ok(key::unwrap::<Customer>(&stored.entry))
    }

    /// One page of a list. Every object on it is also cached under its id (for types
    /// retrievable by id). A not-found answer is an error here: what it means depends on the
    /// list (see [`StripeCache::subscriptions`]).
    pub async fn list<T: CachedList>(
        &self,
        request: &ListRequest<T>,
    ) -> Result<Arc<List<T>>, StripeError> {
        let stored = self.lookup(Fetch::List(request.query().clone())).await?;
        T::unwrap_list(&stored.entry).ok_or(StripeError::BadResponse { request_id: None })
    }

    /// One page of subscriptions. When the list is filtered by a customer Stripe says does
    /// not exist, the page is empty (a customer that is gone has no subscriptions); any other
    /// missing object (a vanished `after` cursor, an unknown price) is an error, never an
    /// empty page.
    pub async fn subscriptions(
        &self,
        request: &ListRequest<Subscription>,
    ) -> Result<Arc<List<Subscription>>, StripeError> {
        match self.list(request).await {
            Err(e) if request.customer_is_missing(&e) => Ok(Arc::new(List::default())),
            other => other,
        }
    }

    /// Every item of a subscription whose embedded item list was truncated (`has_more`),
    /// read from `GET /v1/subscription_items` (one page in practice: Stripe caps items at 20).
    pub async fn all_subscription_items(
        &self,
        subscription: &StripeId,
    ) -> Result<Vec<Arc<SubscriptionItem>>, StripeError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_ITEM_PAGES {
            let request = ListRequest::subscription_items(subscription, after.as_deref());
            let page = self.list(&request).await?;
            items.extend(page.data.iter().cloned());
            match (page.has_more, page.data.last()) {
                (true, Some(last)) => after = Some(last.id.clone()),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Customers matching a Stripe search `query` (`GET /v1/customers/search`, the first
    /// 100), asked of Stripe every time: the search index lags writes by up to a minute, so
    /// its answer is never reused as such. Each customer found is stored under its id (the
    /// objects themselves are current), unless a webhook for it landed during the search.
    pub async fn search_customers(&self, query: &str) -> Result<Vec<Arc<Customer>>, StripeError> {
        let fetched_gen = self.inner.memory.generation();
        let found = self.inner.client.search_customers(query).await?;
        Ok(found
            .into_iter()
            .map(|customer| self.remember(customer, fetched_gen))
            .collect())
    }

    /// The object as Stripe has it now, asked of Stripe (uncached): for a decision a write
    /// depends on. A deleted object is [`StripeError::Deleted`], a missing one
    /// [`StripeError::NotFound`]. The answer is stored under its id, unless a webhook for it
    /// landed during the call.
    pub async fn current<T: Written>(&self, id: &StripeId) -> Result<Arc<T>, StripeError> {
        let fetched_gen = self.inner.memory.generation();
        let object = self.inner.client.retrieve::<T>(id).await?;
        Ok(self.remember(object, fetched_gen))
    }

    /// Stores an object a read answered, as a fetch that started at `fetched_gen` would.
    fn remember<T: Written>(&self, object: T, fetched_gen: u64) -> Arc<T> {
        let object = Arc::new(object);
        if let Ok(id) = StripeId::parse(T::KIND, object.id()) {
            let filled = Filled::one(T::wrap(object.clone()));
            self.inner
                .memory
                .store(Key::Object(id), filled, fetched_gen);
        }
        object
    }

    /// Sends one write that answers a `T` (a created, changed or canceled object) and writes
    /// Stripe's answer through: everything the change touches is made stale (as
    /// [`StripeCache::invalidate`], so no read in flight during the write can store what it
    /// fetched before it), then the answer is stored under its id. The next lookup of the
    /// object costs no call and sees the write; lists and embedding objects are fetched again
    /// on their next lookup. A webhook for the same change later only invalidates again.
    pub async fn write<T: Written>(&self, write: &Write) -> Result<Arc<T>, StripeError> {
        let from = clock::unix_now();
        let object = self.inner.client.write::<T>(write).await?;
        Ok(self.written(object, from, write.creates()).await)
    }

    /// [`StripeCache::write`]'s write-through, for an object Stripe answered a write sent at
    /// the Unix second `from` with (`created`: the write was a create); the source below is
    /// told of it too ([`Source::wrote`]).
    async fn written<T: Written>(&self, object: T, from: i64, created: bool) -> Arc<T> {
        self.invalidate(&object.change_tags()).await;
        let generation = self.inner.memory.generation();
        let object = self.remember(object, generation);
        let entry = T::wrap(object.clone());
        let wrote = if created {
            Wrote::Created(&entry)
        } else {
            Wrote::Object(&entry)
        };
        self.inner.source.wrote(wrote, from, clock::unix_now());
        object
    }

    /// Deletes a customer (`DELETE /v1/customers/{id}`; Stripe cancels its subscriptions).
    /// Deleting one that is already deleted succeeds (Stripe answers a second delete with
    /// 404 but still knows the customer as deleted: one read checks it), so a retry after a
    /// lost answer reaches the state asked for; one that never existed is
    /// [`StripeError::NotFound`]. Afterwards the customer is "does not exist" here, and its
    /// subscriptions and every list that held them are stale.
    pub async fn delete_customer(&self, id: &StripeId) -> Result<(), StripeError> {
        let from = clock::unix_now();
        let client = &self.inner.client;
        match client
            .delete(&Write::delete(id.clone(), Form::new()), "customer")
            .await
        {
            Ok(()) => {}
            Err(error @ StripeError::NotFound { .. }) => {
                match client.retrieve::<Customer>(id).await {
                    Err(StripeError::Deleted) => {}
                    _ => return Err(error),
                }
            }
            Err(error) => return Err(error),
        }
        self.invalidate(&Tag::of_customer_change(id.as_str(), true))
            .await;
        let generation = self.inner.memory.generation();
        self.inner.memory.store(
            Key::Object(id.clone()),
            Filled::one(Entry::Missing),
            generation,
        );
        self.inner
            .source
            .wrote(Wrote::DeletedCustomer(id), from, clock::unix_now());
        Ok(())
    }

    /// Cancels a subscription now (`cancel`: `DELETE /v1/subscriptions/{id}` with its
    /// parameters) and writes the canceled subscription through. A subscription already
    /// canceled answers as such (Stripe refuses to cancel it again; a retry after a lost
    /// answer meets exactly that: one read checks it).
    pub async fn cancel_subscription(
        &self,
        id: &StripeId,
        cancel: &Write,
    ) -> Result<Arc<Subscription>, StripeError> {
        let from = clock::unix_now();
        let client = &self.inner.client;
        let canceled = match client.write::<Subscription>(cancel).await {
            Ok(subscription) => subscription,
            Err(error @ (StripeError::InvalidRequest { .. } | StripeError::NotFound { .. })) => {
                match client.retrieve::<Subscription>(id).await {
                    Ok(current) if current.status == "canceled" => current,
                    _ => return Err(error),
                }
            }
            Err(error) => return Err(error),
        };
        Ok(self.written(canceled, from, false).await)
    }

    /// Drops every entry, and keeps any call in flight from storing its answer.
    pub fn invalidate_all(&self) {
        self.inner.memory.invalidate_all();
    }

    /// Makes stale every entry that holds data named by one of `tags` (see [`Tag`]). After
    /// this returns, no lookup serves data fetched before the call: not entries already
    /// cached, and not the answer of a Stripe call that was in flight when it was made
    /// (that answer is not stored, and a lookup that starts after this call does not take
    /// it). Stale entries are replaced on their next lookup and are never served by
    /// stale-if-error. Idempotent: invalidating twice costs no more Stripe calls than once.
    /// The source below is told too, and this returns once it applied it
    /// ([`Source::invalidated`]: with the shared level, Redis and, by message, every replica).
    pub async fn invalidate(&self, tags: &[Tag]) {
        if tags.is_empty() {
            return;
        }
        self.inner.memory.invalidate(tags);
        self.inner.source.invalidated(tags).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{key::Entry, tags::tags_of, *};
    use stripe_sandbox::{demo, Sandbox};

    use crate::{
        ids::IdKind,
        secret::SecretString,
        stripe::request::{Page, SubscriptionFilter},
        stripe::{ClientSettings, Endpoint},
    };

    const KEY: &str = "sk_test_cache_unit_key";
    const AVA: &str = demo::AVA;

    async fn cache_over(sandbox: &Sandbox) -> StripeCache {
        let endpoint = Endpoint {
            api_base: sandbox.base_url().parse().unwrap(),
            secret_key: SecretString::new(KEY),
        };
        let client =
            StripeClient::new(endpoint, &ClientSettings::default(), Metrics::new()).unwrap();
        StripeCache::new(client, CacheSettings::default(), Metrics::new())
    }

    fn ava() -> StripeId {
        StripeId::parse(IdKind::Customer, AVA).unwrap()
    }

    async fn email(cache: &StripeCache) -> Option<String> {
        let customer = cache.object::<Customer>(&ava()).await.unwrap().unwrap();
        customer.email.clone()
    }

    /// Waits (yielding, never sleeping) until the sandbox has received `n` calls.
    async fn calls_arrived(sandbox: &Sandbox, n: usize) {
        for _ in 0..100_000 {
            if sandbox.total_calls() >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the sandbox never received {n} calls");
    }

    fn change_email(sandbox: &Sandbox, to: &str) {
        sandbox.with_store(|s| s.update("customer", AVA, |c| c["email"] = json!(to)));
    }

    #[tokio::test]
    async fn an_invalidation_during_a_fill_is_not_undone_by_the_fills_older_answer() {
        let sandbox = Sandbox::start(demo::store(1_795_000_000), KEY)
            .await
            .unwrap();
        let cache = cache_over(&sandbox).await;
        sandbox.hold_answers();
        let in_flight = tokio::spawn({
            let cache = cache.clone();
            async move { email(&cache).await }
        });
        calls_arrived(&sandbox, 1).await;

        // Stripe changes while the call is in flight, and the webhook lands.
        change_email(&sandbox, "ava.new@example.com");
        cache.invalidate(&[Tag::Object(AVA.to_owned())]).await;
        sandbox.release_answers();
        in_flight.await.unwrap();

        // The fill's answer predates the webhook: the next lookup asks Stripe again.
        assert_eq!(email(&cache).await.as_deref(), Some("ava.new@example.com"));
        assert_eq!(sandbox.total_calls(), 2);
        assert_eq!(email(&cache).await.as_deref(), Some("ava.new@example.com"));
        assert_eq!(sandbox.total_calls(), 2, "the fresh answer is cached");
    }

    #[tokio::test]
    async fn a_lookup_made_after_an_invalidation_never_takes_an_older_call_in_flight() {
        let sandbox = Sandbox::start(demo::store(1_795_000_000), KEY)
            .await
            .unwrap();
        let cache = cache_over(&sandbox).await;
        sandbox.hold_answers();
        let before = tokio::spawn({
            let cache = cache.clone();
            async move { email(&cache).await }
        });
        calls_arrived(&sandbox, 1).await;
        change_email(&sandbox, "ava.new@example.com");
        cache.invalidate(&[Tag::Object(AVA.to_owned())]).await;

        // Asked after the webhook, while the older call is still in flight: on this
        // single-threaded runtime, one yield lets it run up to waiting on that call.
        let after = tokio::spawn({
            let cache = cache.clone();
            async move { email(&cache).await }
        });
        tokio::task::yield_now().await;
        sandbox.release_answers();

        assert_eq!(after.await.unwrap().as_deref(), Some("ava.new@example.com"));
        before.await.unwrap();
        assert_eq!(sandbox.total_calls(), 2);
    }

    #[tokio::test]
    async fn an_invalidation_reaches_list_pages_and_subscriptions_that_embed_the_object() {
        let sandbox = Sandbox::start(demo::store(1_795_000_000), KEY)
            .await
            .unwrap();
        let cache = cache_over(&sandbox).await;
        let ava = ava();
        cache.customer(&ava, true).await.unwrap();
        let page = ListRequest::of_customer(&ava);
        let sub = StripeId::parse(IdKind::Subscription, "sub_AvaPro").unwrap();
        let price = cache.list(&page).await.unwrap().data[0].items.data[0]
            .price
            .clone()
            .unwrap();
        assert_eq!(sandbox.total_calls(), 1);

        // A price the subscription embeds changed: the page and the subscription are stale,
        // the customer is not.
        cache.invalidate(&[Tag::Object(price.id.clone())]).await;
        cache.object::<Customer>(&ava).await.unwrap();
        assert_eq!(sandbox.total_calls(), 1);
        cache.object::<Subscription>(&sub).await.unwrap();
        assert_eq!(sandbox.total_calls(), 2);
        cache.list(&page).await.unwrap();
        assert_eq!(sandbox.total_calls(), 3);

        // A new subscription for the customer: its pages are stale.
        cache
            .invalidate(&[Tag::SubscriptionsOf(AVA.to_owned())])
            .await;
        cache.list(&page).await.unwrap();
        assert_eq!(sandbox.total_calls(), 4);
        // Invalidating twice costs no more than once.
        cache
            .invalidate(&[Tag::SubscriptionsOf(AVA.to_owned())])
            .await;
        cache
            .invalidate(&[Tag::SubscriptionsOf(AVA.to_owned())])
            .await;
        cache.list(&page).await.unwrap();
        cache.list(&page).await.unwrap();
        assert_eq!(sandbox.total_calls(), 5);
    }

    #[test]
    fn a_subscription_page_is_tagged_with_its_customer_its_subscriptions_and_their_prices() {
        let store = demo::store(1_795_000_000);
        let sub: Subscription =
            serde_json::from_value(store.get("subscription", "sub_AvaPro").unwrap().clone())
                .unwrap();
        let page = Arc::new(List {
            data: vec![Arc::new(sub)],
            has_more: false,
        });
        let key = Key::List(ListRequest::of_customer(&ava()).query().clone());
        let tags = tags_of(&key, &Entry::Subscriptions(page));
        assert!(tags.contains(&Tag::SubscriptionsOf(AVA.to_owned())));
        assert!(tags.contains(&Tag::Object("sub_AvaPro".to_owned())));
        assert!(tags.contains(&Tag::Object("price_ProMonthly".to_owned())));
        assert!(!tags.contains(&Tag::Collection("subscriptions")));

        let all = ListRequest::subscriptions(&SubscriptionFilter::default(), &Page::first(10));
        let tags = tags_of(&Key::List(all.query().clone()), &Entry::Missing);
        assert_eq!(&*tags, &[Tag::Collection("subscriptions")]);
    }
}
