//! Products: `product(id:)` and `StripeProduct`.

use std::sync::Arc;

use async_graphql::{Context, Json, Object};

use super::{cache, error::GqlResult, price::StripePrice};
use crate::{
    ids::{IdKind, StripeId},
    stripe::models::{Metadata, Product},
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
    ) -> async_graphql::Result<Option<StripeProduct>> {
        product_by_id(ctx, Some(&id)).await
    }
}

/// Looks a product up through the cache; `None` id gives null.
pub(super) async fn product_by_id(
    ctx: &Context<'_>,
    id: Option<&str>,
) -> async_graphql::Result<Option<StripeProduct>> {
    let Some(id) = id else { return Ok(None) };
    let id = StripeId::parse(IdKind::Product, id).gql()?;
    Ok(cache(ctx)?.product(&id).await.gql()?.map(StripeProduct))
}

/// A Stripe product (`prod_…`): what is sold.
pub struct StripeProduct(pub Arc<Product>);

#[Object]
impl StripeProduct {
    /// Unique identifier.
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// Name shown to customers.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether the product can be purchased.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// Description shown to customers.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Image URLs.
    async fn images(&self) -> &[String] {
        &self.0.images
    }

    /// Id of the default price.
    async fn default_price_id(&self) -> Option<&str> {
        self.0.default_price.as_deref()
    }

    /// The default price, or null. One Stripe call when not cached.
    async fn default_price(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StripePrice>> {
        let Some(id) = self.0.default_price.as_deref() else {
            return Ok(None);
        };
        let id = StripeId::parse(IdKind::Price, id).gql()?;
        Ok(super::cache(ctx)?.price(&id).await.gql()?.map(StripePrice))
    }

    /// Whether the product is shipped (physical goods).
    async fn shippable(&self) -> Option<bool> {
        self.0.shippable
    }

    /// Statement descriptor.
    async fn statement_descriptor(&self) -> Option<&str> {
        self.0.statement_descriptor.as_deref()
    }

    /// `good` or `service` (older API versions).
    #[graphql(name = "type")]
    async fn kind(&self) -> Option<&str> {
        self.0.kind.as_deref()
    }

    /// Unit label shown on receipts and invoices, e.g. `seat`.
    async fn unit_label(&self) -> Option<&str> {
        self.0.unit_label.as_deref()
    }

    /// Public URL of the product.
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }

    /// Creation time.
    async fn created(&self) -> super::scalars::UnixTimestamp {
        super::scalars::UnixTimestamp(self.0.created)
    }

    /// Last update.
    async fn updated(&self) -> Option<super::scalars::UnixTimestamp> {
        super::scalars::ts(self.0.updated)
    }

    /// True in live mode, false in test mode.
    async fn livemode(&self) -> bool {
        self.0.livemode
    }

    /// Key/value metadata, as a JSON object (`{}` when empty).
    async fn metadata(&self) -> Json<&Metadata> {
        Json(&self.0.metadata)
    }
}
