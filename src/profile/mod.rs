//! The profile sync: the Unified Customer Profile's Stripe side. Every profile (a `customers`
//! row, keyed by the SSO uuid) gets exactly one Stripe customer, profile changes follow to
//! Stripe, and the profile's lifecycle dates follow Stripe's subscription events.
//!
//! | module | holds |
//! |---|---|
//! | this one | [`ProfileSync::ensure`]: one Stripe customer per profile |
//! | [`events`] | Hasura's event trigger deliveries: what a profile change does |
//! | [`lifecycle`] | the lifecycle dates from Stripe's subscription events |
//! | [`hasura`] | the server's own calls to Hasura's GraphQL API, each as a narrow role |
//! | [`phone`] | phone numbers in E.164, by libphonenumber's rules |
//!
//! Guarantees:
//! - **One Stripe customer per profile.** [`ProfileSync::ensure`] reads the profile through
//!   Hasura, answers its linked customer if it has one, else finds the Stripe customer whose
//!   `metadata.sso` is the uuid (Stripe search), else creates one with the
//!   [`ensure_key`] `Idempotency-Key` derived from the uuid. Stripe's search lags writes by up
//!   to a minute, so two racing calls may both miss it; they then send the same key with the
//!   same parameters and Stripe creates one customer and answers both with it. The link is
//!   written back through Hasura as the narrow `stripe_sync` role, only while the profile has
//!   no Stripe customer, and clears `temporary_subscription_plan`.
//! - **Redelivered Hasura events create nothing new** ([`events`]).
//! - **Lifecycle dates are order-independent or older-loses** ([`lifecycle`]).

pub mod events;
pub mod hasura;
pub mod lifecycle;
pub mod phone;

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

pub use events::ProfileEvent;
use hasura::{HasuraClient, HasuraError, Profile};

use crate::{
    cache::StripeCache,
    ids::{IdKind, StripeId},
    stripe::{
        models::Customer,
        write::{Form, IdempotencyKey, Write},
        StripeError,
    },
};

