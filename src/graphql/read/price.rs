//! Prices and plans: `price(id:)`, `prices(...)`, `plan(id:)`, and the computed fields of
//! `StripePrice` and `StripePlan` (their plain fields, and `StripePriceRecurring`, are the
//! models' own: [`Price`], [`Plan`], [`crate::stripe::models::Recurring`]).

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Object};

use crate::graphql::{
    cache,
    error::GqlResult,
    list::{page, StripeList},
    read::product::product_by_id,
    scope,
};
use crate::{
    ids::{IdKind, StripeId},
    stripe::{
        models::{Plan, Price, Product},
        request::ListRequest,
    },
};

/// Root fields for prices and plans.
#[derive(Default)]
pub struct PriceQuery;

#[Object]
impl PriceQuery {
    /// The price with this id, or null if it does not exist or was deleted. One Stripe call
    /// when not cached.
    async fn price(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<Arc<Price>>> {
        let id = StripeId::parse(IdKind::Price, &id).gql()?;
        cache(ctx)?.object(&id).await.gql()
    }

    /// Prices, newest first (`GET /v1/prices`), optionally filtered by product and by
    /// `active`. `first` is the page size (1–100, default 10); `after` is the previous
    /// page's `nextCursor`. Refused (`FORBIDDEN`) to a Hasura role outside
    /// `HASURA_TRUSTED_ROLES`, like every list root field; single prices, plans and products
    /// stay readable.
    async fn prices(
        &self,
        ctx: &Context<'_>,
        product: Option<String>,
        active: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<StripeList<Price>>> {
        scope::refuse_list_to_scoped(ctx, "prices")?;
        let product = product
            .map(|p| StripeId::parse(IdKind::Product, &p))
            .transpose()
            .gql()?;
        let page = page(first, after, IdKind::Price)?;
        let request = ListRequest::prices(product.as_ref(), active, &page);
        let list = cache(ctx)?.list(&request).await.gql()?;
        Ok(Some(StripeList::of(&list)))
    }

    /// The plan with this id (the legacy view of a recurring price; plan ids are often
    /// `price_…` ids), or null if it does not exist or was deleted.
    async fn plan(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<Arc<Plan>>> {
        let id = StripeId::parse(IdKind::Plan, &id).gql()?;
        cache(ctx)?.object(&id).await.gql()
    }
}

#[ComplexObject]
impl Price {
    /// The product, or null if it was deleted. One Stripe call when not cached.
    #[graphql(name = "product")]
    async fn product_object(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Arc<Product>>> {
        product_by_id(ctx, self.product.as_deref()).await
    }
}

#[ComplexObject]
impl Plan {
    /// The product, or null if it was deleted. One Stripe call when not cached.
    #[graphql(name = "product")]
    async fn product_object(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Arc<Product>>> {
        product_by_id(ctx, self.product.as_deref()).await
    }
}
