//! Stripe event intake: what a Stripe event delivered to `POST /webhooks/stripe` does to this
//! server's state.
//!
//! | module | holds |
//! |---|---|
//! | [`intake`] | the use case: verify → invalidate → profile dates → [`intake::Outcome`] |

pub mod intake;
