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
//! Keys are built from validated [`StripeId`]s and typed list parameters, so two requests that
//! differ only in alias, field order or whitespace share entries.

use std::{sync::Arc, time::Duration};

use moka::{future::Cache, Expiry};

use crate::{
    config::CacheSettings,
    ids::{IdKind, StripeId},
    stripe::{
        models::{
            Customer, List, Plan, Price, Product, StripeObject, Subscription, SubscriptionItem,
        },
        ListQuery, StripeClient, StripeError,
    },
};

/// Most pages read when completing a subscription's items (Stripe allows 20 items per
/// subscription, so one page of 100 always suffices; the bound is a guard).
const MAX_ITEM_PAGES: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Object(StripeId),
    List(ListQuery),
}

#[derive(Clone)]
enum Entry {
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

/// A Stripe type cached under its own id.
trait CachedObject: StripeObject + Clone {
    fn wrap(value: Arc<Self>) -> Entry;
    fn unwrap(entry: &Entry) -> Option<Arc<Self>>;
}

/// A Stripe type cached as list pages.
trait CachedList: StripeObject + Clone {
    fn wrap_list(value: Arc<List<Self>>) -> Entry;
    fn unwrap_list(entry: &Entry) -> Option<Arc<List<Self>>>;
    /// The entry a listed object is also stored under, for types cached by id too.
    fn object_entry(_value: &Arc<Self>) -> Option<(StripeId, Entry)> {
        None
    }
}

macro_rules! cached_object {
    ($ty:ty, $variant:ident) => {
        impl CachedObject for $ty {
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
        impl CachedList for $ty {
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
                let id = StripeId::parse($kind, value.id()).ok()?;
                Some((id, <Self as CachedObject>::wrap(value.clone())))
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

/// Filters and paging of a list call, as validated by the GraphQL layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Page size, 1 to 100.
    pub limit: u8,
    /// Return objects after this id (Stripe's `starting_after`).
    pub after: Option<StripeId>,
}

impl Page {
    fn push_into(&self, params: &mut Vec<(&'static str, String)>) {
        params.push(("limit", self.limit.to_string()));
        if let Some(after) = &self.after {
            params.push(("starting_after", after.as_str().to_owned()));
        }
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

    /// The customer, or `None` if it does not exist or was deleted.
    pub async fn customer(&self, id: &StripeId) -> Result<Option<Arc<Customer>>, StripeError> {
        self.object(id).await
    }

    /// The subscription, or `None` if it does not exist.
    pub async fn subscription(
        &self,
        id: &StripeId,
    ) -> Result<Option<Arc<Subscription>>, StripeError> {
        self.object(id).await
    }

    /// The price, or `None` if it does not exist or was deleted.
    pub async fn price(&self, id: &StripeId) -> Result<Option<Arc<Price>>, StripeError> {
        self.object(id).await
    }

    /// The plan, or `None` if it does not exist or was deleted.
    pub async fn plan(&self, id: &StripeId) -> Result<Option<Arc<Plan>>, StripeError> {
        self.object(id).await
    }

    /// The product, or `None` if it does not exist or was deleted.
    pub async fn product(&self, id: &StripeId) -> Result<Option<Arc<Product>>, StripeError> {
        self.object(id).await
    }

    /// One page of `GET /v1/customers`, newest first, optionally filtered by exact email.
    pub async fn customers(
        &self,
        email: Option<&str>,
        page: &Page,
    ) -> Result<Arc<List<Customer>>, StripeError> {
        let mut params = Vec::new();
        if let Some(email) = email {
            params.push(("email", email.to_owned()));
        }
        page.push_into(&mut params);
        self.list(ListQuery {
            collection: "customers",
            params,
        })
        .await
    }

    /// One page of `GET /v1/subscriptions`. `status: None` is Stripe's default (every status
    /// but `canceled`). A `customer` filter naming a customer Stripe does not know gives an
    /// empty page rather than an error.
    pub async fn subscriptions(
        &self,
        customer: Option<&StripeId>,
        status: Option<&str>,
        price: Option<&StripeId>,
        page: &Page,
    ) -> Result<Arc<List<Subscription>>, StripeError> {
        let mut params = Vec::new();
        if let Some(customer) = customer {
            params.push(("customer", customer.as_str().to_owned()));
        }
        if let Some(status) = status {
            params.push(("status", status.to_owned()));
        }
        if let Some(price) = price {
            params.push(("price", price.as_str().to_owned()));
        }
        page.push_into(&mut params);
        let result = self
            .list(ListQuery {
                collection: "subscriptions",
                params,
            })
            .await;
        match result {
            Err(e) if customer.is_some() && names_a_missing_object(&e) => {
                Ok(Arc::new(List::default()))
            }
            other => other,
        }
    }

    /// One page of `GET /v1/prices`, optionally filtered by product and active flag.
    pub async fn prices(
        &self,
        product: Option<&StripeId>,
        active: Option<bool>,
        page: &Page,
    ) -> Result<Arc<List<Price>>, StripeError> {
        let mut params = Vec::new();
        if let Some(product) = product {
            params.push(("product", product.as_str().to_owned()));
        }
        if let Some(active) = active {
            params.push(("active", active.to_string()));
        }
        page.push_into(&mut params);
        self.list(ListQuery {
            collection: "prices",
            params,
        })
        .await
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
            let mut params = vec![
                ("subscription", subscription.as_str().to_owned()),
                ("limit", "100".to_owned()),
            ];
            if let Some(after) = &after {
                params.push(("starting_after", after.clone()));
            }
            let page: Arc<List<SubscriptionItem>> = self
                .list(ListQuery {
                    collection: "subscription_items",
                    params,
                })
                .await?;
            items.extend(page.data.iter().cloned());
            match (page.has_more, page.data.last()) {
                (true, Some(last)) => after = Some(last.id.clone()),
                _ => break,
            }
        }
        Ok(items)
    }

    async fn object<T: CachedObject>(&self, id: &StripeId) -> Result<Option<Arc<T>>, StripeError> {
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

    async fn list<T: CachedList>(&self, query: ListQuery) -> Result<Arc<List<T>>, StripeError> {
        let client = &self.client;
        let entries = &self.entries;
        let entry = self
            .entries
            .try_get_with(Key::List(query.clone()), async move {
                let list = Arc::new(client.list::<T>(&query).await?);
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

    /// One uncached `GET /v1/customers?limit=1`: succeeds when Stripe is reachable and
    /// accepts the key. Used by `/readyz`.
    pub async fn check_stripe(&self) -> Result<(), StripeError> {
        let query = ListQuery {
            collection: "customers",
            params: vec![("limit", "1".to_owned())],
        };
        self.client.list::<Customer>(&query).await.map(|_| ())
    }

    /// Drops every entry (used by tests and, later, by webhook invalidation).
    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }
}

/// Whether Stripe refused a list because an object named in its filters does not exist.
fn names_a_missing_object(e: &StripeError) -> bool {
    match e {
        StripeError::NotFound { .. } => true,
        StripeError::InvalidRequest { code, .. } => code.as_deref() == Some("resource_missing"),
        _ => false,
    }
}
