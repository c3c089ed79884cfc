//! Customers: `customer(id:)`, `customers(...)`, and the computed fields of
//! `StripeCustomer` (its plain fields are the model's, [`Customer`]).

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Json, Object, SimpleObject, Value as ConstValue};
use serde_json::Value;

use super::{
    cache,
    error::{bad_input, GqlResult},
    list::{page, StripeList},
    scope,
    subscription::{list_subscriptions, StripeSubscriptionStatusFilter},
    write::{self, AddressInput},
};
use crate::{
    cache::Tag,
    ids::{IdKind, StripeId},
    stripe::{
        models::{Customer, Subscription},
        request::{ListRequest, SubscriptionFilter, DEFAULT_LIMIT},
        write::{Form, Write},
        StripeError,
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

/// Mutations on customers. Each is one Stripe write with an `Idempotency-Key` (the
/// caller's `idempotencyKey`, or one made for the mutation), refused (`FORBIDDEN`) unless the
/// request may write ([`write::WriteAccess`]), and its answer goes through the cache
/// ([`crate::cache::StripeCache::write_through`]): the next read of the customer costs no
/// call and sees the change, and customer lists are read again.
#[derive(Default)]
pub struct CustomerMutation;

#[Object]
impl CustomerMutation {
    /// Creates a customer (`POST /v1/customers`). `metadata` is an object of string values;
    /// the product keeps the SSO uuid under `metadata.sso`. Two calls with the same
    /// `idempotencyKey` and arguments create one customer and answer it both times; the same
    /// key with other arguments is `STRIPE_IDEMPOTENCY_ERROR`. Without a key, each call
    /// creates a customer.
    #[allow(clippy::too_many_arguments)]
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        email: Option<String>,
        name: Option<String>,
        phone: Option<String>,
        description: Option<String>,
        address: Option<AddressInput>,
        metadata: Option<Json<Value>>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Option<Arc<Customer>>> {
        write::require_writer(ctx)?;
        let fields = CustomerFields {
            email,
            name,
            phone,
            description,
            address,
            metadata,
        };
        let form = fields.form()?;
        let key = write::idempotency_key(idempotency_key.as_deref())?;
        let write = Write::create(IdKind::Customer, form, key);
        let customer = cache(ctx)?.client().write::<Customer>(&write).await.gql()?;
        Ok(Some(cache(ctx)?.written_customer(customer)))
    }

    /// Changes a customer (`POST /v1/customers/{id}`): only the arguments given. An empty
    /// string clears a field (`email: ""`); in `metadata`, a key set to null is deleted and
    /// keys not named are kept (Stripe merges metadata key by key). Idempotency as
    /// `createCustomer`.
    #[allow(clippy::too_many_arguments)]
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        id: String,
        email: Option<String>,
        name: Option<String>,
        phone: Option<String>,
        description: Option<String>,
        address: Option<AddressInput>,
        metadata: Option<Json<Value>>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Option<Arc<Customer>>> {
        write::require_writer(ctx)?;
        let id = write::id_arg("id", IdKind::Customer, &id)?;
        let fields = CustomerFields {
            email,
            name,
            phone,
            description,
            address,
            metadata,
        };
        let form = fields.form()?;
        if form.is_empty() {
            return Err(write::invalid(
                "id",
                "nothing to change: give at least one of email, name, phone, description, address, metadata",
            ));
        }
        let key = write::idempotency_key(idempotency_key.as_deref())?;
        let write = Write::update(id, form, key);
        let customer = cache(ctx)?.client().write::<Customer>(&write).await.gql()?;
        Ok(Some(cache(ctx)?.written_customer(customer)))
    }

    /// Deletes a customer (`DELETE /v1/customers/{id}`); Stripe cancels its subscriptions at
    /// once. Deleting a customer that is already deleted answers `deleted: true` again (so a
    /// retry after a lost answer succeeds); one that never existed is `STRIPE_NOT_FOUND`.
    /// Afterwards `customer(id)` is null without a Stripe call.
    async fn delete_customer(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<DeletedCustomer>> {
        write::require_writer(ctx)?;
        let id = write::id_arg("id", IdKind::Customer, &id)?;
        let cache = cache(ctx)?;
        let client = cache.client();
        match client
            .delete(&Write::delete(id.clone(), Form::new()), "customer")
            .await
        {
            Ok(()) => {}
            Err(error @ StripeError::NotFound { .. }) => {
                // Stripe answers a second delete with 404, but still knows the customer as
                // deleted: that is the state asked for.
                match client.retrieve::<Customer>(&id).await {
                    Err(StripeError::Deleted) => {}
                    _ => return Err(error).gql(),
                }
            }
            Err(error) => return Err(error).gql(),
        }
        cache.write_through::<Customer>(&id, None, &Tag::of_customer_change(id.as_str(), true));
        Ok(Some(DeletedCustomer {
            id: id.as_str().to_owned(),
            deleted: true,
        }))
    }
}

/// A deleted customer, as Stripe answers a delete.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "StripeDeletedCustomer")]
pub struct DeletedCustomer {
    /// The customer's id (`cus_…`).
    pub id: String,
    /// Always true.
    pub deleted: bool,
}

/// The fields `createCustomer` and `updateCustomer` set.
struct CustomerFields {
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    description: Option<String>,
    address: Option<AddressInput>,
    metadata: Option<Json<Value>>,
}

impl CustomerFields {
    /// The form parameters, each checked against Stripe's limits.
    fn form(&self) -> async_graphql::Result<Form> {
        let mut form = Form::new();
        if let Some(email) = &self.email {
            write::email(email)?;
            form.set("email", email.as_str());
        }
        write::set_text(
            &mut form,
            "name",
            "name",
            self.name.as_deref(),
            write::MAX_NAME_LEN,
        )?;
        write::set_text(
            &mut form,
            "phone",
            "phone",
            self.phone.as_deref(),
            write::MAX_PHONE_LEN,
        )?;
        if let Some(description) = &self.description {
            write::text("description", description, write::MAX_TEXT_LEN, true)?;
            form.set("description", description.as_str());
        }
        if let Some(address) = &self.address {
            address.apply(&mut form)?;
        }
        write::metadata(&mut form, "metadata", "metadata", self.metadata.as_ref())?;
        Ok(form)
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
