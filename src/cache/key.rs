//! What the cache holds: its keys, the misses it asks the level below for ([`Fetch`]), and
//! the typed values it stores ([`Entry`], behind the sealed [`CachedObject`] and
//! [`CachedList`]).
//!
//! Keys are built from validated [`StripeId`]s and typed list requests
//! ([`crate::stripe::request::ListRequest`], built by the client's module, never here), so two
//! requests that differ only in alias, field order or whitespace share entries.

use std::{sync::Arc, time::Duration};

use crate::{
    ids::{IdKind, StripeId},
    stripe::{
        models::{
            Customer, List, Plan, Price, Product, StripeObject, Subscription, SubscriptionItem,
        },
        request::{ListQuery, ListRequest},
    },
};

/// Where an answer is cached: an object under its id, or a list page under its query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Object(StripeId),
    List(ListQuery),
}

/// One read a miss asks the level below for, named by what it fetches (so a level that
/// keeps answers elsewhere, a shared cache or a mirror, can answer it without Stripe).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fetch {
    /// `GET /v1/<collection>/<id>`: the object, or "does not exist" (404 or deleted).
    Object(StripeId),
    /// `GET /v1/customers/<id>?expand[]=subscriptions`: the customer, and the first page of
    /// its subscriptions under [`ListRequest::of_customer`], each subscription under its id.
    CustomerWithSubscriptions(StripeId),
    /// One page of a list; each object on it also under its id (for types retrievable by id).
    List(ListQuery),
}

impl Fetch {
    /// The key its answer is cached under.
    pub fn key(&self) -> Key {
        match self {
            Fetch::Object(id) | Fetch::CustomerWithSubscriptions(id) => Key::Object(id.clone()),
            Fetch::List(query) => Key::List(query.clone()),
        }
    }
}

/// What one fetch produced: the entry asked for, the entries the same answer fills too (the
/// objects on a list page; a customer's embedded subscriptions), and how old the answer
/// already was when it arrived (zero from Stripe; a shared level answers with what it keeps).
#[derive(Clone)]
pub struct Filled {
    pub primary: Entry,
    pub also: Vec<(Key, Entry)>,
    pub age: Duration,
}

impl Filled {
    /// A fresh answer holding one entry.
    pub fn one(primary: Entry) -> Filled {
        Filled {
            primary,
            also: Vec::new(),
            age: Duration::ZERO,
        }
    }

    /// A fresh list page, and each object on it under its id.
    pub fn page<T: CachedList>(page: List<T>) -> Filled {
        let page = Arc::new(page);
        Filled {
            also: objects_of(&page),
            primary: T::wrap_list(page),
            age: Duration::ZERO,
        }
    }
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

pub use sealed::Entry;

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

/// The `T` an entry holds, if it holds one.
pub fn unwrap<T: CachedObject>(entry: &Entry) -> Option<Arc<T>> {
    T::unwrap(entry)
}

/// The entries a list page also fills: each object on it under its id, for types
/// retrievable by id.
pub fn objects_of<T: sealed::Listed>(page: &Arc<List<T>>) -> Vec<(Key, Entry)> {
    page.data
        .iter()
        .filter_map(T::object_entry)
        .map(|(id, entry)| (Key::Object(id), entry))
        .collect()
}

/// The entries a customer fetched with its first page of subscriptions fills: the customer,
/// the page under [`ListRequest::of_customer`] and each subscription on it.
pub fn customer_with_subscriptions(
    id: &StripeId,
    customer: Customer,
    page: Option<List<Subscription>>,
) -> Filled {
    let mut filled = Filled::one(Entry::Customer(Arc::new(customer)));
    if let Some(page) = page {
        let page = Arc::new(page);
        filled.also.extend(objects_of(&page));
        let page_key = Key::List(ListRequest::of_customer(id).query().clone());
        filled.also.push((page_key, Entry::Subscriptions(page)));
    }
    filled
}
