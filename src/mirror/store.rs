//! What the mirror holds, and the rules that change it: an event's object applied when it is
//! newer ([`MirrorStore::apply_event`]), a read's answer joined when nothing newer is held
//! ([`MirrorStore::join`]), a write's answer ([`MirrorStore::wrote`]), and the answers it
//! gives ([`MirrorStore::answer`]). Pure state, no I/O: the module above runs the reads the
//! rules ask for ([`Changed::refetch`]).
//!
//! Per customer it holds the customer and the first page of its subscriptions as
//! `GET /v1/customers/{id}?expand[]=subscriptions` embeds it (Stripe's default statuses,
//! newest first, 10 per page, `has_more`), in Stripe's order; per id every subscription,
//! price, plan and product it has seen. Prices and plans embedded in subscriptions are shared
//! with the mirror's own copies when those are at least as new, so a price held by 10 000
//! subscriptions is held once.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use super::version::{decide, read_replaces, Decision, Version};
use crate::{
    cache::{
        key::{objects_of, Entry},
        Fetch, Filled, Key, Tag,
    },
    ids::{IdKind, StripeId},
    stripe::{
        event::{Event, EventObject},
        models::{Customer, List, Plan, Price, Product, Subscription, SubscriptionItem},
        request::{ListRequest, DEFAULT_LIMIT},
    },
};

/// What is known of one object.
#[derive(Debug, Clone)]
enum Held<T> {
    /// The object as it is.
    Present(Arc<T>),
    /// It was deleted.
    Gone,
    /// It changed in a way the mirror could not follow; a read is due. The mark it was given:
    /// only a read begun after it (whose [`Version::mark`] is at least this) replaces it, so a
    /// read already in flight when the change arrived never does.
    Unknown(u64),
}

#[derive(Debug, Clone)]
struct Slot<T> {
    held: Held<T>,
    version: Version,
}

/// A customer and, when known, the first page of its subscriptions with the seconds it was
/// read in.
#[derive(Debug, Clone)]
struct CustomerSlot {
    held: Held<Customer>,
    version: Version,
    page: Option<(Arc<List<Subscription>>, Version)>,
}

/// What applying something changed, and what must be read again.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changed {
    /// Whether anything held changed.
    pub changed: bool,
    /// Reads that will make the mirror exact again (an event it could not order, a page it
    /// could not follow).
    pub refetch: Vec<Fetch>,
    /// The event was older than what is held, or already held.
    pub ignored: bool,
}

/// How many objects of each type are held (present), for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub customers: usize,
    pub subscriptions: usize,
    pub prices: usize,
    pub plans: usize,
    pub products: usize,
}

/// The mirror's state (see the module docs).
#[derive(Debug, Default)]
pub struct MirrorStore {
    customers: HashMap<String, CustomerSlot>,
    subscriptions: HashMap<String, Slot<Subscription>>,
    prices: HashMap<String, Slot<Price>>,
    plans: HashMap<String, Slot<Plan>>,
    products: HashMap<String, Slot<Product>>,
    /// How many times an object was marked for a re-read ([`Held::Unknown`]).
    marks: u64,
}

/// The read that also answers `fetch`, when there is one: a customer with its first page
/// answers the customer and that page.
pub fn covering(fetch: &Fetch) -> Option<Fetch> {
    match fetch {
        Fetch::Object(id) if id.kind() == IdKind::Customer => {
            Some(Fetch::CustomerWithSubscriptions(id.clone()))
        }
        Fetch::List(query) => page_owner(query).map(Fetch::CustomerWithSubscriptions),
        _ => None,
    }
}

/// The id of the customer a default-arguments page query is for, if it is one.
fn page_owner(query: &crate::stripe::request::ListQuery) -> Option<StripeId> {
    let customer = StripeId::parse(IdKind::Customer, query.param("customer")?).ok()?;
    (ListRequest::of_customer(&customer).query() == query).then_some(customer)
}

/// The entries a customer and its first page fill.
fn customer_with_page(
    id: &StripeId,
    customer: Arc<Customer>,
    page: &Arc<List<Subscription>>,
) -> Filled {
    let mut filled = Filled::one(Entry::Customer(customer));
    filled.also.extend(objects_of(page));
    let page_key = Key::List(ListRequest::of_customer(id).query().clone());
    filled
        .also
        .push((page_key, Entry::Subscriptions(page.clone())));
    filled
}

fn listed_by_default(subscription: &Subscription) -> bool {
    subscription.status != "canceled"
}

impl MirrorStore {
    /// How many times an object was marked for a re-read: a read records it when it begins
    /// ([`Version::after`]).
    pub fn marks(&self) -> u64 {
        self.marks
    }

    /// A new mark, for an object about to be marked for a re-read.
    fn next_mark(&mut self) -> u64 {
        self.marks += 1;
        self.marks
    }

    /// The answer to `fetch` from what is held, or `None` when the mirror cannot give it
    /// exactly (not held, changed in a way it could not follow, or a list it does not keep).
    pub fn answer(&self, fetch: &Fetch) -> Option<Filled> {
        match fetch {
            Fetch::Object(id) => self.object(id).map(Filled::one),
            Fetch::CustomerWithSubscriptions(id) => {
                let slot = self.customers.get(id.as_str())?;
                match (&slot.held, &slot.page) {
                    (Held::Gone, _) => Some(Filled::one(Entry::Missing)),
                    (Held::Present(customer), Some((page, _))) => {
                        Some(customer_with_page(id, customer.clone(), page))
                    }
                    _ => None,
                }
            }
            Fetch::List(query) => {
                let owner = page_owner(query)?;
                let slot = self.customers.get(owner.as_str())?;
                match (&slot.held, &slot.page) {
                    (Held::Present(_), Some((page, _))) => Some(Filled {
                        primary: Entry::Subscriptions(page.clone()),
                        also: objects_of(page),
                        age: std::time::Duration::ZERO,
                    }),
                    _ => None,
                }
            }
        }
    }

