//! Invalidation tags: what each cache entry holds ([`tags_of`]), and what each change makes
//! stale ([`Tag::of_customer_change`], [`Tag::of_subscription_change`], used by webhooks and
//! by the write-through alike).

use super::key::{CachedObject, Entry, Key};
use crate::{
    ids::IdKind,
    stripe::models::{Customer, Subscription},
};

/// What a cache entry holds, for invalidation: a webhook event names the tags its object
/// makes stale ([`super::StripeCache::invalidate`]).
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

/// An object a write answers with, which the cache writes through: its kind, and what its
/// change makes stale.
pub trait Written: CachedObject {
    /// The kind of its id.
    const KIND: IdKind;
    /// What the change that produced it makes stale.
    fn change_tags(&self) -> Vec<Tag>;
}

impl Written for Customer {
    const KIND: IdKind = IdKind::Customer;
    fn change_tags(&self) -> Vec<Tag> {
        Tag::of_customer_change(&self.id, false)
    }
}

impl Written for Subscription {
    const KIND: IdKind = IdKind::Subscription;
    fn change_tags(&self) -> Vec<Tag> {
        Tag::of_subscription_change(&self.id, &self.customer)
    }
}

/// What an entry holds, as invalidation tags: the objects in it (a subscription also holds
/// its items' prices and plans), and for a list page, the set it is a page of.
pub fn tags_of(key: &Key, entry: &Entry) -> Box<[Tag]> {
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
