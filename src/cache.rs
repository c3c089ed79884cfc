//! The cache in front of every Stripe read.
//!
//! [`StripeCache`] is the only way the GraphQL layer reaches Stripe. One instance is shared by
//! every request, and it guarantees:
//!
//! - **Freshness bound.** A found object or list page is served from memory for at most the
//!   configured TTL (default 60 s) after it was fetched; a "does not exist" answer (404 or a
//!   deleted object) for at most the not-found TTL (default 10 s). Errors are never cached.
//! - **Webhook freshness.** [`StripeCache::invalidate`] (called by `POST /webhooks/stripe`)
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
//!   that is not JSON (after the client's retries), that last good value is served instead of an error, logged at warn
//!   and counted; never a value a webhook invalidated, and never instead of an answer about
//!   the request itself (bad key, refused parameter).
//! - **One call fills every entry its answer holds.** A list page fills each object on it
//!   under its id, and a customer fetched with `expand[]=subscriptions`
//!   ([`StripeCache::customer`]) fills the customer, its first subscription page and each
//!   subscription: a later query that asks for any of them another way costs no call.
//! - **Size bound.** At most `max_entries` entries (objects and list pages together); beyond
//!   that the least useful entries are evicted (moka's TinyLFU policy).
//!
//! Keys are built from validated [`StripeId`]s and typed list requests
//! ([`crate::stripe::request::ListRequest`], built by the client's module, never here), so two
//! requests that differ only in alias, field order or whitespace share entries.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError, RwLock,
    },
    time::{Duration, Instant},
};

use futures::{
    future::{BoxFuture, Shared},
    FutureExt,
};
use moka::{notification::RemovalCause, Expiry};
use tracing::Instrument;

use crate::{
    ids::{IdKind, StripeId},
    metrics::{CacheEvent, Metrics},
    stripe::{
        models::{
            Customer, List, Plan, Price, Product, StripeObject, Subscription, SubscriptionItem,
        },
        request::{ListQuery, ListRequest},
        StripeClient, StripeError,
    },
};

/// Most pages read when completing a subscription's items (Stripe allows 20 items per
/// subscription, so one page of 100 always suffices; the bound is a guard).
const MAX_ITEM_PAGES: usize = 5;

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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Object(StripeId),
    List(ListQuery),
}

/// The cached value types, and the traits that wrap and unwrap them. Public in a private
/// module (the sealed-trait pattern): callers name [`CachedObject`] and [`CachedList`], and
/// only the types below implement them.
mod sealed {
    use std::sync::Arc;

    use crate::{
        ids::StripeId,
        stripe::models::{
            Customer, List, Plan, Price, Product, StripeObject, Subscription, SubscriptionItem,
        },
    };

    #[derive(Clone)]
    pub enum Entry {
        Missing,
        Customer(Arc<Customer>),
        Subscription(Arc<Subscription>),
        Price(Arc<Price>),
        Plan(Arc<Plan>),
        Product(Arc<Product>),
        Customers(Arc<List<Customer>>),
        Subscriptions(Arc<List<Subscription>>),
        Prices(Arc<List<Price>>),
        Items(Arc<List<SubscriptionItem>>),
    }

    pub trait Object: StripeObject + Clone {
        fn wrap(value: Arc<Self>) -> Entry;
        fn unwrap(entry: &Entry) -> Option<Arc<Self>>;
    }

    pub trait Listed: StripeObject + Clone {
        fn wrap_list(value: Arc<List<Self>>) -> Entry;
        fn unwrap_list(entry: &Entry) -> Option<Arc<List<Self>>>;
        /// The entry a listed object is also stored under, for types cached by id too.
        fn object_entry(_value: &Arc<Self>) -> Option<(StripeId, Entry)> {
            None
        }
    }
}

use sealed::Entry;

/// A Stripe type cached under its own id: customers, subscriptions, prices, plans, products.
pub trait CachedObject: sealed::Object {}
impl<T: sealed::Object> CachedObject for T {}

/// A Stripe type cached as list pages: customers, subscriptions, prices, subscription items.
pub trait CachedList: sealed::Listed {}
impl<T: sealed::Listed> CachedList for T {}

macro_rules! cached_object {
    ($ty:ty, $variant:ident) => {
        impl sealed::Object for $ty {
            fn wrap(value: Arc<Self>) -> Entry {
                Entry::$variant(value)
            }
            fn unwrap(entry: &Entry) -> Option<Arc<Self>> {
                match entry {
                    Entry::$variant(v) => Some(v.clone()),
                    _ => None,
                }
            }
        }
    };
}