/// Why a profile could not be synchronised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// No profile has this uuid.
    #[error("no customer profile has sso_id {0}")]
    NoProfile(Uuid),
    /// The profile names a Stripe customer that Stripe does not have (deleted).
    #[error(
        "the profile is linked to Stripe customer {0}, which does not exist (deleted in Stripe?)"
    )]
    LinkedToMissing(String),
    /// Another Stripe customer was linked to the profile meanwhile.
    #[error("the profile was linked to Stripe customer {linked} while this call created or found {found}")]
    LinkedElsewhere {
        /// The customer now linked.
        linked: String,
        /// The customer this call had.
        found: String,
    },
    /// Hasura failed or refused.
    #[error(transparent)]
    Hasura(#[from] HasuraError),
    /// Stripe failed or refused.
    #[error(transparent)]
    Stripe(#[from] StripeError),
}

impl SyncError {
    /// Whether the failure clears on its own (Hasura or Stripe unreachable, failing or rate
    /// limiting), so the event should simply come again; otherwise Stripe or Hasura refused,
    /// or the profile needs a person.
    pub fn clears_on_its_own(&self) -> bool {
        match self {
            SyncError::Stripe(e) => e.is_transient(),
            SyncError::Hasura(e) => e.is_transient(),
            SyncError::NoProfile(_)
            | SyncError::LinkedToMissing(_)
            | SyncError::LinkedElsewhere { .. } => false,
        }
    }
}

/// The name the product gives a profile's Stripe customer: first and last name joined by a
/// space, either alone when the other is empty, `-` when both are (Stripe shows the name in
/// the Dashboard and on invoices; a blank one reads as missing data).
pub fn display_name(first: Option<&str>, last: Option<&str>) -> String {
    let parts: Vec<&str> = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The `Idempotency-Key` of the Stripe customer created for profile `sso_id`: the same for
/// every call about that profile, so racing creates make one customer.
pub fn ensure_key(sso_id: &Uuid) -> IdempotencyKey {
    IdempotencyKey::parse(&format!("profile-customer-{sso_id}")).expect("a valid key")
}

/// The Stripe search query for customers whose `metadata[key]` is `sso_id`. The key is a
/// validated metadata key (no quotes) and the uuid is hyphenated hex.
pub fn sso_search_query(key: &str, sso_id: &Uuid) -> String {
    format!("metadata['{key}']:'{sso_id}'")
}

/// What [`ProfileSync::ensure`] did.
#[derive(Debug, Clone)]
pub struct Ensured {
    /// The profile's Stripe customer.
    pub customer: Arc<Customer>,
    /// `linked`: the profile already named it; `found`: found by search and linked;
    /// `created`: created and linked.
    pub outcome: &'static str,
}

/// The profile side of Stripe: Hasura for the profile, the cache (and its client) for Stripe.
#[derive(Clone)]
pub struct ProfileSync {
    hasura: HasuraClient,
    cache: StripeCache,
    metadata_key: String,
    /// `PHONE_DEFAULT_REGION`.
    phone_region: Option<phone::Region>,
}

impl ProfileSync {
    /// Syncs through `hasura` and `cache`; the uuid is kept under `metadata[metadata_key]`,
    /// and a national phone number on a profile without a country is read in `phone_region`.
    pub fn new(
        hasura: HasuraClient,
        cache: StripeCache,
        metadata_key: String,
        phone_region: Option<phone::Region>,
    ) -> ProfileSync {
        ProfileSync {
            hasura,
            cache,
            metadata_key,
            phone_region,
        }
    }

    /// The profile's Stripe customer, found or created and linked (see the module docs).
    pub async fn ensure(&self, sso_id: &Uuid) -> Result<Ensured, SyncError> {
        let profile = self
            .hasura
            .profile(sso_id)
            .await?
            .ok_or(SyncError::NoProfile(*sso_id))?;
        if let Some(linked) = &profile.stripe_customer_id {
            let id = StripeId::parse(IdKind::Customer, linked)
                .map_err(|_| SyncError::LinkedToMissing(linked.clone()))?;
            let customer = self
                .cache
                .customer(&id, false)
                .await?
                .ok_or_else(|| SyncError::LinkedToMissing(linked.clone()))?;
            return Ok(Ensured {
                customer,
                outcome: "linked",
            });
        }
        let (customer, outcome) = match self.find(sso_id).await? {
            Some(found) => (found, "found"),
            None => (self.create(sso_id, &profile).await?, "created"),
        };
        if !self.hasura.link(sso_id, &customer.id).await? {
            // Linked meanwhile (a racing call) or gone: read what it is now.
            match self.hasura.profile(sso_id).await? {
                None => return Err(SyncError::NoProfile(*sso_id)),
                Some(now) if now.stripe_customer_id.as_deref() == Some(&customer.id) => {}
                Some(now) => {
                    return Err(SyncError::LinkedElsewhere {
                        linked: now.stripe_customer_id.unwrap_or_default(),
                        found: customer.id.clone(),
                    })
                }
            }
        }
        tracing::info!(%sso_id, customer = %customer.id, outcome, "profile linked to its stripe customer");
        Ok(Ensured { customer, outcome })
    }

    /// The oldest live Stripe customer whose metadata names this profile, if Stripe's search
    /// finds one.
    async fn find(&self, sso_id: &Uuid) -> Result<Option<Arc<Customer>>, SyncError> {
        let query = sso_search_query(&self.metadata_key, sso_id);
        let mut found = self.cache.search_customers(&query).await?;
        let uuid = sso_id.to_string();
        found.retain(|c| c.metadata.get(&self.metadata_key).and_then(Value::as_str) == Some(&uuid));
        if found.len() > 1 {
            tracing::warn!(%sso_id, count = found.len(), "several stripe customers name this profile; linking the oldest (see duplicateStripeCustomers)");
        }
        Ok(found
            .into_iter()
            .min_by_key(|c| (c.created.0, c.id.clone())))
    }

    async fn create(&self, sso_id: &Uuid, profile: &Profile) -> Result<Arc<Customer>, SyncError> {
        let mut form = Form::new();
        form.set(
            "name",
            display_name(profile.first_name.as_deref(), profile.last_name.as_deref()),
        );
        if let Some(email) = profile
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            form.set("email", email);
        }
        form.set(
            format!("metadata[{}]", self.metadata_key),
            sso_id.to_string(),
        );
        let write = Write::create(IdKind::Customer, form, Some(ensure_key(sso_id)));
        Ok(self.cache.write::<Customer>(&write).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_rule_joins_first_and_last_and_falls_back_to_a_dash() {
        assert_eq!(display_name(Some("Jane"), Some("Doe")), "Jane Doe");
        assert_eq!(display_name(Some(" Jane "), Some("")), "Jane");
        assert_eq!(display_name(None, Some("Doe")), "Doe");
        assert_eq!(display_name(Some("  "), None), "-");
        assert_eq!(display_name(None, None), "-");
    }

    #[test]
    fn the_creation_key_is_the_same_for_every_call_about_a_profile() {
        let sso = Uuid::parse_str("6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60").unwrap();
        assert_eq!(ensure_key(&sso), ensure_key(&sso));
        assert_eq!(
            ensure_key(&sso).as_str(),
            "profile-customer-6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60"
        );
        assert_eq!(
            sso_search_query("sso", &sso),
            "metadata['sso']:'6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60'"
        );
    }
}
