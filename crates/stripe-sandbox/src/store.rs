//! The sandbox's state: the Stripe objects it holds, the operations that change them, and
//! the events recorded for every change ([`Store::record`]: what `GET /v1/events` lists and
//! webhooks deliver).
//!
//! Objects are kept as JSON, whole and as given (see [`super::fixtures`] for builders), one
//! map per object type keyed by id. Plans are not stored: a recurring price is also a plan,
//! and its plan view is derived when read. How objects are answered over HTTP (lists,
//! cursors, errors) is the routes' business, not the store's.
//!
//! Two derived indexes make lists of a large store cheap ([`Store::customers_newest_first`],
//! [`Store::subscriptions_of`]): each is built when first asked for and dropped by every
//! change that could alter it, so it never answers anything the maps themselves would not.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, OnceLock},
};

use serde_json::{json, Value};

use super::{events::Change, fixtures::plan_view, fixtures::API_VERSION};

/// How long Stripe keeps events listable (`GET /v1/events`): 30 days.
pub const EVENT_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// The objects the sandbox serves: customers, subscriptions, prices and products.
#[derive(Debug, Clone, Default)]
pub struct Store {
    customers: BTreeMap<String, Value>,
    subscriptions: BTreeMap<String, Value>,
    prices: BTreeMap<String, Value>,
    products: BTreeMap<String, Value>,
    /// The last number [`Store::new_id`] used.
    last_id: u64,
    /// Every event recorded, oldest first.
    events: Vec<Value>,
    /// The number of the last event recorded.
    last_event: u64,
    /// Derived from `customers`: see [`Store::customers_newest_first`].
    customer_order: OnceLock<Arc<CustomerOrder>>,
    /// Derived from `subscriptions`: see [`Store::subscriptions_of`].
    subscriptions_by_customer: OnceLock<Arc<HashMap<String, Vec<String>>>>,
}

/// Every stored customer (deleted stubs included) in the order lists answer them: newest
/// `created` first, ties by id descending (as [`crate::params::newest_first`] sorts).
#[derive(Debug, Default)]
pub(crate) struct CustomerOrder {
    /// The customers' keys in the store, in list order.
    pub(crate) keys: Vec<String>,
    /// Where each customer (by its `id` field) first is in `keys`: a cursor's place.
    pub(crate) position: HashMap<String, usize>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// Adds or replaces an object, routed by its `object` field (`customer`, `subscription`,
    /// `price`, `product`). Panics on any other object type: callers are tests and demo
    /// data, where that is a programming error.
    pub fn put(&mut self, object: Value) {
        let id = object["id"].as_str().expect("object has an id").to_owned();
        let kind = object["object"].as_str().map(str::to_owned);
        let Some(map) = kind.as_deref().and_then(|kind| self.map_mut(kind)) else {
            panic!("the sandbox stores customers, subscriptions, prices and products, not {kind:?}")
        };
        map.insert(id, object);
        self.changed(kind.as_deref().unwrap_or_default());
    }

    /// Drops the indexes a change to objects of type `object` could alter.
    fn changed(&mut self, object: &str) {
        match object {
            "customer" => self.customer_order = OnceLock::new(),
            "subscription" => self.subscriptions_by_customer = OnceLock::new(),
            _ => {}
        }
    }

    /// Every stored customer (deleted stubs included) in list order, newest first: the same
    /// order as [`crate::params::newest_first`] gives them, kept until a customer changes.
    pub(crate) fn customers_newest_first(&self) -> Arc<CustomerOrder> {
        self.customer_order
            .get_or_init(|| {
                // In key order, then a stable sort by the same key as `newest_first`: ties
                // keep the same order as there.
                let mut rows: Vec<(&String, &Value)> = self.customers.iter().collect();
                rows.sort_by_cached_key(|(_, v)| {
                    std::cmp::Reverse((
                        v["created"].as_i64().unwrap_or(0),
                        v["id"].as_str().unwrap_or("").to_owned(),
                    ))
                });
                let mut position = HashMap::with_capacity(rows.len());
                for (i, (_, v)) in rows.iter().enumerate() {
                    position
                        .entry(v["id"].as_str().unwrap_or("").to_owned())
                        .or_insert(i);
                }
                Arc::new(CustomerOrder {
                    keys: rows.into_iter().map(|(k, _)| k.clone()).collect(),
                    position,
                })
            })
            .clone()
    }

