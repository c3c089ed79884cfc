//! The Unified Customer Profile's root fields: `ensureStripeCustomer(ssoId)` (a mutation) and
//! `duplicateStripeCustomers(email | ssoId)` (a query). The logic is [`crate::profile`].
//!
//! | error | `extensions.code` |
//! |---|---|
//! | `HASURA_GRAPHQL_URL` / `HASURA_ADMIN_SECRET` not set | `HASURA_NOT_CONFIGURED` |
//! | no profile has the uuid | `PROFILE_NOT_FOUND` |
//! | the profile names a Stripe customer Stripe does not have | `PROFILE_LINKED_TO_MISSING_CUSTOMER` |
//! | another customer was linked meanwhile | `PROFILE_LINK_CONFLICT` |
//! | Hasura unreachable or answering an error status | `HASURA_UNAVAILABLE` |
//! | Hasura refused (permission, secret) | `HASURA_REFUSED` (+ `hasuraCode`) |
//! | Stripe | as every Stripe error ([`super::error`]) |

use std::sync::Arc;

use async_graphql::{Context, Error, ErrorExtensions, Object};
use uuid::Uuid;

use super::{cache, error::GqlResult, scope, write};
use crate::{
    profile::hasura::HasuraError,
    profile::{sso_search_query, ProfileSync, SyncError},
    stripe::{
        models::Customer,
        request::{ListRequest, Page},
    },
};

/// The Stripe metadata key that holds a profile's SSO uuid (`HASURA_SCOPING_METADATA_KEY`),
/// put in each request's data by the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoMetadataKey(pub String);

impl ErrorExtensions for SyncError {
    fn extend(&self) -> Error {
        if let SyncError::Stripe(stripe) = self {
            return stripe.extend();
        }
        Error::new(self.to_string()).extend_with(|_, ext| {
            let code = match self {
                SyncError::NoProfile(_) => "PROFILE_NOT_FOUND",
                SyncError::LinkedToMissing(_) => "PROFILE_LINKED_TO_MISSING_CUSTOMER",
                SyncError::LinkedElsewhere { .. } => "PROFILE_LINK_CONFLICT",
                SyncError::Hasura(HasuraError::NotConfigured) => "HASURA_NOT_CONFIGURED",
                SyncError::Hasura(HasuraError::Refused { code, .. }) => {
                    ext.set("hasuraCode", code.as_str());
                    "HASURA_REFUSED"
                }
                SyncError::Hasura(_) => "HASURA_UNAVAILABLE",
                SyncError::Stripe(_) => unreachable!("handled above"),
            };
            ext.set("code", code);
        })
    }
}

fn sso_id(argument: &str, raw: &str) -> async_graphql::Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| {
        write::invalid(
            argument,
            format!("`{argument}` must be a UUID (the profile's sso_id)"),
        )
    })
}

/// The profile mutation.
#[derive(Default)]
pub struct ProfileMutation;

#[Object]
impl ProfileMutation {
    /// The Stripe customer of the profile with this `ssoId`, created if it has none: the
    /// profile's linked customer; else the Stripe customer whose `metadata.sso` is the uuid;
    /// else a new customer named by the product's rule (first and last name, either alone,
    /// `-` when both are empty) with the profile's email and `metadata.sso`. The link is
    /// written back to the profile through Hasura (`stripe_customer_id`, and
    /// `temporary_subscription_plan` cleared). Creation uses an `Idempotency-Key` derived
    /// from the uuid: racing calls make one customer. Needs `HASURA_GRAPHQL_URL` and
    /// `HASURA_ADMIN_SECRET`; a writer, as every mutation.
    async fn ensure_stripe_customer(
        &self,
        ctx: &Context<'_>,
        sso_id: String,
    ) -> async_graphql::Result<Option<Arc<Customer>>> {
        write::require_writer(ctx)?;
        let sso = self::sso_id("ssoId", &sso_id)?;
        let Some(sync) = ctx.data_opt::<ProfileSync>() else {
            return Err(SyncError::Hasura(HasuraError::NotConfigured).extend());
        };
        let ensured = sync.ensure(&sso).await.map_err(|e| e.extend())?;
        Ok(Some(ensured.customer))
    }
}

/// The profile query.
#[derive(Default)]
pub struct ProfileQuery;

#[Object]
impl ProfileQuery {
    /// Stripe customers that share an email (exact, as Stripe filters it:
    /// `GET /v1/customers?email=`) or an SSO uuid (`metadata.sso`, by Stripe search, whose
    /// index lags writes by up to a minute), oldest first: more than one means duplicates.
    /// Give exactly one of `email` and `ssoId`. At most 100. Refused (`FORBIDDEN`) to a
    /// Hasura role outside `HASURA_TRUSTED_ROLES`.
    async fn duplicate_stripe_customers(
        &self,
        ctx: &Context<'_>,
        email: Option<String>,
        sso_id: Option<String>,
    ) -> async_graphql::Result<Option<Vec<Arc<Customer>>>> {
        scope::refuse_list_to_scoped(ctx, "duplicateStripeCustomers")?;
        let mut customers: Vec<Arc<Customer>> = match (email, sso_id) {
            (Some(email), None) => {
                write::email(&email)?;
                if email.is_empty() {
                    return Err(write::invalid("email", "`email` must not be empty"));
                }
                let request = ListRequest::customers(Some(&email), &Page::first(100));
                cache(ctx)?.list(&request).await.gql()?.data.clone()
            }
            (None, Some(raw)) => {
                let sso = self::sso_id("ssoId", &raw)?;
                let key = ctx
                    .data_opt::<SsoMetadataKey>()
                    .map(|k| k.0.clone())
                    .unwrap_or_else(|| scope::DEFAULT_METADATA_KEY.to_owned());
                let uuid = sso.to_string();
                cache(ctx)?
                    .search_customers(&sso_search_query(&key, &sso))
                    .await
                    .gql()?
                    .into_iter()
                    .filter(|c| c.metadata.get(&key).and_then(|v| v.as_str()) == Some(&uuid))
                    .collect()
            }
            _ => {
                return Err(write::invalid(
                    "email",
                    "give exactly one of `email` and `ssoId`",
                ))
            }
        };
        customers.sort_by(|a, b| (a.created.0, &a.id).cmp(&(b.created.0, &b.id)));
        Ok(Some(customers))
    }
}