macro_rules! cached_list {
    ($ty:ty, $variant:ident $(, by_id $kind:expr)?) => {
        impl sealed::Listed for $ty {
            fn wrap_list(value: Arc<List<Self>>) -> Entry {
                Entry::$variant(value)
            }
            fn unwrap_list(entry: &Entry) -> Option<Arc<List<Self>>> {
                match entry {
                    Entry::$variant(v) => Some(v.clone()),
                    _ => None,
                }
            }
            $(
            fn object_entry(value: &Arc<Self>) -> Option<(StripeId, Entry)> {
                let id = StripeId::parse($kind, StripeObject::id(&**value)).ok()?;
                Some((id, <Self as sealed::Object>::wrap(value.clone())))
            }
            )?
        }
    };
}

cached_object!(Customer, Customer);
cached_object!(Subscription, Subscription);
cached_object!(Price, Price);
cached_object!(Plan, Plan);
cached_object!(Product, Product);
cached_list!(Customer, Customers, by_id IdKind::Customer);
cached_list!(Subscription, Subscriptions, by_id IdKind::Subscription);
cached_list!(Price, Prices, by_id IdKind::Price);
cached_list!(SubscriptionItem, Items);

/// One cached value with what is needed to judge it.
struct Stored {
    entry: Entry,
    /// The invalidation generation when the Stripe call that produced it started.
    fetched_gen: u64,
    /// When that call's answer arrived.
    fetched_at: Instant,
    /// What it holds, for invalidation.
    tags: Box<[Tag]>,
}

/// How long moka keeps an entry: its TTL plus the stale-if-error window (past its TTL an
/// entry is never served fresh, only instead of an error).
struct KeepPolicy {
    ttl: Duration,
    not_found_ttl: Duration,
    stale_if_error: Duration,
}

impl KeepPolicy {
    fn keep(&self, stored: &Stored) -> Duration {
        self.ttl_of(&stored.entry) + self.stale_if_error
    }

    fn ttl_of(&self, entry: &Entry) -> Duration {
        match entry {
            Entry::Missing => self.not_found_ttl,
            _ => self.ttl,
        }
    }
}

impl Expiry<Key, Arc<Stored>> for KeepPolicy {
    fn expire_after_create(&self, _: &Key, value: &Arc<Stored>, _: Instant) -> Option<Duration> {
        Some(self.keep(value))
    }

    fn expire_after_update(
        &self,
        _: &Key,
        value: &Arc<Stored>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.keep(value))
    }
}

/// What one Stripe call produced: the entry asked for, and entries the same answer fills
/// too (the objects on a list page; a customer's embedded subscriptions).
struct Filled {
    primary: Entry,
    also: Vec<(Key, Entry)>,
}

impl Filled {
    fn one(primary: Entry) -> Filled {
        Filled {
            primary,
            also: Vec::new(),
        }
    }
}

type Flight = Shared<BoxFuture<'static, Result<Arc<Stored>, StripeError>>>;
type Fetch = BoxFuture<'static, Result<Filled, StripeError>>;

/// How many times a lookup starts over when the answer it got was made stale by a webhook
/// that arrived after the lookup began (each time means another invalidation landed during
/// a Stripe call; the bound only stops a webhook storm from holding a request forever).
const MAX_REFETCHES: usize = 3;

/// Invalidation records older than this can go: every entry fetched before them has
/// expired from moka by then.
fn record_retention(settings: &CacheSettings) -> Duration {
    settings.ttl.max(settings.not_found_ttl) + settings.stale_if_error + Duration::from_secs(60)
}

/// Most invalidation records kept; past it, the oldest are folded into the floor (every
/// entry fetched before the floor counts as stale), which is conservative, never wrong.
const MAX_RECORDS: usize = 100_000;

struct Inner {
    client: StripeClient,
    entries: moka::sync::Cache<Key, Arc<Stored>>,
    policy: KeepPolicy,
    settings: CacheSettings,
    metrics: Metrics,
    /// Lookups whose Stripe call is in flight, by key (the coalescing).
    inflight: Mutex<HashMap<Key, Flight>>,
    /// Bumped by every invalidation.
    generation: AtomicU64,
    /// Entries fetched before this generation are stale.
    floor: AtomicU64,
    /// The generation of the latest invalidation of each tag, and when it happened.
    invalidated: RwLock<HashMap<Tag, (u64, Instant)>>,
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

impl Inner {
    /// Whether no invalidation since `stored`'s Stripe call started names one of its tags.
    fn is_current(&self, stored: &Stored) -> bool {
        if self.generation.load(Ordering::SeqCst) == stored.fetched_gen {
            return true;
        }
        self.invalidated_since(stored).is_none()
    }