    fn object(&self, id: &StripeId) -> Option<Entry> {
        fn of<T>(slot: Option<&Slot<T>>, wrap: fn(Arc<T>) -> Entry) -> Option<Entry> {
            match &slot?.held {
                Held::Present(value) => Some(wrap(value.clone())),
                Held::Gone => Some(Entry::Missing),
                Held::Unknown(_) => None,
            }
        }
        let key = id.as_str();
        match id.kind() {
            IdKind::Customer => match &self.customers.get(key)?.held {
                Held::Present(customer) => Some(Entry::Customer(customer.clone())),
                Held::Gone => Some(Entry::Missing),
                Held::Unknown(_) => None,
            },
            IdKind::Subscription => of(self.subscriptions.get(key), Entry::Subscription),
            IdKind::Price => of(self.prices.get(key), Entry::Price),
            IdKind::Plan => of(self.plans.get(key), Entry::Plan),
            IdKind::Product => of(self.products.get(key), Entry::Product),
            IdKind::SubscriptionItem => None,
        }
    }

    /// How many objects of each type are held.
    pub fn counts(&self) -> Counts {
        fn present<T>(map: &HashMap<String, Slot<T>>) -> usize {
            map.values()
                .filter(|s| matches!(s.held, Held::Present(_)))
                .count()
        }
        Counts {
            customers: self
                .customers
                .values()
                .filter(|s| matches!(s.held, Held::Present(_)))
                .count(),
            subscriptions: present(&self.subscriptions),
            prices: present(&self.prices),
            plans: present(&self.plans),
            products: present(&self.products),
        }
    }

    // ---- reads ---------------------------------------------------------------------------

    /// Joins what a read of `fetch` answered (`filled`), read between the seconds of
    /// `version`: each object it holds replaces what is held unless something newer is (an
    /// event that landed while the read ran). A "does not exist" answer is kept only for an
    /// object the mirror held (so unknown ids never grow it).
    pub fn join(&mut self, fetch: &Fetch, filled: &Filled, version: &Version) {
        match (fetch, &filled.primary) {
            (Fetch::CustomerWithSubscriptions(id), Entry::Customer(customer)) => {
                let page = filled
                    .also
                    .iter()
                    .find_map(|(key, entry)| match (key, entry) {
                        (Key::List(_), Entry::Subscriptions(page)) => Some(page.clone()),
                        _ => None,
                    });
                self.join_customer(id.as_str(), Some(customer.clone()), page, version);
            }
            (Fetch::CustomerWithSubscriptions(id) | Fetch::Object(id), Entry::Missing) => {
                self.join_missing(id, version);
            }
            (Fetch::Object(_), entry) => self.join_entry(entry, version),
            (Fetch::List(query), Entry::Subscriptions(page)) => {
                if let Some(owner) = page_owner(query) {
                    self.join_page(owner.as_str(), page.clone(), version);
                }
            }
            _ => {}
        }
    }

    fn join_entry(&mut self, entry: &Entry, version: &Version) {
        match entry {
            Entry::Customer(customer) => {
                self.join_customer(&customer.id.clone(), Some(customer.clone()), None, version)
            }
            Entry::Subscription(subscription) => {
                self.join_subscription(subscription.clone(), version)
            }
            Entry::Price(price) => join_slot(&mut self.prices, &price.id, price.clone(), version),
            Entry::Plan(plan) => join_slot(&mut self.plans, &plan.id, plan.clone(), version),
            Entry::Product(product) => {
                join_slot(&mut self.products, &product.id, product.clone(), version)
            }
            _ => {}
        }
    }

    fn join_missing(&mut self, id: &StripeId, version: &Version) {
        fn gone<T>(slot: Option<&mut Slot<T>>, version: &Version) {
            if let Some(slot) = slot {
                if replaces(&slot.held, &slot.version, version) {
                    slot.held = Held::Gone;
                    slot.version = version.clone();
                }
            }
        }
        let key = id.as_str();
        match id.kind() {
            IdKind::Customer => {
                if let Some(slot) = self.customers.get_mut(key) {
                    if replaces(&slot.held, &slot.version, version) {
                        slot.held = Held::Gone;
                        slot.version = version.clone();
                        slot.page = None;
                    }
                }
            }
            IdKind::Subscription => gone(self.subscriptions.get_mut(key), version),
            IdKind::Price => gone(self.prices.get_mut(key), version),
            IdKind::Plan => gone(self.plans.get_mut(key), version),
            IdKind::Product => gone(self.products.get_mut(key), version),
            IdKind::SubscriptionItem => {}
        }
    }

    /// Joins a customer read, with the first page of its subscriptions when the read
    /// embedded it (the backfill's and `expand[]=subscriptions` reads).
    pub fn join_customer(
        &mut self,
        id: &str,
        customer: Option<Arc<Customer>>,
        page: Option<Arc<List<Subscription>>>,
        version: &Version,
    ) {
        let slot = self
            .customers
            .entry(id.to_owned())
            .or_insert_with(|| CustomerSlot {
                held: Held::Unknown(0),
                version: Version::read(i64::MIN, i64::MIN),
                page: None,
            });
        if replaces(&slot.held, &slot.version, version) {
            slot.held = match customer {
                Some(customer) => Held::Present(customer),
                None => Held::Gone,
            };
            slot.version = version.clone();
        }
        if let Some(page) = page {
            self.join_page(id, page, version);
        }
    }

