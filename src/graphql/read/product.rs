//! Products: `product(id:)` and the computed fields of `StripeProduct` (its plain fields are
//! the model's, [`Product`]).

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Object};

use crate::graphql::{cache, error::GqlResult};
use crate::{
    ids::{IdKind, StripeId},
    stripe::models::{Price, Product},
};

/// Root fields for products.
#[derive(Default)]
pub struct ProductQuery;

#[Object]
impl ProductQuery {
    /// The product with this id (`prod_…` or a custom id), or null if it does not exist or
    /// was deleted. One Stripe call when not cached.
    async fn product(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<Arc<Product>>> {
        product_by_id(ctx, Some(&id)).await
    }
}

/// Looks a product up through the cache; `None` id gives null.
pub(super) async fn product_by_id(
    ctx: &Context<'_>,
    id: Option<&str>,
) -> async_graphql::Result<Option<Arc<Product>>> {
    let Some(id) = id else { return Ok(None) };
    let id = StripeId::parse(IdKind::Product, id).gql()?;
    cache(ctx)?.object(&id).await.gql()
}

#[ComplexObject]
impl Product {
    /// The default price, or null. One Stripe call when not cached.
    #[graphql(name = "defaultPrice")]
    async fn default_price_object(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Arc<Price>>> {
        let Some(id) = self.default_price.as_deref() else {
            return Ok(None);
        };
        let id = StripeId::parse(IdKind::Price, id).gql()?;
        cache(ctx)?.object(&id).await.gql()
    }
}