    /// The stored subscriptions whose `customer` is `customer`, in id order (the order
    /// [`Store::objects`] gives them in), from an index kept until a subscription changes.
    pub(crate) fn subscriptions_of<'a>(
        &'a self,
        customer: &str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        let index = self.subscriptions_by_customer.get_or_init(|| {
            let mut index: HashMap<String, Vec<String>> = HashMap::new();
            for (key, sub) in &self.subscriptions {
                if let Some(customer) = sub["customer"].as_str() {
                    index
                        .entry(customer.to_owned())
                        .or_default()
                        .push(key.clone());
                }
            }
            Arc::new(index)
        });
        index
            .get(customer)
            .into_iter()
            .flatten()
            .filter_map(|key| self.subscriptions.get(key))
    }

    /// The stored JSON of an object, as kept (deleted customers are stubs). `None` for an
    /// unknown id or object type.
    pub fn get(&self, object: &str, id: &str) -> Option<&Value> {
        self.map(object)?.get(id)
    }

    /// Every stored object of one type (deleted customers included), in id order; nothing for
    /// an object type the store does not keep.
    pub fn objects(&self, object: &str) -> impl Iterator<Item = &Value> {
        self.map(object).into_iter().flat_map(BTreeMap::values)
    }

    /// Changes a stored object in place; returns false if it does not exist. A changed price
    /// also replaces its copies embedded in subscription items (`price`, and the `plan` view
    /// of it), as Stripe answers them.
    pub fn update(&mut self, object: &str, id: &str, change: impl FnOnce(&mut Value)) -> bool {
        let Some(value) = self.map_mut(object).and_then(|m| m.get_mut(id)) else {
            return false;
        };
        change(value);
        let price = (object == "price").then(|| value.clone());
        self.changed(object);
        if let Some(price) = price {
            // Items' prices change, never a subscription's `customer`: the index stands.
            self.refresh_embedded_price(&price);
        }
        true
    }

    /// Replaces every subscription item's copy of `price` (matched by id) with it.
    fn refresh_embedded_price(&mut self, price: &Value) {
        for sub in self.subscriptions.values_mut() {
            let Some(items) = sub["items"]["data"].as_array_mut() else {
                continue;
            };
            for item in items.iter_mut().filter(|i| i["price"]["id"] == price["id"]) {
                item["price"] = price.clone();
                item["plan"] = plan_view(price);
            }
        }
    }

    /// Deletes a customer as Stripe does: the customer becomes a deleted stub
    /// (`{"id", "object": "customer", "deleted": true}`) and its live subscriptions are
    /// canceled at `now` (Unix seconds). Returns false if there is no such customer.
    pub fn delete_customer(&mut self, id: &str, now: i64) -> bool {
        if !self.customers.contains_key(id) {
            return false;
        }
        self.customers.insert(
            id.to_owned(),
            json!({"id": id, "object": "customer", "deleted": true}),
        );
        // The stub has no `created`: its place in the order changes. Its subscriptions keep
        // their `customer`, so the index by customer stands (their status is read per list).
        self.changed("customer");
        for sub in self.subscriptions.values_mut() {
            let live = !matches!(
                sub["status"].as_str(),
                Some("canceled" | "incomplete_expired")
            );
            if sub["customer"] == json!(id) && live {
                sub["status"] = json!("canceled");
                sub["canceled_at"] = json!(now);
                sub["ended_at"] = json!(now);
            }
        }
        true
    }

    /// A new id with `prefix` (`cus`, `sub`, `si`): `<prefix>_Sbx` and a number that grows
    /// with each call, skipping ids already stored (as customers, subscriptions or items).
    pub fn new_id(&mut self, prefix: &str) -> String {
        loop {
            self.last_id += 1;
            let id = format!("{prefix}_Sbx{:08}", self.last_id);
            let taken = self.customers.contains_key(&id)
                || self.subscriptions.contains_key(&id)
                || self.subscriptions.values().any(|s| {
                    s["items"]["data"]
                        .as_array()
                        .is_some_and(|items| items.iter().any(|i| i["id"] == json!(id)))
                });
            if !taken {
                return id;
            }
        }
    }

    /// Moves a subscription to `status` and nothing else, as Stripe does on its own: e.g.
    /// `paused` (a trial ended without a payment method, with
    /// `trial_settings.end_behavior.missing_payment_method = pause`), `past_due` (a renewal
    /// failed), `unpaid`, `incomplete_expired`. Returns false if there is no such subscription.
    /// For the `customer.subscription.updated` event too, use `Sandbox::update` with the same
    /// change.
    pub fn set_subscription_status(&mut self, id: &str, status: &str) -> bool {
        self.update("subscription", id, |s| s["status"] = json!(status))
    }

    /// Records the event Stripe makes for `change`, created at `now` (Unix seconds), with the
    /// next id (`evt_sandbox000001`, …: ids grow with time, so newest first is also highest id
    /// first), naming the request and its `Idempotency-Key` (none for changes made outside a
    /// request); returns it. Every change the sandbox makes is recorded, delivered or not.
    pub fn record(
        &mut self,
        change: Change,
        request_id: Option<&str>,
        idempotency_key: Option<&str>,
        now: i64,
    ) -> Value {
        self.last_event += 1;
        let mut data = json!({ "object": change.object });
        if let Some(previous) = change.previous_attributes {
            data["previous_attributes"] = previous;
        }
        let event = json!({
            "id": format!("evt_sandbox{:06}", self.last_event),
            "object": "event",
            "api_version": API_VERSION,
            "created": now,
            "data": data,
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": request_id, "idempotency_key": idempotency_key },
            "type": change.event_type,
        });
        self.events.push(event.clone());
        event
    }

    /// The events recorded, oldest first, those older than the retention included.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// Drops every event created before `t` (Unix seconds), as Stripe forgets events after
    /// 30 days: a cursor naming one of them is then unknown.
    pub fn forget_events_before(&mut self, t: i64) {
        self.events
            .retain(|e| e["created"].as_i64().is_some_and(|c| c >= t));
    }

    fn map(&self, object: &str) -> Option<&BTreeMap<String, Value>> {
        Some(match object {
            "customer" => &self.customers,
            "subscription" => &self.subscriptions,
            "price" => &self.prices,
            "product" => &self.products,
            _ => return None,
        })
    }

    fn map_mut(&mut self, object: &str) -> Option<&mut BTreeMap<String, Value>> {
        Some(match object {
            "customer" => &mut self.customers,
            "subscription" => &mut self.subscriptions,
            "price" => &mut self.prices,
            "product" => &mut self.products,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{customer, price, subscription, ItemSpec};

    fn subscribed(store: &mut Store, id: &str, customer: &str, status: &str) {
        let price = price("price_1", "prod_1", "x", "100", None, 1);
        let items = [ItemSpec {
            id: "si_1",
            price: &price,
            quantity: Some(1),
        }];
        store.put(subscription(id, customer, status, &items, (1, 2), 1));
    }

    #[test]
    fn put_files_objects_by_type_and_replaces_by_id() {
        let mut store = Store::new();
        store.put(customer("cus_1", "Old", "a@example.com", 1));
        store.put(customer("cus_1", "New", "a@example.com", 1));
        assert_eq!(
            store.get("customer", "cus_1").unwrap()["name"],
            json!("New")
        );
        assert_eq!(store.objects("customer").count(), 1);
        assert_eq!(store.get("price", "cus_1"), None);
        assert_eq!(store.objects("plan").count(), 0);
    }

    #[test]
    #[should_panic(expected = "not Some(\"invoice\")")]
    fn put_refuses_an_object_type_the_store_does_not_keep() {
        Store::new().put(json!({"id": "in_1", "object": "invoice"}));
    }

    #[test]
    fn update_changes_an_object_in_place_and_reports_a_missing_one() {
        let mut store = Store::new();
        store.put(customer("cus_1", "N", "a@example.com", 1));
        assert!(store.update("customer", "cus_1", |c| c["name"] = json!("M")));
        assert_eq!(store.get("customer", "cus_1").unwrap()["name"], json!("M"));
        assert!(!store.update("customer", "cus_2", |_| panic!("not called")));
    }

    #[test]
    fn a_changed_price_shows_in_the_subscription_items_that_embed_it() {
        let mut store = Store::new();
        subscribed(&mut store, "sub_1", "cus_1", "active");
        store.put(price("price_1", "prod_1", "x", "100", None, 1));

        assert!(store.update("price", "price_1", |p| p["nickname"] = json!("renamed")));

        let item = &store.get("subscription", "sub_1").unwrap()["items"]["data"][0];
        assert_eq!(item["price"]["nickname"], json!("renamed"));
        assert_eq!(item["plan"]["nickname"], json!("renamed"));
        assert_eq!(item["price"], *store.get("price", "price_1").unwrap());
    }

    #[test]
    fn deleting_a_customer_leaves_a_stub_and_cancels_its_live_subscriptions() {
        let mut store = Store::new();
        store.put(customer("cus_1", "N", "a@example.com", 1));
        subscribed(&mut store, "sub_live", "cus_1", "active");
        subscribed(&mut store, "sub_expired", "cus_1", "incomplete_expired");
        subscribed(&mut store, "sub_other", "cus_2", "active");

        assert!(store.delete_customer("cus_1", 99));

        assert_eq!(
            store.get("customer", "cus_1"),
            Some(&json!({"id": "cus_1", "object": "customer", "deleted": true}))
        );
        let live = store.get("subscription", "sub_live").unwrap();
        assert_eq!(live["status"], json!("canceled"));
        assert_eq!(live["canceled_at"], json!(99));
        assert_eq!(live["ended_at"], json!(99));
        let expired = store.get("subscription", "sub_expired").unwrap();
        assert_eq!(expired["status"], json!("incomplete_expired"));
        assert_eq!(expired["canceled_at"], Value::Null);
        let other = store.get("subscription", "sub_other").unwrap();
        assert_eq!(other["status"], json!("active"));
    }

    #[test]
    fn new_ids_are_distinct_and_skip_stored_ones() {
        let mut store = Store::new();
        store.put(customer("cus_Sbx00000001", "N", "a@example.com", 1));
        subscribed(&mut store, "sub_1", "cus_1", "active");
        store.update("subscription", "sub_1", |s| {
            s["items"]["data"][0]["id"] = json!("si_Sbx00000002")
        });
        assert_eq!(store.new_id("cus"), "cus_Sbx00000002");
        assert_eq!(store.new_id("si"), "si_Sbx00000003");
        assert_eq!(store.new_id("sub"), "sub_Sbx00000004");
    }

    #[test]
    fn a_subscription_status_can_be_moved_as_stripe_moves_it() {
        let mut store = Store::new();
        subscribed(&mut store, "sub_1", "cus_1", "trialing");
        assert!(store.set_subscription_status("sub_1", "paused"));
        assert_eq!(
            store.get("subscription", "sub_1").unwrap()["status"],
            json!("paused")
        );
        assert!(store.set_subscription_status("sub_1", "past_due"));
        assert!(!store.set_subscription_status("sub_nope", "paused"));
    }

    #[test]
    fn deleting_a_customer_that_does_not_exist_changes_nothing() {
        let mut store = Store::new();
        assert!(!store.delete_customer("cus_nope", 99));
        assert_eq!(store.objects("customer").count(), 0);
    }
}