    /// Joins a customer's first page of subscriptions, and each subscription on it.
    fn join_page(&mut self, customer: &str, page: Arc<List<Subscription>>, version: &Version) {
        for subscription in &page.data {
            self.join_subscription(subscription.clone(), version);
        }
        let Some(slot) = self.customers.get_mut(customer) else {
            return;
        };
        if !matches!(slot.held, Held::Present(_)) {
            return;
        }
        let newer_known = slot
            .page
            .as_ref()
            .is_some_and(|(_, held)| !read_replaces(Some(held), version));
        if !newer_known {
            // The page's subscriptions as held (shared with the subscriptions map).
            let data = page
                .data
                .iter()
                .map(|s| match self.subscriptions.get(&s.id) {
                    Some(Slot {
                        held: Held::Present(held),
                        ..
                    }) => held.clone(),
                    _ => s.clone(),
                })
                .collect();
            slot.page = Some((
                Arc::new(List {
                    data,
                    has_more: page.has_more,
                }),
                version.clone(),
            ));
        }
    }

    fn join_subscription(&mut self, subscription: Arc<Subscription>, version: &Version) {
        let id = subscription.id.clone();
        let replace = match self.subscriptions.get(&id) {
            None => true,
            Some(slot) => replaces(&slot.held, &slot.version, version),
        };
        if replace {
            let shared = self.share_embedded(&subscription, version.from);
            self.subscriptions.insert(
                id,
                Slot {
                    held: Held::Present(shared),
                    version: version.clone(),
                },
            );
        }
    }

    /// Joins a price, plan or product read by the backfill.
    pub fn join_price(&mut self, price: Arc<Price>, version: &Version) {
        join_slot(&mut self.prices, &price.id.clone(), price, version);
    }

    /// See [`MirrorStore::join_price`].
    pub fn join_plan(&mut self, plan: Arc<Plan>, version: &Version) {
        join_slot(&mut self.plans, &plan.id.clone(), plan, version);
    }

    /// See [`MirrorStore::join_price`].
    pub fn join_product(&mut self, product: Arc<Product>, version: &Version) {
        join_slot(&mut self.products, &product.id.clone(), product, version);
    }

    /// Shares the prices and plans every held subscription embeds with the mirror's own
    /// copies where those are at least as new (after a backfill read the catalog).
    pub fn share_all_embedded(&mut self) {
        let ids: Vec<String> = self.subscriptions.keys().cloned().collect();
        for id in ids {
            let Some(Slot {
                held: Held::Present(subscription),
                version,
            }) = self.subscriptions.get(&id).cloned()
            else {
                continue;
            };
            let shared = self.share_embedded(&subscription, version.from);
            if !Arc::ptr_eq(&shared, &subscription) {
                self.replace_subscription(&id, shared);
            }
        }
    }

    /// `subscription` with each embedded price and plan replaced by the mirror's copy when
    /// that copy dates from `since` or later (it is then at least as new as the embedded one)
    /// or is equal to it (so a page read after the catalog shares its prices at once).
    fn share_embedded(&self, subscription: &Arc<Subscription>, since: i64) -> Arc<Subscription> {
        let price_of = |p: &Arc<Price>| match self.prices.get(&p.id) {
            Some(Slot {
                held: Held::Present(held),
                version,
            }) if !Arc::ptr_eq(held, p) && (version.to >= since || **held == **p) => {
                Some(held.clone())
            }
            _ => None,
        };
        let plan_of = |p: &Arc<Plan>| match self.plans.get(&p.id) {
            Some(Slot {
                held: Held::Present(held),
                version,
            }) if !Arc::ptr_eq(held, p) && (version.to >= since || **held == **p) => {
                Some(held.clone())
            }
            _ => None,
        };
        embed(subscription, &price_of, &plan_of)
    }

    /// Puts `subscription` in place of the held one with its id, on its customer's page too.
    fn replace_subscription(&mut self, id: &str, subscription: Arc<Subscription>) {
        if let Some(slot) = self.subscriptions.get_mut(id) {
            slot.held = Held::Present(subscription.clone());
        }
        if let Some(CustomerSlot {
            page: Some((page, _)),
            ..
        }) = self.customers.get_mut(&subscription.customer)
        {
            if let Some(i) = page.data.iter().position(|s| s.id == id) {
                let mut data = page.data.clone();
                data[i] = subscription;
                *page = Arc::new(List {
                    data,
                    has_more: page.has_more,
                });
            }
        }
    }

    // ---- events --------------------------------------------------------------------------

    /// Applies a verified event: its object when it is newer than what is held, nothing when
    /// it is older or already held, and a read of the object (or of its customer's page) when
    /// it cannot be ordered against what is held (see [`decide`]).
    pub fn apply_event(&mut self, event: &Event) -> Changed {
        let id = event.id.as_deref();
        let created = event.created;
        let deleted = event.event_type.ends_with(".deleted");
        match &event.object {
            EventObject::Customer(customer) => {
                self.apply_customer(customer, &event.event_type, created, id)
            }
            EventObject::Subscription(subscription) => {
                self.apply_subscription(subscription, created, id)
            }
            EventObject::Price(price) => {
                let mark = self.next_mark();
                let decision = apply_slot(
                    &mut self.prices,
                    (&price.id, price),
                    deleted,
                    (created, id),
                    mark,
                );
                if decision == Decision::Apply && !deleted {
                    self.embed_everywhere(Some(price), None);
                }
                changed_by(decision, IdKind::Price, &price.id)
            }
            EventObject::Plan(plan) => {
                let mark = self.next_mark();
                let decision = apply_slot(
                    &mut self.plans,
                    (&plan.id, plan),
                    deleted,
                    (created, id),
                    mark,
                );
                if decision == Decision::Apply && !deleted {
                    self.embed_everywhere(None, Some(plan));
                }
                changed_by(decision, IdKind::Plan, &plan.id)
            }
            EventObject::Product(product) => {
                let mark = self.next_mark();
                let decision = apply_slot(
                    &mut self.products,
                    (&product.id, product),
                    deleted,
                    (created, id),
                    mark,
                );
                changed_by(decision, IdKind::Product, &product.id)
            }
            // customer.discount.*, customer.tax_id.*, …: nothing the mirror serves.
            EventObject::Other(_) => Changed {
                ignored: true,
                ..Changed::default()
            },
        }
    }