    /// The newest invalidation of one of `stored`'s tags that came after its call started.
    fn invalidated_since(&self, stored: &Stored) -> Option<u64> {
        if stored.fetched_gen < self.floor.load(Ordering::SeqCst) {
            return Some(self.floor.load(Ordering::SeqCst));
        }
        let records = self
            .invalidated
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        stored
            .tags
            .iter()
            .filter_map(|tag| records.get(tag).map(|(g, _)| *g))
            .filter(|g| *g > stored.fetched_gen)
            .max()
    }

    fn is_fresh(&self, stored: &Stored) -> bool {
        stored.fetched_at.elapsed() < self.policy.ttl_of(&stored.entry)
    }

    /// Stores what a call fetched, unless an invalidation landed while it was in flight
    /// (then the answer still goes to the lookups waiting for it, but is not kept).
    fn store(&self, key: Key, filled: Filled, fetched_gen: u64) -> Arc<Stored> {
        let fetched_at = Instant::now();
        let stored = |key: &Key, entry: Entry| {
            let tags = tags_of(key, &entry);
            Arc::new(Stored {
                entry,
                fetched_gen,
                fetched_at,
                tags,
            })
        };
        for (also_key, entry) in filled.also {
            let value = stored(&also_key, entry);
            if self.is_current(&value) {
                self.entries.insert(also_key, value);
            }
        }
        let value = stored(&key, filled.primary);
        if self.is_current(&value) {
            self.entries.insert(key, value.clone());
        }
        value
    }
}

impl StripeCache {
    /// A cache over `client` with the given bounds, counting its events in `metrics`.
    pub fn new(client: StripeClient, settings: CacheSettings, metrics: Metrics) -> StripeCache {
        let policy = KeepPolicy {
            ttl: settings.ttl,
            not_found_ttl: settings.not_found_ttl,
            stale_if_error: settings.stale_if_error,
        };
        let evictions = metrics.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.max_entries)
            .expire_after(KeepPolicy { ..policy })
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    evictions.cache(CacheEvent::EvictedForSize);
                }
            })
            .build();
        StripeCache {
            inner: Arc::new(Inner {
                client,
                entries,
                policy,
                settings,
                metrics,
                inflight: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
                floor: AtomicU64::new(0),
                invalidated: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The entry under `key`: from memory when fresh and not invalidated, else from the one
    /// Stripe call in flight for it (started by this lookup if there is none), else, when
    /// that call fails with an outage, a timeout, a rate limit or a non-JSON answer, the last good entry if it
    /// is within the stale-if-error window and no webhook invalidated it.
    async fn lookup(
        &self,
        key: Key,
        fetch: impl Fn(StripeClient) -> Fetch,
    ) -> Result<Arc<Stored>, StripeError> {
        let inner = &self.inner;
        let asked_at = inner.generation.load(Ordering::SeqCst);
        let mut previous = None;
        if let Some(stored) = inner.entries.get(&key) {
            if inner.is_current(&stored) {
                if inner.is_fresh(&stored) {
                    inner.metrics.cache(CacheEvent::Hit);
                    return Ok(stored);
                }
                previous = Some(stored);
            } else {
                inner.metrics.cache(CacheEvent::Invalidated);
                inner.entries.invalidate(&key);
            }
        }
        let mut refetches = 0;
        loop {
            let flight = self.join_or_start(&key, &fetch);
            match flight.await {
                Ok(stored) => match inner.invalidated_since(&stored) {
                    // This lookup joined a call that started before a webhook the lookup
                    // itself came after: the answer may predate the change, so ask again
                    // (that flight is over, so this starts or joins a newer call).
                    Some(at) if at <= asked_at && refetches < MAX_REFETCHES => {
                        refetches += 1;
                    }
                    _ => return Ok(stored),
                },
                Err(e) => {
                    let stale = previous.filter(|p| {
                        serves_stale(&e)
                            && inner.is_current(p)
                            && p.fetched_at.elapsed() < inner.policy.keep(p)
                    });
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

    /// The flight for `key`: the one in progress, or a new one running `fetch` (taken from
    /// the option). The call runs as its own task, so it completes and fills the cache even
    /// if every lookup waiting for it is dropped (a client that hung up).
    fn join_or_start(&self, key: &Key, fetch: &impl Fn(StripeClient) -> Fetch) -> Flight {
        let inner = &self.inner;
        let mut inflight = lock(&inner.inflight);
        if let Some(flight) = inflight.get(key) {
            inner.metrics.cache(CacheEvent::Coalesced);
            return flight.clone();
        }
        inner.metrics.cache(CacheEvent::Miss);
        let fetched_gen = inner.generation.load(Ordering::SeqCst);
        let call = fetch(inner.client.clone());
        let task_inner = inner.clone();
        let task_key = key.clone();
        // The task removes its own map entry when done; it cannot do so before the entry
        // is inserted below, because it needs this lock to.
        // On the Stripe I/O runtime, which outlives every HTTP worker (see
        // `stripe::io_runtime`), and in the span of the lookup that started it, so its log
        // lines carry that request.
        let task = inner.client.io().spawn(
            async move {
                let outcome = call
                    .await
                    .map(|filled| task_inner.store(task_key.clone(), filled, fetched_gen));
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
        let stored = self
            .lookup(Key::Object(id.clone()), |client| {
                let id = id.clone();
                async move {
                    match client.retrieve::<T>(&id).await {
                        Ok(object) => Ok(Filled::one(T::wrap(Arc::new(object)))),
                        Err(StripeError::NotFound { .. } | StripeError::Deleted) => {
                            Ok(Filled::one(Entry::Missing))
                        }
                        Err(e) => Err(e),
                    }
                }
                .boxed()
            })
            .await?;
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
        let key = Key::Object(id.clone());
        if let Some(stored) = self.fresh(&key) {
            self.inner.metrics.cache(CacheEvent::Hit);
            return Ok(<Customer as sealed::Object>::unwrap(&stored.entry));
        }
        let page_key = Key::List(ListRequest::of_customer(id).query().clone());
        if self.fresh(&page_key).is_some() {
            return self.object(id).await;
        }
        let stored = self
            .lookup(key, |client| {
                let (id, page_key) = (id.clone(), page_key.clone());
                async move {
                    match client.retrieve_customer_with_subscriptions(&id).await {
                        Ok((customer, page)) => {
                            let mut filled = Filled::one(Entry::Customer(Arc::new(customer)));
                            if let Some(page) = page {
                                let page = Arc::new(page);
                                filled.also.extend(objects_of(&page));
                                filled.also.push((page_key, Entry::Subscriptions(page)));
                            }
                            Ok(filled)
                        }
                        Err(StripeError::NotFound { .. } | StripeError::Deleted) => {
                            Ok(Filled::one(Entry::Missing))
                        }
                        Err(e) => Err(e),
                    }
                }
                .boxed()
            })
            .await?;
        Ok(<Customer as sealed::Object>::unwrap(&stored.entry))
    }

    /// The entry under `key` if it may be served as it is (fresh, not invalidated).
    fn fresh(&self, key: &Key) -> Option<Arc<Stored>> {
        let inner = &self.inner;
        inner
            .entries
            .get(key)
            .filter(|s| inner.is_current(s) && inner.is_fresh(s))
    }

    /// One page of a list. Every object on it is also cached under its id (for types
    /// retrievable by id). A not-found answer is an error here: what it means depends on the
    /// list (see [`StripeCache::subscriptions`]).
    pub async fn list<T: CachedList>(
        &self,
        request: &ListRequest<T>,
    ) -> Result<Arc<List<T>>, StripeError> {
        let stored = self
            .lookup(Key::List(request.query().clone()), |client| {
                let request = request.clone();
                async move {
                    let page = Arc::new(client.list::<T>(&request).await?);
                    Ok(Filled {
                        also: objects_of(&page),
                        primary: T::wrap_list(page),
                    })
                }
                .boxed()
            })
            .await?;
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

    /// The client this cache reads through, for writes (which are never cached as such:
    /// their answers go through [`StripeCache::write_through`]).
    pub fn client(&self) -> &StripeClient {
        &self.inner.client
    }

    /// Write-through after a write Stripe confirmed: makes stale everything `tags` name
    /// (as [`StripeCache::invalidate`], so no read that was in flight during the write can
    /// store what it fetched before it), then stores `object`, Stripe's answer to the write,
    /// under `id`, or "does not exist" for `None` (a deleted customer). The next lookup of
    /// the object costs no call and sees the write; lists and embedding objects named by
    /// `tags` are fetched again on their next lookup. A webhook for the same change later
    /// only invalidates again (one more read, never an older value).
    pub fn write_through<T: CachedObject>(
        &self,
        id: &StripeId,
        object: Option<Arc<T>>,
        tags: &[Tag],
    ) {
        self.invalidate(tags);
        let inner = &self.inner;
        let generation = inner.generation.load(Ordering::SeqCst);
        let entry = object.map_or(Entry::Missing, T::wrap);
        inner.store(Key::Object(id.clone()), Filled::one(entry), generation);
    }

    /// [`StripeCache::write_through`] of the customer Stripe answered a write with: stored
    /// under its id, the customer lists made stale. Returns it, shared.
    pub fn written_customer(&self, customer: Customer) -> Arc<Customer> {
        let tags = Tag::of_customer_change(&customer.id, false);
        self.written(IdKind::Customer, customer, &tags)
    }

    /// [`StripeCache::write_through`] of the subscription Stripe answered a write with:
    /// stored under its id, its customer's subscription pages and the subscription lists
    /// made stale. Returns it, shared.
    pub fn written_subscription(&self, subscription: Subscription) -> Arc<Subscription> {
        let tags = Tag::of_subscription_change(&subscription.id, &subscription.customer);
        self.written(IdKind::Subscription, subscription, &tags)
    }

    fn written<T: CachedObject>(&self, kind: IdKind, object: T, tags: &[Tag]) -> Arc<T> {
        let object = Arc::new(object);
        match StripeId::parse(kind, object.id()) {
            Ok(id) => self.write_through(&id, Some(object.clone()), tags),
            // An id this server would never send to Stripe: nothing to store it under.
            Err(_) => self.invalidate(tags),
        }
        object
    }

    /// Drops every entry, and keeps any call in flight from storing its answer.
    pub fn invalidate_all(&self) {
        let inner = &self.inner;
        let generation = inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        inner.floor.fetch_max(generation, Ordering::SeqCst);
        inner.entries.invalidate_all();
    }

    /// Makes stale every entry that holds data named by one of `tags` (see [`Tag`]). After
    /// this returns, no lookup serves data fetched before the call: not entries already
    /// cached, and not the answer of a Stripe call that was in flight when it was made
    /// (that answer is not stored, and a lookup that starts after this call does not take
    /// it). Stale entries are replaced on their next lookup and are never served by
    /// stale-if-error. Idempotent: invalidating twice costs no more Stripe calls than once.
    pub fn invalidate(&self, tags: &[Tag]) {
        if tags.is_empty() {
            return;
        }
        let inner = &self.inner;
        let generation = inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let now = Instant::now();
        let mut records = inner
            .invalidated
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for tag in tags {
            records.insert(tag.clone(), (generation, now));
        }
        if records.len() > MAX_RECORDS {
            let retention = record_retention(&inner.settings);
            records.retain(|_, (_, at)| at.elapsed() < retention);
            if records.len() > MAX_RECORDS {
                // Too many recent invalidations to track one by one: treat everything
                // fetched before this one as stale.
                inner.floor.fetch_max(generation, Ordering::SeqCst);
                records.clear();
            }
        }
    }
}

/// The entries a list page also fills: each object on it under its id, for types
/// retrievable by id.
fn objects_of<T: sealed::Listed>(page: &Arc<List<T>>) -> Vec<(Key, Entry)> {
    page.data
        .iter()
        .filter_map(T::object_entry)
        .map(|(id, entry)| (Key::Object(id), entry))
        .collect()
}

/// What an entry holds, as invalidation tags: the objects in it (a subscription also holds
/// its items' prices and plans), and for a list page, the set it is a page of.
fn tags_of(key: &Key, entry: &Entry) -> Box<[Tag]> {
    fn object(tags: &mut Vec<Tag>, id: &str) {
        tags.push(Tag::Object(id.to_owned()));
    }
    fn subscription(tags: &mut Vec<Tag>, sub: &Subscription) {
        object(tags, &sub.id);
        for item in &sub.items.data {
            if let Some(price) = &item.price {
                object(tags, &price.id);
            }
            if let Some(plan) = &item.plan {
                if item.price.as_ref().is_none_or(|p| p.id != plan.id) {
                    object(tags, &plan.id);
                }
            }
        }
    }
    let mut tags = Vec::new();
    match key {
        Key::Object(id) => object(&mut tags, id.as_str()),
        Key::List(query) => match (query.collection(), query.param("customer")) {
            ("subscriptions", Some(customer)) => {
                tags.push(Tag::SubscriptionsOf(customer.to_owned()))
            }
            // A subscription's item list is part of the subscription.
            ("subscription_items", _) => {
                if let Some(sub) = query.param("subscription") {
                    object(&mut tags, sub);
                }
            }
            (collection, _) => tags.push(Tag::Collection(collection)),
        },
    }
    match entry {
        Entry::Subscription(sub) => subscription(&mut tags, sub),
        Entry::Customers(page) => page.data.iter().for_each(|c| object(&mut tags, &c.id)),
        Entry::Subscriptions(page) => page.data.iter().for_each(|s| subscription(&mut tags, s)),
        Entry::Prices(page) => page.data.iter().for_each(|p| object(&mut tags, &p.id)),
        Entry::Items(page) => {
            for item in &page.data {
                if let Some(price) = &item.price {
                    object(&mut tags, &price.id);
                }
            }
        }
        Entry::Missing
        | Entry::Customer(_)
        | Entry::Price(_)
        | Entry::Plan(_)
        | Entry::Product(_) => {}
    }
    tags.sort_unstable();
    tags.dedup();
    tags.into_boxed_slice()
}

/// Whether a failure is one stale-if-error covers: Stripe unreachable or failing (5xx,
/// connection, timeout, an answer that is not JSON, as a proxy's error page is) or rate
/// limiting, after retries. Answers about the request itself (a bad key, a missing
/// permission, a refused parameter) and an answer that is another kind of object (a wrong
/// route) are never hidden by stale data.
fn serves_stale(error: &StripeError) -> bool {
    matches!(
        error,
        StripeError::Unavailable { .. }
            | StripeError::Timeout(_)
            | StripeError::RateLimited { .. }
            | StripeError::BadResponse { .. }
    )
}

/// What a cache entry holds, for invalidation: a webhook event names the tags its object
/// makes stale ([`StripeCache::invalidate`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    /// Every entry holding this object, on its own or embedded: the object under its id,
    /// list pages it is on, subscriptions that embed this price or plan. Prices and their
    /// legacy plan views share ids, so one tag covers both.
    Object(String),
    /// Every page of this customer's subscriptions (`subscriptions(customer: …)` and
    /// `StripeCustomer.subscriptions`), which a new subscription can join.
    SubscriptionsOf(String),
    /// Every page of a collection not filtered by one customer (`customers`, `subscriptions`,
    /// `prices`), which a new object can join.
    Collection(&'static str),
}

impl Tag {
    /// What a change to customer `id` makes stale: the customer and every customer list;
    /// when it was deleted, also its subscriptions (Stripe cancels them) and their lists.
    pub fn of_customer_change(id: &str, deleted: bool) -> Vec<Tag> {
        let mut tags = vec![Tag::Object(id.to_owned()), Tag::Collection("customers")];
        if deleted {
            tags.push(Tag::SubscriptionsOf(id.to_owned()));
            tags.push(Tag::Collection("subscriptions"));
        }
        tags
    }

    /// What a change to `subscription` of `customer` makes stale: the subscription (and its
    /// items), the customer's subscription pages (a customer fetched with its first page
    /// keeps that page under this tag too) and every subscription list.
    pub fn of_subscription_change(subscription: &str, customer: &str) -> Vec<Tag> {
        vec![
            Tag::Object(subscription.to_owned()),
            Tag::SubscriptionsOf(customer.to_owned()),
            Tag::Collection("subscriptions"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use stripe_sandbox::{demo, Sandbox};

    use super::*;
    use crate::{
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
        cache.invalidate(&[Tag::Object(AVA.to_owned())]);
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
        cache.invalidate(&[Tag::Object(AVA.to_owned())]);

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
        cache.invalidate(&[Tag::Object(price.id.clone())]);
        cache.object::<Customer>(&ava).await.unwrap();
        assert_eq!(sandbox.total_calls(), 1);
        cache.object::<Subscription>(&sub).await.unwrap();
        assert_eq!(sandbox.total_calls(), 2);
        cache.list(&page).await.unwrap();
        assert_eq!(sandbox.total_calls(), 3);

        // A new subscription for the customer: its pages are stale.
        cache.invalidate(&[Tag::SubscriptionsOf(AVA.to_owned())]);
        cache.list(&page).await.unwrap();
        assert_eq!(sandbox.total_calls(), 4);
        // Invalidating twice costs no more than once.
        cache.invalidate(&[Tag::SubscriptionsOf(AVA.to_owned())]);
        cache.invalidate(&[Tag::SubscriptionsOf(AVA.to_owned())]);
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
