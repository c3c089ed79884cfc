//! The seam below the in-process level: where a miss is answered.
//!
//! The in-process level ([`super::memory`]) asks a [`Source`] for every [`Fetch`] it cannot
//! serve, one call per key at a time (the coalescing is above, in [`super::StripeCache`]), and
//! tells it of every invalidation after applying its own. Stripe itself is a source
//! ([`StripeSource`]); the level several replicas share ([`super::shared::SharedSource`],
//! with `REDIS_URL`) is one too, over it: it answers from what it keeps (with the answer's
//! [`Filled::age`], so freshness holds across levels), asks the source below it otherwise,
//! and spreads invalidations to the other replicas, whose in-process levels it tells through
//! the sink it is given ([`Source::attach`]). The mirror of Stripe
//! ([`crate::mirror::MirrorSource`], with `STRIPE_MIRROR=on`) is one more, over those: it
//! answers from what it holds and is told of writes ([`Source::wrote`]).

use std::sync::Arc;

use futures::{future::BoxFuture, FutureExt};

use super::{
    key::{customer_with_subscriptions, Entry, Fetch, Filled},
    tags::Tag,
};
use crate::{
    ids::{IdKind, StripeId},
    stripe::{
        models::{Customer, Plan, Price, Product, Subscription, SubscriptionItem},
        request::ListQuery,
        StripeClient, StripeError,
    },
};

/// What a source tells the in-process level: invalidations made elsewhere (another
/// replica's webhook or write).
pub enum Remote<'a> {
    /// Everything holding one of these tags is stale.
    Tags(&'a [Tag]),
    /// Everything is stale (invalidations may have been missed).
    All,
}

/// Where a source sends [`Remote`] invalidations.
pub type RemoteSink = Arc<dyn Fn(Remote<'_>) + Send + Sync>;

/// What a write changed, told to the levels below once Stripe confirmed it (a mirror holds
/// it at once instead of waiting for the webhook).
#[derive(Clone, Copy)]
pub enum Wrote<'a> {
    /// Stripe's answer: the object after the change.
    Object(&'a Entry),
    /// Stripe's answer to a create (`POST /v1/<collection>`): the object as created, or, for
    /// a create replayed under an earlier idempotency key, as it was then.
    Created(&'a Entry),
    /// The customer was deleted (and its subscriptions canceled with it).
    DeletedCustomer(&'a StripeId),
}

/// Where the in-process level's misses are answered.
pub trait Source: Send + Sync + 'static {
    /// Answers one fetch. "Does not exist" (404, or a deleted object) is an answer for an
    /// object ([`Entry::Missing`]) and an error for a list page (what it means depends on
    /// the list: [`super::StripeCache::subscriptions`]).
    fn fetch(&self, fetch: Fetch) -> BoxFuture<'static, Result<Filled, StripeError>>;

    /// Told of every invalidation, after the in-process level applied it; done when the
    /// source applied it too.
    fn invalidated(&self, _tags: &[Tag]) -> BoxFuture<'static, ()> {
        futures::future::ready(()).boxed()
    }

    /// Given, once, the sink for invalidations made elsewhere.
    fn attach(&self, _sink: RemoteSink) {}

    /// Told of a write Stripe confirmed, sent between the Unix seconds `from` and `to`,
    /// after the invalidation of what it touched.
    fn wrote(&self, _wrote: Wrote<'_>, _from: i64, _to: i64) {}
}

/// Stripe itself, through the client (which paces, bounds and retries every call).
pub struct StripeSource {
    client: StripeClient,
}

impl StripeSource {
    /// Answers misses with calls through `client`.
    pub fn shared(client: StripeClient) -> Arc<dyn Source> {
        Arc::new(StripeSource { client })
    }
}

impl Source for StripeSource {
    fn fetch(&self, fetch: Fetch) -> BoxFuture<'static, Result<Filled, StripeError>> {
        let client = self.client.clone();
        async move {
            let found = match fetch {
                Fetch::Object(id) => {
                    let object = match id.kind() {
                        IdKind::Customer => client
                            .retrieve::<Customer>(&id)
                            .await
                            .map(|o| Entry::Customer(Arc::new(o))),
                        IdKind::Subscription => client
                            .retrieve::<Subscription>(&id)
                            .await
                            .map(|o| Entry::Subscription(Arc::new(o))),
                        IdKind::Price => client
                            .retrieve::<Price>(&id)
                            .await
                            .map(|o| Entry::Price(Arc::new(o))),
                        IdKind::Plan => client
                            .retrieve::<Plan>(&id)
                            .await
                            .map(|o| Entry::Plan(Arc::new(o))),
                        IdKind::Product => client
                            .retrieve::<Product>(&id)
                            .await
                            .map(|o| Entry::Product(Arc::new(o))),
                        // Items are cached as their subscription's lists, never by id.
                        IdKind::SubscriptionItem => {
                            Err(StripeError::BadResponse { request_id: None })
                        }
                    };
                    object.map(Filled::one)
                }
                Fetch::CustomerWithSubscriptions(id) => client
                    .retrieve_customer_with_subscriptions(&id)
                    .await
                    .map(|(customer, page)| customer_with_subscriptions(&id, customer, page)),
                Fetch::List(query) => return list(&client, &query).await,
            };
            match found {
                Err(StripeError::NotFound { .. } | StripeError::Deleted) => {
                    Ok(Filled::one(Entry::Missing))
                }
                other => other,
            }
        }
        .boxed()
    }
}

/// One list page, by its collection.
async fn list(client: &StripeClient, query: &ListQuery) -> Result<Filled, StripeError> {
    Ok(match query.collection() {
        "customers" => Filled::page(client.list_query::<Customer>(query).await?),
        "subscriptions" => Filled::page(client.list_query::<Subscription>(query).await?),
        "prices" => Filled::page(client.list_query::<Price>(query).await?),
        "subscription_items" => Filled::page(client.list_query::<SubscriptionItem>(query).await?),
        // Every ListQuery is built by a typed ListRequest constructor of these collections.
        _ => return Err(StripeError::BadResponse { request_id: None }),
    })
}
