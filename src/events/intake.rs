//! One webhook delivery, from its raw body to an [`Outcome`] the route maps to HTTP:
//!
//! 1. the `Stripe-Signature` is verified and the event read ([`crate::webhook::receive`]);
//!    nothing of the body is read before;
//! 2. the cache entries the event makes stale are invalidated;
//! 3. the profile's lifecycle dates follow the event ([`ProfileSync::on_stripe_event`]),
//!    after the invalidation, so what their rules read is fresh;
//! 4. the outcome is counted in the metrics and logged once.
//!
//! Every step is idempotent, so a redelivery (Stripe delivers at least once, in no order)
//! changes nothing more.

use crate::{
    cache::StripeCache,
    metrics::{Metrics, WebhookOutcome},
    profile::{ProfileSync, SyncError},
    webhook::{self, Rejected, WebhookSettings},
};

/// What a delivery came to.
#[derive(Debug)]
pub enum Outcome {
    /// The event changed what this server holds (cache entries, profile dates).
    Applied(Delivered),
    /// A verified event of a type that changes nothing here.
    Ignored(Delivered),
    /// Refused before anything changed: a bad signature, or a body that is not an event.
    Rejected(Rejected),
    /// Verified and applied to the cache, but the profile's dates could not be written:
    /// Stripe must deliver it again (the cache step repeats harmlessly).
    ProfileFailed(Delivered, SyncError),
}

/// The event a delivery carried, as logged and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// `evt_…`, when present.
    pub id: Option<String>,
    /// `customer.updated`, …
    pub event_type: String,
}

/// The webhook endpoint's use case (enabled by `STRIPE_WEBHOOK_SECRET`).
pub struct Intake {
    settings: WebhookSettings,
    cache: StripeCache,
    profile: Option<ProfileSync>,
    metrics: Metrics,
}

impl Intake {
    /// Verifies with `settings`, invalidates `cache`, and, with a profile write-back, keeps
    /// the profiles' lifecycle dates.
    pub fn new(
        settings: WebhookSettings,
        cache: StripeCache,
        profile: Option<ProfileSync>,
        metrics: Metrics,
    ) -> Intake {
        Intake {
            settings,
            cache,
            profile,
            metrics,
        }
    }

    /// One delivery: `signature` is the raw `Stripe-Signature` header (`None` when absent).
    pub async fn receive(&self, signature: Option<&[u8]>, body: &[u8]) -> Outcome {
        let received = match webhook::receive(&self.settings, signature, body, webhook::unix_now())
        {
            Ok(received) => received,
            Err(rejected) => {
                self.metrics
                    .webhook(rejected.event_type(), WebhookOutcome::Rejected);
                tracing::warn!(
                    event_type = %rejected.event_type().unwrap_or("-"),
                    reason = %rejected,
                    outcome = %"rejected",
                    "stripe webhook"
                );
                return Outcome::Rejected(rejected);
            }
        };
        let delivered = Delivered {
            id: received.id.clone(),
            event_type: received.event_type.clone(),
        };
        let event_id = delivered.id.as_deref().unwrap_or("-");
        let mut applied = match &received.tags {
            Some(tags) => {
                self.cache.invalidate(tags);
                true
            }
            None => false,
        };
        if let Some(profile) = &self.profile {
            match profile.on_stripe_event(&received.event).await {
                Ok(0) => {}
                Ok(rows) => {
                    tracing::info!(%event_id, rows, "profile lifecycle dates updated");
                    applied = true;
                }
                Err(e) => {
                    tracing::warn!(%event_id, error = %e, "profile lifecycle update failed; stripe will deliver the event again");
                    self.metrics
                        .webhook(Some(&delivered.event_type), WebhookOutcome::Rejected);
                    return Outcome::ProfileFailed(delivered, e);
                }
            }
        }
        let (outcome, label) = if applied {
            (WebhookOutcome::Applied, "applied")
        } else {
            (WebhookOutcome::Ignored, "ignored")
        };
        self.metrics.webhook(Some(&delivered.event_type), outcome);
        tracing::info!(%event_id, event_type = %delivered.event_type, outcome = %label, "stripe webhook");
        if applied {
            Outcome::Applied(delivered)
        } else {
            Outcome::Ignored(delivered)
        }
    }
}
