//! One webhook delivery, from its raw body to an [`Outcome`] the route maps to HTTP:
//!
//! 1. the `Stripe-Signature` is verified ([`super::signature::verify`]) and then the event
//!    read ([`crate::stripe::event::parse`]) with what it makes stale ([`super::stale::stale_tags`]):
//!    [`receive`], pure; nothing of the body is read before the signature passed;
//! 2. with the mirror (`STRIPE_MIRROR=on`), the event is applied to it
//!    ([`Mirror::apply`]), then the cache entries the event makes stale are invalidated;
//! 3. the profile's lifecycle dates follow the event ([`ProfileSync::on_stripe_event`]),
//!    after the invalidation, so what their rules read is fresh;
//! 4. the outcome is counted in the metrics and logged once.
//!
//! Every step is idempotent, so a redelivery (Stripe delivers at least once, in no order)
//! changes nothing more.

use super::{
    signature::{verify, SignatureError, WebhookSettings},
    stale::stale_tags,
};
use crate::{
    cache::{StripeCache, Tag},
    clock,
    metrics::{Metrics, WebhookOutcome},
    mirror::{EventSource, Mirror},
    profile::{ProfileSync, SyncError},
    stripe::event::{self, Event, EventError},
};

/// A verified delivery, ready to act on.
#[derive(Debug, Clone)]
pub struct Received {
    /// What it makes stale; `None` for a type this server does not cache.
    pub tags: Option<Vec<Tag>>,
    /// The event itself, for what else acts on it (the profile's lifecycle dates).
    pub event: Event,
}

/// Why a delivery was refused (answered 400, nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The signature check failed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Signed, but not an event this server can act on.
    #[error(transparent)]
    Event(#[from] EventError),
}

impl Rejected {
    /// The event type, when the body was signed and had one.
    pub fn event_type(&self) -> Option<&str> {
        match self {
            Rejected::Signature(_) => None,
            Rejected::Event(error) => error.event_type(),
        }
    }
}

/// Everything the endpoint decides about one delivery: the signature (`header` is the raw
/// `Stripe-Signature` value, `None` when absent), then the event, then its tags. Nothing is
/// read from the body before the signature is verified.
pub fn receive(
    settings: &WebhookSettings,
    header: Option<&[u8]>,
    body: &[u8],
    now_unix: i64,
) -> Result<Received, Rejected> {
    let header = match header {
        None => return Err(SignatureError::Missing.into()),
        Some(raw) => std::str::from_utf8(raw)
            .map_err(|_| SignatureError::Malformed("the header is not UTF-8"))?,
    };
    verify(header, body, &settings.secret, now_unix, settings.tolerance)?;
    let event = event::parse(body)?;
    let tags = stale_tags(&event)?;
    Ok(Received { tags, event })
}

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
    mirror: Option<Mirror>,
    profile: Option<ProfileSync>,
    metrics: Metrics,
}

impl Intake {
    /// Verifies with `settings`, applies each event to `mirror` (when there is one), invalidates
    /// `cache`, and, with a profile write-back, keeps the profiles' lifecycle dates.
    pub fn new(
        settings: WebhookSettings,
        cache: StripeCache,
        mirror: Option<Mirror>,
        profile: Option<ProfileSync>,
        metrics: Metrics,
    ) -> Intake {
        Intake {
            settings,
            cache,
            mirror,
            profile,
            metrics,
        }
    }

    /// One delivery: `signature` is the raw `Stripe-Signature` header (`None` when absent).
    pub async fn receive(&self, signature: Option<&[u8]>, body: &[u8]) -> Outcome {
        let received = match receive(&self.settings, signature, body, clock::unix_now()) {
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
            id: received.event.id.clone(),
            event_type: received.event.event_type.clone(),
        };
        let event_id = delivered.id.as_deref().unwrap_or("-");
        if let Some(mirror) = &self.mirror {
            mirror.apply(&received.event, EventSource::Webhook);
        }
        let mut applied = match &received.tags {
            Some(tags) => {
                self.cache.invalidate(tags).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use stripe_sandbox::webhooks::signature_header;

    use crate::{
        events::signature::DEFAULT_TOLERANCE, secret::SecretString, stripe::event::EventObject,
    };

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_700_000_000;

    fn settings() -> WebhookSettings {
        WebhookSettings {
            secret: SecretString::new(SECRET),
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    #[test]
    fn receive_checks_the_signature_before_reading_the_body() {
        let body = b"not json";
        let header = signature_header("whsec_forger", NOW, body);
        assert_eq!(
            receive(&settings(), Some(header.as_bytes()), body, NOW).unwrap_err(),
            Rejected::Signature(SignatureError::Mismatch)
        );
        assert_eq!(
            receive(&settings(), None, body, NOW).unwrap_err(),
            Rejected::Signature(SignatureError::Missing)
        );
        assert!(matches!(
            receive(&settings(), Some(b"t=1,v1=\xff"), body, NOW).unwrap_err(),
            Rejected::Signature(SignatureError::Malformed(_))
        ));
        let header = signature_header(SECRET, NOW, body);
        let refused = receive(&settings(), Some(header.as_bytes()), body, NOW).unwrap_err();
        assert!(matches!(refused, Rejected::Event(EventError::NotJson(_))));
        assert_eq!(refused.event_type(), None);
    }

    #[test]
    fn receive_reads_a_signed_event_into_its_tags() {
        let body = br#"{"id":"evt_9","type":"product.updated","created":1700000000,"data":{"object":{"id":"prod_1","object":"product","name":"New"},"previous_attributes":{"name":"Old"}}}"#;
        let header = signature_header(SECRET, NOW, body);
        let received = receive(&settings(), Some(header.as_bytes()), body, NOW).unwrap();
        assert_eq!(received.tags, Some(vec![Tag::Object("prod_1".into())]));
        assert_eq!(received.event.id.as_deref(), Some("evt_9"));
        assert_eq!(received.event.created, Some(1_700_000_000));
        let EventObject::Product(product) = &received.event.object else {
            panic!("{:?}", received.event.object)
        };
        assert_eq!(product.name, "New");

        let body = br#"{"type":"price.updated","data":{"object":{}}}"#;
        let header = signature_header(SECRET, NOW, body);
        let refused = receive(&settings(), Some(header.as_bytes()), body, NOW).unwrap_err();
        assert_eq!(refused.event_type(), Some("price.updated"));
        assert!(matches!(
            refused,
            Rejected::Event(EventError::MissingId { .. })
        ));
    }
}
