//! Webhooks from the sandbox: when its data changes, it records a Stripe-shaped event
//! ([`crate::Store::record`], listed by `GET /v1/events`) and sends it, signed as Stripe
//! signs, to the URL set with [`Sandbox::send_webhooks_to`]. This module signs and delivers
//! the events; the [`Sandbox`] methods that change data and send them (`update`,
//! `create`, `delete_customer`, `emit`, `send_event`, `post_webhook`) are in
//! [`server`](crate::server), with its other knobs.
//!
//! - **Events** are shaped as Stripe's: `{"id": "evt_…", "object": "event", "api_version",
//!   "created", "data": {"object", "previous_attributes"?}, "livemode": false,
//!   "pending_webhooks": 1, "request": {"id", "idempotency_key"}, "type"}`, with `data.object`
//!   the object after the change, answered as the API answers it.
//! - **Signatures** are Stripe's: `Stripe-Signature: t=<now>,v1=<hex HMAC-SHA256 of
//!   "{t}.{body}" keyed with the secret's UTF-8 bytes>` ([`signature_header`]).
//! - **Delivery is awaited**: every method that changes data returns after the receiver
//!   answered, with its status and body ([`Delivery`]), so a test awaits the delivery instead
//!   of sleeping. There is one attempt per event (Stripe retries failures; a test that wants a
//!   retry sends the event again with [`Sandbox::send_event`]).
//! - The write endpoints ([`crate::writes`]) deliver their events (`customer.created`,
//!   `customer.subscription.updated`, …) the same way before they answer, so `--demo` data
//!   changed with curl, or by a mutation, is fresh in the server as soon as the call returns.
//!   Their events carry the request's id and `Idempotency-Key` in `request`. A replayed
//!   idempotent request sends no event.
//! - **Quiet changes** (`update_quietly`, `create_quietly`, `delete_customer_quietly`) record
//!   their events without delivering them: a webhook Stripe never got through, for tests of
//!   what the Events API heals.
//!
//! [`Sandbox`]: crate::Sandbox
//! [`Sandbox::send_webhooks_to`]: crate::Sandbox::send_webhooks_to
//! [`Sandbox::send_event`]: crate::Sandbox::send_event

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::clock::unix_now;

/// How long the sandbox waits for the receiver of a webhook to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the sandbox sends its events, and the secret it signs them with.
#[derive(Clone)]
struct Target {
    url: String,
    secret: String,
    client: reqwest::Client,
}

/// One delivered webhook: the event sent and the receiver's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The event as sent (`Value::Null` for a raw body that is not JSON).
    pub event: Value,
    /// The receiver's HTTP status.
    pub status: u16,
    /// The receiver's body as JSON (`Value::Null` when it is not JSON).
    pub answer: Value,
}

/// Why the sandbox could not change its data or deliver an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// [`Sandbox::send_webhooks_to`](crate::Sandbox::send_webhooks_to) was never called.
    #[error("the sandbox sends no webhooks: call Sandbox::send_webhooks_to first")]
    NoTarget,
    /// The object to change does not exist.
    #[error("the sandbox has no {object} {id}")]
    NoSuchObject {
        /// the object type
        object: String,
        /// the id
        id: String,
    },
    /// The receiver could not be reached or did not answer in time.
    #[error("the webhook to {url} was not delivered: {reason}")]
    Transport {
        /// the receiver
        url: String,
        /// what went wrong
        reason: String,
    },
}

/// The `Stripe-Signature` header Stripe sends for `body` at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`, keyed with `secret`'s
/// UTF-8 bytes as they are (the `whsec_` prefix included).
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}

/// The sandbox's webhook sender: the target its events go to (none until
/// [`Sandbox::send_webhooks_to`](crate::Sandbox::send_webhooks_to)). The events themselves
/// are made and recorded by the store ([`crate::Store::record`]).
pub(crate) struct Webhooks {
    target: Mutex<Option<Target>>,
}

impl Webhooks {
    /// No target yet: nothing is sent.
    pub(crate) fn new() -> Webhooks {
        Webhooks {
            target: Mutex::new(None),
        }
    }

    /// From now on, events go to `url`, signed with `secret`. Replaces an earlier target.
    pub(crate) fn send_to(&self, url: &str, secret: &str) {
        // No idle connections are kept: deliveries are made from the caller's runtime or
        // from the sandbox's own worker threads, and a pooled connection belongs to one.
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build()
            .expect("a plain HTTP client builds");
        *self.lock_target() = Some(Target {
            url: url.to_owned(),
            secret: secret.to_owned(),
            client,
        });
    }

    fn lock_target(&self) -> std::sync::MutexGuard<'_, Option<Target>> {
        self.target.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn target(&self) -> Result<Target, DeliveryError> {
        self.lock_target().clone().ok_or(DeliveryError::NoTarget)
    }

    /// [`DeliveryError::NoTarget`] unless a target is set: a change that would send an event
    /// checks this before it changes anything.
    pub(crate) fn require_target(&self) -> Result<(), DeliveryError> {
        self.target().map(drop)
    }

    /// Posts `body` to the target with `signature` (none when `None`) and waits for the
    /// answer.
    pub(crate) async fn post(
        &self,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> Result<Delivery, DeliveryError> {
        let target = self.target()?;
        let event = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let mut request = target
            .client
            .post(&target.url)
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .body(body);
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        let transport = |e: reqwest::Error| DeliveryError::Transport {
            url: target.url.clone(),
            reason: e.without_url().to_string(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        Ok(Delivery {
            event,
            status,
            answer: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    /// Signs `event` now with the target's secret and delivers it.
    pub(crate) async fn send(&self, event: &Value) -> Result<Delivery, DeliveryError> {
        let target = self.target()?;
        let body = serde_json::to_vec(event).expect("JSON values serialise");
        let signature = signature_header(&target.secret, unix_now(), &body);
        self.post(body, Some(signature)).await
    }

    /// Delivers recorded events ([`crate::Store::record`]), in order, when a target is set
    /// (for the write endpoints: a failed delivery is logged, never an API error).
    pub(crate) async fn deliver_recorded(&self, events: Vec<Value>) {
        if self.lock_target().is_none() {
            return;
        }
        for event in events {
            match self.send(&event).await {
                Ok(delivery) if (200..300).contains(&delivery.status) => {}
                Ok(delivery) => tracing::warn!(
                    event_id = %event["id"], status = delivery.status,
                    "sandbox webhook refused by its receiver"
                ),
                Err(e) => {
                    tracing::warn!(event_id = %event["id"], error = %e, "sandbox webhook not delivered")
                }
            }
        }
    }
}