    fn apply_customer(
        &mut self,
        customer: &Customer,
        event_type: &str,
        created: Option<i64>,
        event_id: Option<&str>,
    ) -> Changed {
        let deleted = event_type == "customer.deleted";
        let mark = self.next_mark();
        let new_customer = !self.customers.contains_key(&customer.id);
        // A customer created just now has no subscriptions unless the mirror already saw one
        // of its events out of order.
        let known_empty = event_type == "customer.created"
            && !self
                .subscriptions
                .values()
                .any(|s| matches!(&s.held, Held::Present(sub) if sub.customer == customer.id));
        let slot = self
            .customers
            .entry(customer.id.clone())
            .or_insert_with(|| CustomerSlot {
                held: Held::Unknown(0),
                version: Version::read(i64::MIN, i64::MIN),
                page: None,
            });
        let held_version = (!new_customer).then_some(&slot.version);
        match decide(held_version, created, event_id) {
            Decision::Ignore => Changed {
                ignored: true,
                ..Changed::default()
            },
            Decision::Apply => {
                let version = Version::event(created.unwrap_or_default(), event_id);
                if deleted {
                    slot.held = Held::Gone;
                    slot.page = None;
                } else {
                    slot.held = Held::Present(Arc::new(customer.clone()));
                    if new_customer && known_empty {
                        slot.page = Some((Arc::new(List::default()), version.clone()));
                    }
                }
                slot.version = version;
                Changed {
                    changed: true,
                    ..Changed::default()
                }
            }
            Decision::Refetch => {
                slot.held = Held::Unknown(mark);
                slot.page = None;
                slot.version = widened(&slot.version, created);
                let id = StripeId::parse(IdKind::Customer, &customer.id).ok();
                Changed {
                    changed: true,
                    refetch: id
                        .map(Fetch::CustomerWithSubscriptions)
                        .into_iter()
                        .collect(),
                    ignored: false,
                }
            }
        }
    }

    fn apply_subscription(
        &mut self,
        subscription: &Subscription,
        created: Option<i64>,
        event_id: Option<&str>,
    ) -> Changed {
        let held = self.subscriptions.get(&subscription.id).map(|s| &s.version);
        let customer_page = StripeId::parse(IdKind::Customer, &subscription.customer)
            .map(Fetch::CustomerWithSubscriptions);
        match decide(held, created, event_id) {
            Decision::Ignore => Changed {
                ignored: true,
                ..Changed::default()
            },
            Decision::Refetch => {
                let version = match self.subscriptions.get(&subscription.id) {
                    Some(slot) => widened(&slot.version, created),
                    None => Version::read(created.unwrap_or(i64::MIN), created.unwrap_or(i64::MIN)),
                };
                let mark = self.next_mark();
                self.subscriptions.insert(
                    subscription.id.clone(),
                    Slot {
                        held: Held::Unknown(mark),
                        version,
                    },
                );
                // One read: the customer's page holds the subscription when Stripe lists it by
                // default; otherwise (or for a customer not held) the subscription itself.
                let on_page = match self.customers.get_mut(&subscription.customer) {
                    Some(slot) if matches!(slot.held, Held::Present(_)) => {
                        slot.page = None;
                        listed_by_default(subscription)
                    }
                    _ => false,
                };
                let refetch: Vec<Fetch> = if on_page {
                    customer_page.into_iter().collect()
                } else {
                    StripeId::parse(IdKind::Subscription, &subscription.id)
                        .map(Fetch::Object)
                        .into_iter()
                        .collect()
                };
                Changed {
                    changed: true,
                    refetch,
                    ignored: false,
                }
            }
            Decision::Apply => {
                let c = created.unwrap_or_default();
                let version = Version::event(c, event_id);
                let shared = self.share_embedded(&Arc::new(subscription.clone()), c);
                self.subscriptions.insert(
                    subscription.id.clone(),
                    Slot {
                        held: Held::Present(shared.clone()),
                        version,
                    },
                );
                let page_unknown = self.follow_on_page(shared, c);
                let mut changed = Changed {
                    changed: true,
                    ..Changed::default()
                };
                if page_unknown {
                    if let Some(slot) = self.customers.get_mut(&subscription.customer) {
                        slot.page = None;
                    }
                    changed.refetch.extend(customer_page);
                }
                changed
            }
        }
    }

    /// Moves a subscription's newer state (from an event created at `created`) onto its
    /// customer's first page: replaced where it is, removed when Stripe no longer lists it by
    /// default, inserted where its `created` puts it. Returns whether the page can no longer
    /// be told exactly (a subscription left a page with more after it; one not on the page
    /// changed within the seconds the page was read in; or two with the same `created`).
    fn follow_on_page(&mut self, subscription: Arc<Subscription>, created: i64) -> bool {
        let Some(slot) = self.customers.get_mut(&subscription.customer) else {
            return false;
        };
        let Some((page, page_version)) = &mut slot.page else {
            return false;
        };
        let listed = listed_by_default(&subscription);
        let mut data = page.data.clone();
        let mut has_more = page.has_more;
        match data.iter().position(|s| s.id == subscription.id) {
            Some(i) if listed => data[i] = subscription,
            Some(i) => {
                data.remove(i);
                if has_more {
                    return true;
                }
            }
            None if created < page_version.from => return false,
            None if created <= page_version.to => return true,
            None if !listed => return false,
            None => {
                let when = subscription.created.0;
                if data.iter().any(|s| s.created.0 == when) {
                    return true;
                }
                let at = data
                    .iter()
                    .position(|s| s.created.0 < when)
                    .unwrap_or(data.len());
                if at == data.len() && has_more {
                    return false;
                }
                data.insert(at, subscription);
                if data.len() > usize::from(DEFAULT_LIMIT) {
                    data.pop();
                    has_more = true;
                }
            }
        }
        *page = Arc::new(List { data, has_more });
        false
    }

