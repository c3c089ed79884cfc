//! `GET /healthz` (liveness) and `GET /readyz` (readiness: does Stripe accept the key, and,
//! with the mirror, is its first backfill complete).

use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use serde_json::json;
use tokio::sync::Mutex;

use crate::{graphql::error::code_of, mirror::Mirror, stripe::StripeClient};

/// The `reason` of a 503 while the mirror's first backfill runs.
pub const MIRROR_WARMING: &str = "MIRROR_WARMING";

/// How long a readiness answer is reused.
pub const READINESS_TTL: Duration = Duration::from_secs(30);

/// The readiness answer: whether Stripe accepts the key, asked at most every
/// [`READINESS_TTL`] and never through the cache.
pub struct Readiness {
    stripe: StripeClient,
    mirror: Option<Mirror>,
    last: Mutex<Option<(Instant, Result<(), &'static str>)>>,
}

impl Readiness {
    /// Asks `stripe` (uncached) when asked; with `mirror`, not ready until its first backfill
    /// is complete ([`MIRROR_WARMING`]).
    pub fn new(stripe: StripeClient, mirror: Option<Mirror>) -> Readiness {
        Readiness {
            stripe,
            mirror,
            last: Mutex::new(None),
        }
    }

    /// `Ok` when Stripe accepted the key within the last [`READINESS_TTL`], else the error
    /// code of why not.
    async fn check(&self) -> Result<(), &'static str> {
        if self.mirror.as_ref().is_some_and(|m| !m.is_ready()) {
            return Err(MIRROR_WARMING);
        }
        let mut last = self.last.lock().await;
        match *last {
            Some((at, outcome)) if at.elapsed() < READINESS_TTL => outcome,
            _ => {
                let outcome = self.stripe.check_key().await.map_err(|e| code_of(&e));
                *last = Some((Instant::now(), outcome));
                outcome
            }
        }
    }
}

/// `GET /healthz`: 200 while the process serves HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 `ready`, or 503 `unavailable` with the Stripe error code as `reason`
/// (or [`MIRROR_WARMING`] while the mirror's first backfill runs).
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.check().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(code) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "reason": code })),
    }
}
