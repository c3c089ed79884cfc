//! Customers: `customer(id:)`, `customers(...)`, and `StripeCustomer`.

use std::sync::Arc;

use async_graphql::{Context, Json, Object, SimpleObject};

use super::{
    cache,
    error::{bad_input, GqlResult},
    list::{page, StripeList},
    scalars::{StripeAmount, UnixTimestamp},
    subscription::{StripeSubscription, StripeSubscriptionStatusFilter},
};
use crate::{
    ids::{IdKind, StripeId},
    stripe::models::{Customer, Metadata},
};

/// Longest `email` filter accepted (RFC 5321 caps addresses at 254 characters).
const MAX_EMAIL_LEN: usize = 254;

/// Root fields for customers.
#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// The Stripe customer with this id (`cus_…`), or null if it does not exist or was
    /// deleted. This is the field Hasura joins on: `customer(id: $stripe_customer_id)`.
    /// Costs one Stripe call when not cached.
    async fn customer(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<StripeCustomer>> {
        let id = StripeId::parse(IdKind::Customer, &id).gql()?;
        Ok(cache(ctx)?.customer(&id).await.gql()?.map(StripeCustomer))
    }

    /// Customers, newest first (`GET /v1/customers`). `email` filters by exact,
    /// case-sensitive address; `first` is the page size (1–100, default 10); `after` is the
    /// `nextCursor` of the previous page. Deleted customers are not listed.
    async fn customers(
        &self,
        ctx: &Context<'_>,
        email: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<StripeList<StripeCustomer>>> {
        if let Some(email) = &email {
            if email.is_empty()
                || email.len() > MAX_EMAIL_LEN
                || email.chars().any(char::is_control)
            {
                return Err(bad_input(format!(
                    "`email` must be 1 to {MAX_EMAIL_LEN} characters without control characters"
                )));
            }
        }
        let page = page(first, after, IdKind::Customer)?;
        let list = cache(ctx)?.customers(email.as_deref(), &page).await.gql()?;
        Ok(Some(StripeList::new(
            list.data.iter().cloned().map(StripeCustomer).collect(),
            list.has_more,
            list.data.last().map(|c| c.id.as_str()),
        )))
    }
}

/// A Stripe customer (`cus_…`).
pub struct StripeCustomer(pub Arc<Customer>);

/// A postal address.
#[derive(SimpleObject)]
pub struct StripeAddress {
    /// City, district, suburb, town, or village.
    pub city: Option<String>,
    /// Two-letter country code (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Address line 1 (street, PO box, or company name).
    pub line1: Option<String>,
    /// Address line 2 (apartment, suite, unit, or building).
    pub line2: Option<String>,
    /// ZIP or postal code.
    pub postal_code: Option<String>,
    /// State, county, province, or region.
    pub state: Option<String>,
}

#[Object]
impl StripeCustomer {
    /// Unique identifier (`cus_…`).
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// Email address.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    /// Full name or business name.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Business name (Stripe API 2025-09-30.clover and later).
    async fn business_name(&self) -> Option<&str> {
        self.0.business_name.as_deref()
    }

    /// Individual's name (Stripe API 2025-09-30.clover and later).
    async fn individual_name(&self) -> Option<&str> {
        self.0.individual_name.as_deref()
    }

    /// Phone number.
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }

    /// Arbitrary description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Billing address.
    async fn address(&self) -> Option<StripeAddress> {
        self.0.address.as_ref().map(|a| StripeAddress {
            city: a.city.clone(),
            country: a.country.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            postal_code: a.postal_code.clone(),
            state: a.state.clone(),
        })
    }

    /// Current balance in the smallest currency unit, applied to the next invoice. Negative
    /// is a credit to the customer; positive is an amount owed.
    async fn balance(&self) -> StripeAmount {
        StripeAmount(self.0.balance)
    }

    /// Three-letter ISO currency code the customer is billed in, lowercase.
    async fn currency(&self) -> Option<&str> {
        self.0.currency.as_deref()
    }

    /// Whether the customer's latest invoice is past due (or, for cards, a charge failed).
    async fn delinquent(&self) -> Option<bool> {
        self.0.delinquent
    }

    /// Prefix of the customer's invoice numbers.
    async fn invoice_prefix(&self) -> Option<&str> {
        self.0.invoice_prefix.as_deref()
    }

    /// Id of the default payment method for invoices and subscriptions.
    async fn default_payment_method_id(&self) -> Option<&str> {
        self.0
            .invoice_settings
            .as_ref()
            .and_then(|s| s.default_payment_method.as_deref())
    }

    /// Preferred locales, most preferred first.
    async fn preferred_locales(&self) -> Vec<String> {
        self.0.preferred_locales.clone().unwrap_or_default()
    }

    /// Tax exemption: `none`, `exempt` or `reverse` (Stripe may add values).
    async fn tax_exempt(&self) -> Option<&str> {
        self.0.tax_exempt.as_deref()
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

    /// The customer's subscriptions, newest first (`GET /v1/subscriptions?customer=…`; one
    /// Stripe call when not cached). Without `status`, Stripe's default applies: every status
    /// except `canceled`; pass `status: all` to include canceled ones. `first` is the page
    /// size (1–100, default 10); `after` is the previous page's `nextCursor`.
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        status: Option<StripeSubscriptionStatusFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<StripeList<StripeSubscription>>> {
        let id = StripeId::parse(IdKind::Customer, &self.0.id).gql()?;
        super::subscription::list_subscriptions(ctx, Some(&id), status, None, first, after).await
    }
}