    /// Puts a newer price or plan into every held subscription that embeds it.
    fn embed_everywhere(&mut self, price: Option<&Price>, plan: Option<&Plan>) {
        let price = price.map(|p| Arc::new(p.clone()));
        let plan = plan.map(|p| Arc::new(p.clone()));
        let held_price = price
            .as_ref()
            .and_then(|p| self.prices.get(&p.id))
            .and_then(|s| match &s.held {
                Held::Present(p) => Some(p.clone()),
                _ => None,
            });
        let held_plan = plan
            .as_ref()
            .and_then(|p| self.plans.get(&p.id))
            .and_then(|s| match &s.held {
                Held::Present(p) => Some(p.clone()),
                _ => None,
            });
        let price_of = |p: &Arc<Price>| held_price.clone().filter(|h| h.id == p.id);
        let plan_of = |p: &Arc<Plan>| held_plan.clone().filter(|h| h.id == p.id);
        let changed: Vec<(String, Arc<Subscription>)> = self
            .subscriptions
            .iter()
            .filter_map(|(id, slot)| match &slot.held {
                Held::Present(s) => {
                    let embedded = embed(s, &price_of, &plan_of);
                    (!Arc::ptr_eq(&embedded, s)).then(|| (id.clone(), embedded))
                }
                _ => None,
            })
            .collect();
        for (id, subscription) in changed {
            self.replace_subscription(&id, subscription);
        }
    }

    // ---- writes and remote changes ---------------------------------------------------------

    /// Holds what Stripe answered a write with (read between the seconds of `version`), as
    /// an event's object: the object, and its customer's page followed. A customer `created`
    /// by the write within those seconds has no subscription yet (one an idempotent replay
    /// answered, created earlier, may have: its page stays unknown).
    pub fn wrote(&mut self, entry: &Entry, created: bool, version: &Version) -> Changed {
        match entry {
            Entry::Subscription(subscription) => {
                let replace = self
                    .subscriptions
                    .get(&subscription.id)
                    .is_none_or(|slot| replaces(&slot.held, &slot.version, version));
                if !replace {
                    return Changed::default();
                }
                let shared = self.share_embedded(subscription, version.from);
                self.subscriptions.insert(
                    subscription.id.clone(),
                    Slot {
                        held: Held::Present(shared.clone()),
                        version: version.clone(),
                    },
                );
                let mut changed = Changed {
                    changed: true,
                    ..Changed::default()
                };
                // A write's answer is as new as the write: place it as an event of its end.
                if self.follow_on_page(shared, version.to.saturating_add(1)) {
                    if let Some(slot) = self.customers.get_mut(&subscription.customer) {
                        slot.page = None;
                    }
                    if let Ok(id) = StripeId::parse(IdKind::Customer, &subscription.customer) {
                        changed.refetch.push(Fetch::CustomerWithSubscriptions(id));
                    }
                }
                changed
            }
            Entry::Customer(customer) => {
                let new_customer = !self.customers.contains_key(&customer.id);
                self.join_customer(&customer.id.clone(), Some(customer.clone()), None, version);
                if new_customer && created && customer.created.0 >= version.from {
                    if let Some(slot) = self.customers.get_mut(&customer.id) {
                        slot.page = Some((Arc::new(List::default()), version.clone()));
                    }
                }
                Changed {
                    changed: true,
                    ..Changed::default()
                }
            }
            other => {
                self.join_entry(other, version);
                Changed {
                    changed: true,
                    ..Changed::default()
                }
            }
        }
    }

    /// Holds that a write deleted this customer (its subscriptions were canceled with it).
    pub fn deleted_customer(&mut self, id: &str, version: &Version) {
        let mark = self.next_mark();
        let slot = self
            .customers
            .entry(id.to_owned())
            .or_insert_with(|| CustomerSlot {
                held: Held::Unknown(0),
                version: version.clone(),
                page: None,
            });
        slot.held = Held::Gone;
        slot.page = None;
        slot.version = version.clone();
        for slot in self.subscriptions.values_mut() {
            if matches!(&slot.held, Held::Present(s) if s.customer == id) {
                slot.held = Held::Unknown(mark);
            }
        }
    }

    /// Forgets what these tags name (another replica changed it; without a shared mirror,
    /// this replica reads it again on its next use). Returns whether anything was forgotten.
    pub fn forget(&mut self, tags: &[Tag]) -> bool {
        let mark = self.next_mark();
        let mut forgot = false;
        for tag in tags {
            match tag {
                Tag::Object(id) => {
                    if let Some(slot) = self.customers.get_mut(id) {
                        slot.held = Held::Unknown(mark);
                        slot.page = None;
                        forgot = true;
                    }
                    for map_forgot in [
                        forget_in(&mut self.subscriptions, id, mark),
                        forget_in(&mut self.prices, id, mark),
                        forget_in(&mut self.plans, id, mark),
                        forget_in(&mut self.products, id, mark),
                    ] {
                        forgot |= map_forgot;
                    }
                    // Pages embedding a changed subscription, price or plan.
                    for slot in self.customers.values_mut() {
                        let embeds = slot.page.as_ref().is_some_and(|(page, _)| {
                            page.data.iter().any(|s| s.id == *id || embeds_id(s, id))
                        });
                        if embeds {
                            slot.page = None;
                            forgot = true;
                        }
                    }
                }
                Tag::SubscriptionsOf(customer) => {
                    if let Some(slot) = self.customers.get_mut(customer) {
                        forgot |= slot.page.take().is_some();
                    }
                }
                Tag::Collection(_) => {}
            }
        }
        forgot
    }

