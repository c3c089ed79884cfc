//! Customer mutations: `createCustomer`, `updateCustomer`, `deleteCustomer`.

use std::sync::Arc;

use async_graphql::{Context, Json, Object, SimpleObject};
use serde_json::Value;

use super::{input, require_writer, AddressInput};
use crate::{
    graphql::{cache, error::GqlResult},
    ids::IdKind,
    stripe::{
        models::Customer,
        write::{Form, Write},
    },
};

/// Mutations on customers. Each is one Stripe write with an `Idempotency-Key` (the
/// caller's `idempotencyKey`, or one made for the mutation), refused (`FORBIDDEN`) unless the
/// request may write ([`super::WriteAccess`]), and its answer goes through the cache
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
        require_writer(ctx)?;
        let fields = CustomerFields {
            email,
            name,
            phone,
            description,
            address,
            metadata,
        };
        let form = fields.form()?;
        let key = input::idempotency_key(idempotency_key.as_deref())?;
        let write = Write::create(IdKind::Customer, form, key);
        Ok(Some(cache(ctx)?.write::<Customer>(&write).await.gql()?))
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
        require_writer(ctx)?;
        let id = input::id_arg("id", IdKind::Customer, &id)?;
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
            return Err(input::invalid(
                "id",
                "nothing to change: give at least one of email, name, phone, description, address, metadata",
            ));
        }
        let key = input::idempotency_key(idempotency_key.as_deref())?;
        let write = Write::update(id, form, key);
        Ok(Some(cache(ctx)?.write::<Customer>(&write).await.gql()?))
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
        require_writer(ctx)?;
        let id = input::id_arg("id", IdKind::Customer, &id)?;
        cache(ctx)?.delete_customer(&id).await.gql()?;
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
            input::email(email)?;
            form.set("email", email.as_str());
        }
        input::set_text(
            &mut form,
            "name",
            "name",
            self.name.as_deref(),
            input::MAX_NAME_LEN,
        )?;
        input::set_text(
            &mut form,
            "phone",
            "phone",
            self.phone.as_deref(),
            input::MAX_PHONE_LEN,
        )?;
        if let Some(description) = &self.description {
            input::text("description", description, input::MAX_TEXT_LEN, true)?;
            form.set("description", description.as_str());
        }
        if let Some(address) = &self.address {
            address.apply(&mut form)?;
        }
        input::metadata(&mut form, "metadata", "metadata", self.metadata.as_ref())?;
        Ok(form)
    }
}
