//! `POST /webhooks/stripe`: one Stripe event delivery, handed to [`Intake`]. No bearer token:
//! the `Stripe-Signature` header authenticates it. Answers
//!
//! - 200 `{"received": true, "outcome": "applied", "id", "type"}` once what the event makes
//!   stale was evicted (and the profile's dates written), or `"outcome": "ignored"` with a
//!   `reason` for a type that changes nothing here;
//! - 400 for a missing, malformed, wrong or out-of-tolerance signature, or a signed body that
//!   is not a usable event; nothing changes;
//! - 413 for a body over `MAX_BODY_BYTES`; 404 when `STRIPE_WEBHOOK_SECRET` is not set;
//! - 500 when the profile's dates could not be written (Stripe delivers it again).
//!
//! Refusals are `{"received": false, "error": {"code", "message"}}` ([`reply`]). No answer
//! holds the secret or the expected signature.

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{
    body,
    reply::{self, Code},
};
use crate::{
    events::{
        intake::{Delivered, Intake, Outcome, Rejected},
        signature::SignatureError,
        SIGNATURE_HEADER,
    },
    metrics::{Metrics, WebhookOutcome},
};

/// What the route serves with: the intake, when webhooks are enabled.
pub struct WebhookRoute {
    pub intake: Option<Intake>,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
}

/// The handler.
pub async fn post(
    route: web::Data<WebhookRoute>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Some(intake) = &route.intake else {
        return reply::webhook_error(
            StatusCode::NOT_FOUND,
            Code::WebhooksDisabled,
            "webhooks are disabled: set STRIPE_WEBHOOK_SECRET (or --stripe-webhook-secret) to the endpoint's signing secret (whsec_…) to enable POST /webhooks/stripe",
        );
    };
    let body = match body::read(&req, payload, route.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => {
            route.metrics.webhook(None, WebhookOutcome::Rejected);
            return reply::webhook_error(e.status(), e.code(), &e.to_string());
        }
    };
    let signature = req.headers().get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    match intake.receive(signature, &body).await {
        Outcome::Applied(delivered) => received(&delivered, "applied", None),
        Outcome::Ignored(delivered) => {
            let reason = format!(
                "`{}` events do not change anything this server caches",
                delivered.event_type
            );
            received(&delivered, "ignored", Some(reason))
        }
        Outcome::Rejected(rejected) => reply::webhook_error(
            StatusCode::BAD_REQUEST,
            code_of(&rejected),
            &rejected.to_string(),
        ),
        Outcome::ProfileFailed(_, e) => reply::webhook_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::ProfileUpdateFailed,
            &format!("the profile's lifecycle dates could not be updated: {e}"),
        ),
    }
}

/// The 200 for a verified delivery.
fn received(delivered: &Delivered, outcome: &str, reason: Option<String>) -> HttpResponse {
    let mut answer = json!({
        "received": true,
        "outcome": outcome,
        "id": delivered.id,
        "type": delivered.event_type,
    });
    if let Some(reason) = reason {
        answer["reason"] = json!(reason);
    }
    HttpResponse::Ok().json(answer)
}

/// The code of a refused delivery.
fn code_of(rejected: &Rejected) -> Code {
    match rejected {
        Rejected::Signature(SignatureError::Missing) => Code::MissingSignature,
        Rejected::Signature(SignatureError::Malformed(_)) => Code::MalformedSignature,
        Rejected::Signature(SignatureError::NoV1) => Code::NoV1Signature,
        Rejected::Signature(SignatureError::TooOld { .. } | SignatureError::InFuture { .. }) => {
            Code::TimestampOutsideTolerance
        }
        Rejected::Signature(SignatureError::Mismatch) => Code::SignatureMismatch,
        Rejected::Event { .. } => Code::InvalidEvent,
    }
}