    /// Drops every customer, price, plan and product last read before `second` and not
    /// changed by an event since (after a full backfill pass that began then: what it did not
    /// see is gone from Stripe), with the subscriptions of dropped customers.
    pub fn sweep(&mut self, second: i64) -> usize {
        let before = self.customers.len();
        let dropped: HashSet<String> = self
            .customers
            .iter()
            .filter(|(_, slot)| slot.version.to < second)
            .map(|(id, _)| id.clone())
            .collect();
        self.customers.retain(|id, _| !dropped.contains(id));
        self.subscriptions.retain(|_, slot| match &slot.held {
            Held::Present(s) => !dropped.contains(&s.customer),
            _ => slot.version.to >= second,
        });
        self.prices.retain(|_, slot| slot.version.to >= second);
        self.plans.retain(|_, slot| slot.version.to >= second);
        self.products.retain(|_, slot| slot.version.to >= second);
        before - self.customers.len()
    }
}

/// Whether what is held (`held`, dated `version`) gives way to a read dated `read`: when it
/// is marked for a re-read, a read begun after the marking does (it was started after the
/// change that marked it arrived); else only a read all of what is held is older than.
fn replaces<T>(held: &Held<T>, version: &Version, read: &Version) -> bool {
    match held {
        Held::Unknown(mark) => read.mark >= *mark,
        _ => read_replaces(Some(version), read),
    }
}

fn join_slot<T>(map: &mut HashMap<String, Slot<T>>, id: &str, value: Arc<T>, version: &Version) {
    let replace = map
        .get(id)
        .is_none_or(|slot| replaces(&slot.held, &slot.version, version));
    if replace {
        map.insert(
            id.to_owned(),
            Slot {
                held: Held::Present(value),
                version: version.clone(),
            },
        );
    }
}

/// Applies an event about a price, plan or product to its slot; returns what was decided.
fn apply_slot<T: Clone>(
    map: &mut HashMap<String, Slot<T>>,
    (id, object): (&str, &T),
    deleted: bool,
    (created, event_id): (Option<i64>, Option<&str>),
    mark: u64,
) -> Decision {
    let decision = decide(map.get(id).map(|s| &s.version), created, event_id);
    let slot = match decision {
        Decision::Ignore => return decision,
        Decision::Apply => Slot {
            held: if deleted {
                Held::Gone
            } else {
                Held::Present(Arc::new(object.clone()))
            },
            version: Version::event(created.unwrap_or_default(), event_id),
        },
        Decision::Refetch => Slot {
            held: Held::Unknown(mark),
            version: match map.get(id) {
                Some(slot) => widened(&slot.version, created),
                None => Version::read(created.unwrap_or(i64::MIN), created.unwrap_or(i64::MIN)),
            },
        },
    };
    map.insert(id.to_owned(), slot);
    decision
}

/// What a decision about the object `id` of `kind` changed and asks to read.
fn changed_by(decision: Decision, kind: IdKind, id: &str) -> Changed {
    match decision {
        Decision::Ignore => Changed {
            ignored: true,
            ..Changed::default()
        },
        Decision::Apply => Changed {
            changed: true,
            ..Changed::default()
        },
        Decision::Refetch => Changed {
            changed: true,
            refetch: StripeId::parse(kind, id)
                .map(Fetch::Object)
                .into_iter()
                .collect(),
            ignored: false,
        },
    }
}

/// `version` widened to the second `created` (unknown: to every second), with no event id:
/// what is known after an event that could not be ordered.
fn widened(version: &Version, created: Option<i64>) -> Version {
    match created {
        Some(c) => Version::read(version.from.min(c), version.to.max(c)),
        None => Version::read(version.from, i64::MAX - 1),
    }
}

fn forget_in<T>(map: &mut HashMap<String, Slot<T>>, id: &str, mark: u64) -> bool {
    match map.get_mut(id) {
        Some(slot) => {
            slot.held = Held::Unknown(mark);
            true
        }
        None => false,
    }
}

fn embeds_id(subscription: &Subscription, id: &str) -> bool {
    subscription.plan.as_ref().is_some_and(|p| p.id == id)
        || subscription.items.data.iter().any(|item| {
            item.price.as_ref().is_some_and(|p| p.id == id)
                || item.plan.as_ref().is_some_and(|p| p.id == id)
        })
}

