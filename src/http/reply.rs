//! The JSON error bodies of the HTTP layer, and their one set of codes.
//!
//! Every error answer is JSON (never actix's plain text, never HTML), and every code in it is
//! UPPER_SNAKE, like the GraphQL `extensions.code`s ([`crate::graphql::error`]). Each route
//! keeps the envelope its callers read:
//!
//! | route | envelope |
//! |---|---|
//! | `/graphql`, `/metrics` | GraphQL-shaped: `{"errors": [{"message", "extensions": {"code"}}]}` ([`graphql_error`]) |
//! | `/webhooks/stripe` | `{"received": false, "error": {"code", "message"}}` ([`webhook_error`]) |
//! | `/hasura/events` | `{"error": {"code", "message"}}` ([`error`]) |
//!
//! The codes ([`Code`]), also in the README's error table:
//!
//! | code | status | when |
//! |---|---|---|
//! | `UNAUTHENTICATED` | 401 | no or a wrong `Authorization: Bearer` token |
//! | `FORBIDDEN` | 403 | `/hasura/events` on a server with no token configured (it writes to Stripe) |
//! | `OVERLOADED` | 503 | more GraphQL requests in flight than `MAX_REQUESTS_IN_FLIGHT` (`Retry-After: 1`) |
//! | `BAD_REQUEST` | 400 | a body that cannot be read, or is not a GraphQL request |
//! | `PAYLOAD_TOO_LARGE` | 413 | a body over `MAX_BODY_BYTES`, on every POST route |
//! | `WEBHOOKS_DISABLED` | 404 | `/webhooks/stripe` without `STRIPE_WEBHOOK_SECRET` |
//! | `MISSING_SIGNATURE`, `MALFORMED_SIGNATURE`, `NO_V1_SIGNATURE`, `SIGNATURE_MISMATCH`, `TIMESTAMP_OUTSIDE_TOLERANCE` | 400 | a webhook whose `Stripe-Signature` does not verify |
//! | `INVALID_EVENT` | 400 | a signed webhook that is not a usable Stripe event; a Hasura payload that is not a `public.customers` event |
//! | `PROFILE_UPDATE_FAILED` | 500 | a webhook whose profile dates could not be written (Stripe delivers it again) |
//! | `HASURA_NOT_CONFIGURED` | 503 | `/hasura/events` without `HASURA_GRAPHQL_URL` |
//! | `PROFILE_LINK_CONFLICT` | 409 | a Hasura event whose profile is linked to a missing or another customer (a person must look) |
//! | `UPSTREAM_REFUSED` | 502 | a Hasura event that Stripe or Hasura refused (a permission, a parameter): Hasura retries it per `retry_conf` |
//! | `UPSTREAM_FAILED` | 503 | a Hasura event that failed because Stripe or Hasura was unreachable, failing or rate limiting (with `Retry-After`: Hasura delivers it until it succeeds) |

use actix_web::{http::StatusCode, HttpResponse};
use serde_json::json;

/// An error code of the HTTP layer (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    Overloaded,
    BadRequest,
    PayloadTooLarge,
    WebhooksDisabled,
    MissingSignature,
    MalformedSignature,
    NoV1Signature,
    SignatureMismatch,
    TimestampOutsideTolerance,
    InvalidEvent,
    ProfileUpdateFailed,
    HasuraNotConfigured,
    ProfileLinkConflict,
    UpstreamRefused,
    UpstreamFailed,
}

impl Code {
    /// Every code, for the tests that check the table.
    pub const ALL: [Code; 17] = [
        Code::Unauthenticated,
        Code::Forbidden,
        Code::Overloaded,
        Code::BadRequest,
        Code::PayloadTooLarge,
        Code::WebhooksDisabled,
        Code::MissingSignature,
        Code::MalformedSignature,
        Code::NoV1Signature,
        Code::SignatureMismatch,
        Code::TimestampOutsideTolerance,
        Code::InvalidEvent,
        Code::ProfileUpdateFailed,
        Code::HasuraNotConfigured,
        Code::ProfileLinkConflict,
        Code::UpstreamRefused,
        Code::UpstreamFailed,
    ];

    /// The code as it appears in a body.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::Overloaded => "OVERLOADED",
            Code::BadRequest => "BAD_REQUEST",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::WebhooksDisabled => "WEBHOOKS_DISABLED",
            Code::MissingSignature => "MISSING_SIGNATURE",
            Code::MalformedSignature => "MALFORMED_SIGNATURE",
            Code::NoV1Signature => "NO_V1_SIGNATURE",
            Code::SignatureMismatch => "SIGNATURE_MISMATCH",
            Code::TimestampOutsideTolerance => "TIMESTAMP_OUTSIDE_TOLERANCE",
            Code::InvalidEvent => "INVALID_EVENT",
            Code::ProfileUpdateFailed => "PROFILE_UPDATE_FAILED",
            Code::HasuraNotConfigured => "HASURA_NOT_CONFIGURED",
            Code::ProfileLinkConflict => "PROFILE_LINK_CONFLICT",
            Code::UpstreamRefused => "UPSTREAM_REFUSED",
            Code::UpstreamFailed => "UPSTREAM_FAILED",
        }
    }
}

/// A GraphQL-shaped error answer.
pub fn graphql_error(status: StatusCode, code: Code, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(
        json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] }),
    )
}

/// A webhook refusal: `{"received": false, "error": {…}}`, as Stripe's dashboard shows it.
pub fn webhook_error(status: StatusCode, code: Code, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "received": false,
        "error": { "code": code.as_str(), "message": message },
    }))
}

/// A plain error answer: `{"error": {"code", "message"}}`.
pub fn error(status: StatusCode, code: Code, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .json(json!({ "error": { "code": code.as_str(), "message": message } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_upper_snake_and_in_the_documented_table() {
        let docs = include_str!("reply.rs");
        for code in Code::ALL {
            let text = code.as_str();
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{text}"
            );
            assert!(
                docs.contains(&format!("`{text}`")),
                "{text} is not in the table"
            );
        }
    }
}
