//! Customers: `customer(id:)`, `customers(...)`, and the computed fields of
//! `StripeCustomer` (its plain fields are the model's, [`Customer`]).

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Object, Value as ConstValue};

use crate::{
    graphql::{
        cache,
        error::{bad_input, GqlResult},
        list::{page, StripeList},
        read::subscription::{list_subscriptions, StripeSubscriptionStatusFilter},
        scope,
    },
    ids::{IdKind, StripeId},
    stripe::{
        models::{Customer, Subscription},
        request::{ListRequest, SubscriptionFilter, DEFAULT_LIMIT},
    },
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
    /// Costs one Stripe call when not cached, `subscriptions` included: when the selection
    /// asks for `subscriptions` without arguments (or with `first: 10`), that call also
    /// brings the first page of subscriptions (`expand[]=subscriptions`). For a Hasura role
    /// outside `HASURA_TRUSTED_ROLES`: null unless the customer's `metadata.sso` is the
    /// session's `x-hasura-user-id` (the lookup is cached all the same).
    async fn customer(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<Arc<Customer>>> {
        let id = StripeId::parse(IdKind::Customer, &id).gql()?;
        let with_subscriptions = selects_first_subscription_page(ctx);
        let customer = cache(ctx)?.customer(&id, with_subscriptions).await.gql()?;
        Ok(customer.filter(|c| scope::caller(ctx).may_see(c)))
    }

    /// Customers, newest first (`GET /v1/customers`). `email` filters by exact,
    /// case-sensitive address; `first` is the page size (1–100, default 10); `after` is the
    /// `nextCursor` of the previous page. Deleted customers are not listed. Refused
    /// (`FORBIDDEN`) to a Hasura role outside `HASURA_TRUSTED_ROLES`.
    async fn customers(
        &self,
        ctx: &Context<'_>,
        email: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<StripeList<Customer>>> {
        scope::refuse_list_to_scoped(ctx, "customers")?;
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
        let request = ListRequest::customers(email.as_deref(), &page);
        let list = cache(ctx)?.list(&request).await.gql()?;
        Ok(Some(StripeList::of(&list)))
    }
}

/// Whether the selection under the current field holds `subscriptions` with default
/// arguments (none, or only `first: 10`), the page `expand[]=subscriptions` embeds. Variables
/// are resolved; a selection that cannot be read counts as "no".
fn selects_first_subscription_page(ctx: &Context<'_>) -> bool {
    ctx.look_ahead()
        .field("subscriptions")
        .selection_fields()
        .iter()
        .any(|field| {
            field.arguments().is_ok_and(|args| {
                args.iter()
                    .all(|(name, value)| match (name.as_str(), value) {
                        (_, ConstValue::Null) => true,
                        ("first", ConstValue::Number(n)) => {
                            n.as_i64() == Some(i64::from(DEFAULT_LIMIT))
                        }
                        _ => false,
                    })
            })
        })
}

#[ComplexObject]
impl Customer {
    /// Id of the default payment method for invoices and subscriptions.
    async fn default_payment_method_id(&self) -> Option<&str> {
        self.invoice_settings
            .as_ref()
            .and_then(|s| s.default_payment_method.as_deref())
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
    ) -> async_graphql::Result<Option<StripeList<Subscription>>> {
        let filter = SubscriptionFilter {
            customer: Some(StripeId::parse(IdKind::Customer, &self.id).gql()?),
            status: status.map(StripeSubscriptionStatusFilter::as_stripe),
            price: None,
        };
        list_subscriptions(ctx, &filter, first, after).await
    }
}
