//! Stripe event intake: what a Stripe event delivered to `POST /webhooks/stripe` does to this
//! server's state.
//!
//! | module | holds |
//! |---|---|
//! | [`intake`] | the use case: verify → invalidate → profile dates → [`intake::Outcome`] |
//! | [`signature`] | the `Stripe-Signature` check (pure) and the endpoint's settings |
//! | [`stale`] | what an event makes stale in the cache (pure) |
//!
//! The typed event itself is a Stripe model: [`crate::stripe::event`].

pub mod intake;
pub mod signature;
pub mod stale;

pub use signature::{WebhookSettings, DEFAULT_TOLERANCE, SIGNATURE_HEADER};
