//! The cache in front of every Stripe read.
//!
//! [`StripeCache`] is the only way the GraphQL layer reaches Stripe. One instance is shared by
//! every request, and it guarantees:
//!
//! - **Freshness bound.** A found object or list page is served from memory for at most the
//!   configured TTL (default 60 s) after it was fetched; a "does not exist" answer (404 or a
//!   deleted object) for at most the not-found TTL (default 10 s). Errors are never cached.
//! - **Coalescing.** Concurrent calls for the same key while it is missing are coalesced into
//!   one Stripe call: the first caller fetches, the others wait for its answer (success or
//!   error). This holds within one GraphQL request (repeated aliases) and across requests
//!   (Hasura's back-to-back join calls).
//! - **Size bound.** At most `max_entries` entries (objects and list pages together); beyond
//!   that the least useful entries are evicted (moka's TinyLFU policy).
//! - **Lists warm objects.** Every object on a fetched list page is also stored under its own
//!   id, so `subscription(id:)` after `customer { subscriptions }` costs no call.
//!
//! Keys are built from validated [`StripeId`]s and typed list requests
//! ([`crate::stripe::request::ListRequest`], built by the client's module, never here), so two
//! requests that differ only in alias, field order or whitespace share entries.

use std::{sync::Arc, time::Duration};

use moka::{future::Cache, Expiry};

use crate::{
    ids::{IdKind, StripeId},
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

/// Cache bounds (`CACHE_TTL_SECONDS`, `CACHE_NOT_FOUND_TTL_SECONDS`, `CACHE_MAX_ENTRIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// TTL of found objects and list pages; zero disables reuse (coalescing stays).
    pub ttl: Duration,
    /// TTL of "does not exist" answers.
    pub not_found_ttl: Duration,
    /// Entry bound.
    pub max_entries: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            ttl: Duration::from_secs(60),
            not_found_ttl: Duration::from_secs(10),
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

/// Found entries live `ttl`, missing ones `not_found_ttl`.
struct TtlPolicy {
    ttl: Duration,
    not_found_ttl: Duration,
}

impl Expiry<Key, Entry> for TtlPolicy {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Entry,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(match value {
            Entry::Missing => self.not_found_ttl,
            _ => self.ttl,
        })
    }
}

/// The shared cache in front of Stripe (see the module docs for its guarantees).
#[derive(Clone)]
pub struct StripeCache {
    client: StripeClient,
    entries: Cache<Key, Entry>,
}

impl StripeCache {
    /// A cache over `client` with the given bounds.
    pub fn new(client: StripeClient, settings: CacheSettings) -> StripeCache {
        let entries = Cache::builder()
            .max_capacity(settings.max_entries)
            .expire_after(TtlPolicy {
                ttl: settings.ttl,
                not_found_ttl: settings.not_found_ttl,
            })
            .build();
        StripeCache { client, entries }
    }

    /// The object with this id, or `None` if Stripe says it does not exist or was deleted.
    /// One Stripe call when not cached (and none if a cached list page held it).
    pub async fn object<T: CachedObject>(
        &self,
        id: &StripeId,
    ) -> Result<Option<Arc<T>>, StripeError> {
        let client = &self.client;
        let entry = self
            .entries
            .try_get_with(Key::Object(id.clone()), async move {
                match client.retrieve::<T>(id).await {
                    Ok(object) => Ok(T::wrap(Arc::new(object))),
                    Err(StripeError::NotFound { .. } | StripeError::Deleted) => Ok(Entry::Missing),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| (*e).clone())?;
        Ok(T::unwrap(&entry))
    }

    /// One page of a list. Every object on it is also cached under its id (for types
    /// retrievable by id). A not-found answer is an error here: what it means depends on the
    /// list (see [`StripeCache::subscriptions`]).
    pub async fn list<T: CachedList>(
        &self,
        request: &ListRequest<T>,
    ) -> Result<Arc<List<T>>, StripeError> {
        let client = &self.client;
        let entries = &self.entries;
        let entry = self
            .entries
            .try_get_with(Key::List(request.query().clone()), async move {
                let list = Arc::new(client.list::<T>(request).await?);
                for object in &list.data {
                    if let Some((id, entry)) = T::object_entry(object) {
                        entries.insert(Key::Object(id), entry).await;
                    }
                }
                Ok::<_, StripeError>(T::wrap_list(list))
            })
            .await
            .map_err(|e| (*e).clone())?;
        T::unwrap_list(&entry).ok_or(StripeError::BadResponse { request_id: None })
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

    /// Drops every entry (used by tests).
    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }

    /// Evicts every entry that holds data named by one of `tags` (see [`Tag`]). After this
    /// returns, no lookup serves data fetched before the call, including data of a Stripe
    /// call that was in flight when it was made.
    pub fn invalidate(&self, tags: &[Tag]) {
        if !tags.is_empty() {
            self.entries.invalidate_all();
        }
    }
}

/// What a cache entry holds, for invalidation: a webhook event names the tags its object
/// makes stale ([`StripeCache::invalidate`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
