//! Prices and plans: `price(id:)`, `prices(...)`, `plan(id:)`, `StripePrice`, `StripePlan`.

use std::sync::Arc;

use async_graphql::{Context, Json, Object, SimpleObject};

use super::{
    cache,
    error::GqlResult,
    list::{page, StripeList},
    product::{product_by_id, StripeProduct},
    scalars::{StripeAmount, StripeCount, UnixTimestamp},
};
use crate::{
    ids::{IdKind, StripeId},
    stripe::models::{Metadata, Plan, Price, Recurring},
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
    ) -> async_graphql::Result<Option<StripePrice>> {
        let id = StripeId::parse(IdKind::Price, &id).gql()?;
        Ok(cache(ctx)?.price(&id).await.gql()?.map(StripePrice))
    }

    /// Prices, newest first (`GET /v1/prices`), optionally filtered by product and by
    /// `active`. `first` is the page size (1–100, default 10); `after` is the previous
    /// page's `nextCursor`.
    async fn prices(
        &self,
        ctx: &Context<'_>,
        product: Option<String>,
        active: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<StripeList<StripePrice>>> {
        let product = product
            .map(|p| StripeId::parse(IdKind::Product, &p))
            .transpose()
            .gql()?;
        let page = page(first, after, IdKind::Price)?;
        let list = cache(ctx)?
            .prices(product.as_ref(), active, &page)
            .await
            .gql()?;
        Ok(Some(StripeList::new(
            list.data.iter().cloned().map(StripePrice).collect(),
            list.has_more,
            list.data.last().map(|p| p.id.as_str()),
        )))
    }

    /// The plan with this id (the legacy view of a recurring price; plan ids are often
    /// `price_…` ids), or null if it does not exist or was deleted.
    async fn plan(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<StripePlan>> {
        let id = StripeId::parse(IdKind::Plan, &id).gql()?;
        Ok(cache(ctx)?.plan(&id).await.gql()?.map(StripePlan))
    }
}

/// How a recurring price bills.
#[derive(SimpleObject)]
pub struct StripePriceRecurring {
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    /// Number of intervals between billings (3 with `month` bills quarterly).
    pub interval_count: StripeCount,
    /// `licensed` (billed by quantity) or `metered` (billed by usage).
    pub usage_type: String,
    /// Billing meter id, for metered prices.
    pub meter: Option<String>,
    /// Default trial length in days for subscriptions to this price.
    pub trial_period_days: Option<StripeCount>,
    /// How metered usage was aggregated: `sum`, `last_during_period`, `last_ever` or `max`.
    /// Stripe removed this field in API version 2025-03-31.basil along with legacy usage
    /// records; it is null on that version and later and kept so older queries still run.
    #[graphql(
        deprecation = "Removed by Stripe in API version 2025-03-31.basil; always null on later versions."
    )]
    pub aggregate_usage: Option<String>,
}

impl From<&Recurring> for StripePriceRecurring {
    fn from(r: &Recurring) -> Self {
        StripePriceRecurring {
            interval: r.interval.clone(),
            interval_count: StripeCount(r.interval_count),
            usage_type: r.usage_type.clone(),
            meter: r.meter.clone(),
            trial_period_days: r.trial_period_days.map(StripeCount),
            aggregate_usage: r.aggregate_usage.clone(),
        }
    }
}

/// A Stripe price (`price_…`): how much and how often to charge for a product.
pub struct StripePrice(pub Arc<Price>);

#[Object]
impl StripePrice {
    /// Unique identifier.
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// Whether the price can be used for new purchases.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// Brief description, hidden from customers.
    async fn nickname(&self) -> Option<&str> {
        self.0.nickname.as_deref()
    }

    /// Lookup key, to retrieve prices dynamically from a static string.
    async fn lookup_key(&self) -> Option<&str> {
        self.0.lookup_key.as_deref()
    }

    /// Three-letter ISO currency code, lowercase.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// Unit amount in the smallest currency unit. Null for tiered prices and for amounts
    /// with fractions of the smallest unit (see `unitAmountDecimal`).
    async fn unit_amount(&self) -> Option<StripeAmount> {
        self.0.unit_amount.map(StripeAmount)
    }

    /// Unit amount in the smallest currency unit as an exact decimal string with up to 12
    /// decimal places, e.g. `"2000"` or `"0.5"`.
    async fn unit_amount_decimal(&self) -> Option<&str> {
        self.0.unit_amount_decimal.as_deref()
    }

