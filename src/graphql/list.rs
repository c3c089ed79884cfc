//! Stripe-shaped lists and cursor paging.
//!
//! Every list keeps Stripe's shape, `{ data, hasMore }`, and adds `nextCursor`: the id of the
//! last object when more exist, to pass back as `after:` for the next page (Stripe's
//! `starting_after`). `first:` is Stripe's `limit`: 1 to 100, default 10.

use std::sync::Arc;

use async_graphql::{OutputType, SimpleObject};

use super::error::{bad_input, GqlResult};
use crate::{
    ids::{IdKind, StripeId},
    stripe::{
        models::{Customer, List, Price, StripeObject, Subscription, SubscriptionItem},
        request::Page,
    },
};

/// Default page size, as Stripe's.
pub const DEFAULT_PAGE_SIZE: i32 = crate::stripe::request::DEFAULT_LIMIT as i32;
/// Largest page size Stripe accepts.
pub const MAX_PAGE_SIZE: i32 = 100;

/// A page of Stripe objects.
#[derive(SimpleObject)]
#[graphql(concrete(name = "StripeCustomerList", params(Customer)))]
#[graphql(concrete(name = "StripeSubscriptionList", params(Subscription)))]
#[graphql(concrete(name = "StripeSubscriptionItemList", params(SubscriptionItem)))]
#[graphql(concrete(name = "StripePriceList", params(Price)))]
pub struct StripeList<T: OutputType> {
    /// The objects on this page, in Stripe's order (newest first, except items).
    pub data: Vec<Arc<T>>,
    /// Whether more objects follow the last one on this page.
    pub has_more: bool,
    /// When `hasMore` is true: the id of the last object, to pass as `after` for the next
    /// page. Null otherwise.
    pub next_cursor: Option<String>,
}

impl<T: OutputType + StripeObject> StripeList<T> {
    /// A page holding `data`; the cursor is the last object's id when `has_more`.
    pub fn new(data: Vec<Arc<T>>, has_more: bool) -> Self {
        let next_cursor = if has_more {
            data.last().map(|last| last.id().to_owned())
        } else {
            None
        };
        StripeList {
            data,
            has_more,
            next_cursor,
        }
    }

    /// The GraphQL page of a Stripe page (the objects are shared, not copied).
    pub fn of(list: &List<T>) -> Self {
        StripeList::new(list.data.clone(), list.has_more)
    }
}

/// Validates `first`/`after` into a [`Page`]; `after` must be an id of the listed kind.
pub fn page(
    first: Option<i32>,
    after: Option<String>,
    kind: IdKind,
) -> async_graphql::Result<Page> {
    let limit = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(bad_input(format!(
            "`first` must be between 1 and {MAX_PAGE_SIZE}, got {limit}"
        )));
    }
    let after = after.map(|a| StripeId::parse(kind, &a)).transpose().gql()?;
    Ok(Page {
        limit: limit as u8,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_defaults_to_stripe_limit_and_validates_bounds() {
        assert_eq!(page(None, None, IdKind::Customer).unwrap().limit, 10);
        assert_eq!(page(Some(100), None, IdKind::Customer).unwrap().limit, 100);
        assert!(page(Some(0), None, IdKind::Customer).is_err());
        assert!(page(Some(101), None, IdKind::Customer).is_err());
        assert!(page(Some(-1), None, IdKind::Customer).is_err());
        assert!(page(None, Some("sub_1".into()), IdKind::Customer).is_err());
        assert_eq!(
            page(None, Some("cus_1".into()), IdKind::Customer)
                .unwrap()
                .after
                .unwrap()
                .as_str(),
            "cus_1"
        );
    }

    fn customer(id: &str) -> Arc<Customer> {
        Arc::new(serde_json::from_value(serde_json::json!({ "id": id })).unwrap())
    }

    #[test]
    fn next_cursor_is_the_last_id_only_when_more_exist() {
        let more = StripeList::new(vec![customer("cus_1"), customer("cus_9")], true);
        assert_eq!(more.next_cursor.as_deref(), Some("cus_9"));
        let done = StripeList::new(vec![customer("cus_9")], false);
        assert_eq!(done.next_cursor, None);
    }
}