/// `subscription` with the embedded prices and plans `price_of` and `plan_of` replace (the
/// same `Arc` when they replace none).
fn embed(
    subscription: &Arc<Subscription>,
    price_of: &dyn Fn(&Arc<Price>) -> Option<Arc<Price>>,
    plan_of: &dyn Fn(&Arc<Plan>) -> Option<Arc<Plan>>,
) -> Arc<Subscription> {
    let top_plan = subscription.plan.as_ref().and_then(plan_of);
    let items: Vec<Option<SubscriptionItem>> = subscription
        .items
        .data
        .iter()
        .map(|item| {
            let price = item.price.as_ref().and_then(price_of);
            let plan = item.plan.as_ref().and_then(plan_of);
            if price.is_none() && plan.is_none() {
                return None;
            }
            let mut item = (**item).clone();
            if price.is_some() {
                item.price = price;
            }
            if plan.is_some() {
                item.plan = plan;
            }
            Some(item)
        })
        .collect();
    if top_plan.is_none() && items.iter().all(Option::is_none) {
        return subscription.clone();
    }
    let mut changed = (**subscription).clone();
    if top_plan.is_some() {
        changed.plan = top_plan;
    }
    changed.items.data = subscription
        .items
        .data
        .iter()
        .zip(items)
        .map(|(old, new)| new.map(Arc::new).unwrap_or_else(|| old.clone()))
        .collect();
    Arc::new(changed)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use stripe_sandbox::fixtures;

    use super::*;
    use crate::stripe::{event::PreviousAttributes, models::decode};

    const CUS: &str = "cus_Page";

    fn price() -> Value {
        let monthly = fixtures::Recurrence {
            interval: "month",
            interval_count: 1,
            usage_type: "licensed",
            meter: None,
        };
        fixtures::price("price_M", "prod_M", "Monthly", "100", Some(monthly), 1)
    }

    fn subscription(id: &str, status: &str, created: i64) -> Subscription {
        let price = price();
        let items = [fixtures::ItemSpec {
            id: &format!("si_{id}"),
            price: &price,
            quantity: Some(1),
        }];
        decode(fixtures::subscription(
            id,
            CUS,
            status,
            &items,
            (1, 2),
            created,
        ))
        .unwrap()
    }

    fn customer() -> Customer {
        decode(fixtures::customer(CUS, "Page", "p@example.com", 1)).unwrap()
    }

    fn event(object: EventObject, event_type: &str, created: i64, id: &str) -> Event {
        Event {
            id: Some(id.to_owned()),
            event_type: event_type.to_owned(),
            created: Some(created),
            object,
            previous: PreviousAttributes::default(),
        }
    }

    fn sub_event(s: Subscription, created: i64, id: &str) -> Event {
        event(
            EventObject::Subscription(s),
            "customer.subscription.updated",
            created,
            id,
        )
    }

    /// A store holding the customer and a page of `n` subscriptions (created 100, 99, …),
    /// read at second 1000, `has_more` as given.
    fn store_with_page(n: usize, has_more: bool) -> MirrorStore {
        let mut store = MirrorStore::default();
        let data = (0..n)
            .map(|i| {
                Arc::new(subscription(
                    &format!("sub_{i:02}"),
                    "active",
                    100 - i as i64,
                ))
            })
            .collect();
        store.join_customer(
            CUS,
            Some(Arc::new(customer())),
            Some(Arc::new(List { data, has_more })),
            &Version::read(1000, 1000),
        );
        store
    }

    fn page_ids(store: &MirrorStore) -> Option<(Vec<String>, bool)> {
        let id = StripeId::parse(IdKind::Customer, CUS).unwrap();
        let filled = store.answer(&Fetch::CustomerWithSubscriptions(id))?;
        let page = filled.also.iter().find_map(|(_, e)| match e {
            Entry::Subscriptions(page) => Some(page.clone()),
            _ => None,
        })?;
        Some((
            page.data.iter().map(|s| s.id.clone()).collect(),
            page.has_more,
        ))
    }

    #[test]
    fn a_new_subscription_is_inserted_by_created_and_the_eleventh_drops_off_with_has_more() {
        let mut store = store_with_page(10, false);
        let changed = store.apply_event(&sub_event(
            subscription("sub_new", "active", 200),
            1001,
            "e1",
        ));
        assert!(changed.changed && changed.refetch.is_empty());
        let (ids, has_more) = page_ids(&store).unwrap();
        assert_eq!(ids.len(), 10);
        assert_eq!(ids[0], "sub_new");
        assert_eq!(ids[9], "sub_08");
        assert!(has_more);
        // Older than every one on a page with more after it: on a later page, nothing to do.
        let changed =
            store.apply_event(&sub_event(subscription("sub_old", "active", 5), 1002, "e2"));
        assert!(changed.refetch.is_empty());
        assert_eq!(page_ids(&store).unwrap().0[9], "sub_08");
    }

    #[test]
    fn a_canceled_subscription_leaves_the_page_and_a_page_with_more_is_read_again() {
        let mut store = store_with_page(3, false);
        let changed = store.apply_event(&sub_event(
            subscription("sub_01", "canceled", 99),
            1001,
            "e1",
        ));
        assert!(changed.refetch.is_empty());
        assert_eq!(
            page_ids(&store).unwrap(),
            (vec!["sub_00".into(), "sub_02".into()], false)
        );

        let mut store = store_with_page(10, true);
        let changed = store.apply_event(&sub_event(
            subscription("sub_01", "canceled", 99),
            1001,
            "e1",
        ));
        assert_eq!(
            changed.refetch,
            vec![Fetch::CustomerWithSubscriptions(
                StripeId::parse(IdKind::Customer, CUS).unwrap()
            )]
        );
        assert_eq!(
            page_ids(&store),
            None,
            "the page is unknown until read again"
        );
    }

    #[test]
    fn two_subscriptions_with_one_created_second_or_an_event_inside_the_pages_read_are_read_again()
    {
        let mut store = store_with_page(3, false);
        // Same `created` as sub_00: Stripe's order between them is unknown.
        let changed = store.apply_event(&sub_event(
            subscription("sub_twin", "active", 100),
            1001,
            "e1",
        ));
        assert_eq!(changed.refetch.len(), 1);
        assert_eq!(page_ids(&store), None);

        let mut store = store_with_page(3, false);
        // An event for one not on the page, within the second the page was read in.
        let changed = store.apply_event(&sub_event(
            subscription("sub_late", "active", 500),
            1000,
            "e1",
        ));
        assert_eq!(changed.refetch.len(), 1);
    }

    #[test]
    fn an_older_event_is_ignored_and_a_redelivery_changes_nothing() {
        let mut store = store_with_page(1, false);
        let newer = subscription("sub_00", "past_due", 100);
        assert!(
            store
                .apply_event(&sub_event(newer.clone(), 1005, "e5"))
                .changed
        );
        let older = store.apply_event(&sub_event(
            subscription("sub_00", "active", 100),
            1003,
            "e3",
        ));
        assert!(older.ignored && !older.changed);
        let again = store.apply_event(&sub_event(newer, 1005, "e5"));
        assert!(again.ignored);
        let id = StripeId::parse(IdKind::Subscription, "sub_00").unwrap();
        let Some(Filled {
            primary: Entry::Subscription(held),
            ..
        }) = store.answer(&Fetch::Object(id))
        else {
            panic!("held")
        };
        assert_eq!(held.status, "past_due");
    }

    #[test]
    fn a_create_answer_gives_an_empty_page_only_when_created_within_the_write() {
        let mut store = MirrorStore::default();
        let mut created: Customer = customer();
        created.created.0 = 2000;
        let entry = Entry::Customer(Arc::new(created.clone()));
        store.wrote(&entry, true, &Version::read(2000, 2001));
        assert_eq!(page_ids(&store), Some((vec![], false)));

        // A replayed create answers a customer made earlier: its page is not known.
        let mut store = MirrorStore::default();
        created.created.0 = 1500;
        store.wrote(
            &Entry::Customer(Arc::new(created)),
            true,
            &Version::read(2000, 2001),
        );
        assert_eq!(page_ids(&store), None);
    }

    #[test]
    fn a_price_event_reaches_embedded_copies_and_they_share_one_allocation() {
        let mut store = store_with_page(3, false);
        let mut price: Price = decode(price()).unwrap();
        price.nickname = Some("Renamed".into());
        store.apply_event(&event(
            EventObject::Price(price),
            "price.updated",
            1001,
            "p1",
        ));
        let id = StripeId::parse(IdKind::Price, "price_M").unwrap();
        let Some(Filled {
            primary: Entry::Price(held),
            ..
        }) = store.answer(&Fetch::Object(id))
        else {
            panic!("held")
        };
        let CustomerSlot {
            page: Some((page, _)),
            ..
        } = &store.customers[CUS]
        else {
            panic!("page")
        };
        for s in &page.data {
            let embedded = s.items.data[0].price.as_ref().unwrap();
            assert_eq!(embedded.nickname.as_deref(), Some("Renamed"));
            assert!(Arc::ptr_eq(embedded, &held));
        }
    }

    #[test]
    fn a_sweep_drops_what_a_pass_did_not_see_and_forget_marks_for_a_read() {
        let mut store = store_with_page(2, false);
        assert_eq!(
            store.sweep(1000),
            0,
            "read at 1000: seen by a pass that began then"
        );
        assert_eq!(store.sweep(1001), 1);
        assert_eq!(store.counts(), Counts::default());

        let mut store = store_with_page(2, false);
        assert!(store.forget(&[Tag::SubscriptionsOf(CUS.into())]));
        assert_eq!(page_ids(&store), None);
        let id = StripeId::parse(IdKind::Customer, CUS).unwrap();
        assert!(
            store.answer(&Fetch::Object(id.clone())).is_some(),
            "the customer is still held"
        );
        assert!(store.forget(&[Tag::Object(CUS.into())]));
        assert!(store.answer(&Fetch::Object(id)).is_none());
    }

    #[test]
    fn only_a_read_begun_after_an_object_was_marked_for_a_re_read_replaces_it() {
        let mut store = store_with_page(1, false);
        let before = store.marks();
        // An event inside the second the backfill read the customer in: marked.
        let tie = event(
            EventObject::Customer(customer()),
            "customer.updated",
            1000,
            "e1",
        );
        assert_eq!(store.apply_event(&tie).refetch.len(), 1);
        let id = StripeId::parse(IdKind::Customer, CUS).unwrap();
        let mut read = customer();
        read.name = Some("Read".into());
        let filled = Filled::one(Entry::Customer(Arc::new(read)));
        let version = Version::read(1000, 1001);
        store.join(
            &Fetch::Object(id.clone()),
            &filled,
            &version.clone().after(before),
        );
        assert!(
            store.answer(&Fetch::Object(id.clone())).is_none(),
            "a read in flight before the event is not taken"
        );
        store.join(
            &Fetch::Object(id.clone()),
            &filled,
            &version.after(store.marks()),
        );
        let Some(Filled {
            primary: Entry::Customer(held),
            ..
        }) = store.answer(&Fetch::Object(id))
        else {
            panic!("held")
        };
        assert_eq!(held.name.as_deref(), Some("Read"));
    }

    #[test]
    fn a_page_read_after_the_catalog_shares_its_equal_prices_at_once() {
        let mut store = MirrorStore::default();
        let held = Arc::new(decode::<Price>(price()).unwrap());
        store.join_price(held.clone(), &Version::read(900, 900));
        let data = vec![Arc::new(subscription("sub_a", "active", 10))];
        store.join_customer(
            CUS,
            Some(Arc::new(customer())),
            Some(Arc::new(List {
                data,
                has_more: false,
            })),
            &Version::read(1000, 1000),
        );
        let CustomerSlot {
            page: Some((page, _)),
            ..
        } = &store.customers[CUS]
        else {
            panic!("page")
        };
        let embedded = page.data[0].items.data[0].price.as_ref().unwrap();
        assert!(Arc::ptr_eq(embedded, &held), "one allocation for the price");
    }
}