    /// `per_unit` or `tiered`.
    async fn billing_scheme(&self) -> Option<&str> {
        self.0.billing_scheme.as_deref()
    }

    /// `graduated` or `volume`, for tiered prices.
    async fn tiers_mode(&self) -> Option<&str> {
        self.0.tiers_mode.as_deref()
    }

    /// `one_time` or `recurring`.
    #[graphql(name = "type")]
    async fn kind(&self) -> Option<&str> {
        self.0.kind.as_deref()
    }

    /// Recurring components; null for one-time prices.
    async fn recurring(&self) -> Option<StripePriceRecurring> {
        self.0.recurring.as_ref().map(StripePriceRecurring::from)
    }

    /// `exclusive`, `inclusive` or `unspecified`.
    async fn tax_behavior(&self) -> Option<&str> {
        self.0.tax_behavior.as_deref()
    }

    /// Id of the product this price is for.
    async fn product_id(&self) -> Option<&str> {
        self.0.product.as_deref()
    }

    /// The product, or null if it was deleted. One Stripe call when not cached.
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StripeProduct>> {
        product_by_id(ctx, self.0.product.as_deref()).await
    }

    /// Creation time.
    async fn created(&self) -> UnixTimestamp {
        UnixTimestamp(self.0.created)
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

/// A Stripe plan: the legacy view of a recurring price, kept by Stripe for compatibility.
pub struct StripePlan(pub Arc<Plan>);

#[Object]
impl StripePlan {
    /// Unique identifier (often the `price_…` id of the same price).
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// Whether the plan can be used for new purchases.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// Brief description, hidden from customers.
    async fn nickname(&self) -> Option<&str> {
        self.0.nickname.as_deref()
    }

    /// Amount in the smallest currency unit per period; null for tiered plans.
    async fn amount(&self) -> Option<StripeAmount> {
        self.0.amount.map(StripeAmount)
    }

    /// Amount as an exact decimal string with up to 12 decimal places.
    async fn amount_decimal(&self) -> Option<&str> {
        self.0.amount_decimal.as_deref()
    }

    /// Three-letter ISO currency code, lowercase.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// `day`, `week`, `month` or `year`.
    async fn interval(&self) -> &str {
        &self.0.interval
    }

    /// Number of intervals between billings.
    async fn interval_count(&self) -> StripeCount {
        StripeCount(self.0.interval_count)
    }

    /// `licensed` or `metered`.
    async fn usage_type(&self) -> &str {
        &self.0.usage_type
    }

    /// How metered usage was aggregated. Removed by Stripe in API version 2025-03-31.basil;
    /// null on that version and later.
    #[graphql(
        deprecation = "Removed by Stripe in API version 2025-03-31.basil; always null on later versions."
    )]
    async fn aggregate_usage(&self) -> Option<&str> {
        self.0.aggregate_usage.as_deref()
    }

    /// `per_unit` or `tiered`.
    async fn billing_scheme(&self) -> Option<&str> {
        self.0.billing_scheme.as_deref()
    }

    /// `graduated` or `volume`, for tiered plans.
    async fn tiers_mode(&self) -> Option<&str> {
        self.0.tiers_mode.as_deref()
    }

    /// Billing meter id, for metered plans.
    async fn meter(&self) -> Option<&str> {
        self.0.meter.as_deref()
    }

    /// Default trial length in days.
    async fn trial_period_days(&self) -> Option<StripeCount> {
        self.0.trial_period_days.map(StripeCount)
    }

    /// Id of the product this plan is for.
    async fn product_id(&self) -> Option<&str> {
        self.0.product.as_deref()
    }

    /// The product, or null if it was deleted. One Stripe call when not cached.
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StripeProduct>> {
        product_by_id(ctx, self.0.product.as_deref()).await
    }

    /// Creation time.
    async fn created(&self) -> UnixTimestamp {
        UnixTimestamp(self.0.created)
    }

    /// True in live mode, false in test mode.
    async fn livemode(&self) -> bool {
        self.0.livemode
    }

    /// Key/value metadata, as a JSON object (`{}` when empty, including when Stripe sends
    /// null, which it may for plans).
    async fn metadata(&self) -> Json<&Metadata> {
        Json(&self.0.metadata)
    }
}
