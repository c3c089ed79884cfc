//! Typed errors at the Stripe boundary.
//!
//! Every failed Stripe call becomes exactly one [`StripeError`] variant; the GraphQL layer maps
//! each variant once to an `extensions.code` (see `graphql::error`). No variant carries the API
//! key or Stripe's raw response body: only Stripe's machine-readable `code`, the `param` it
//! names, and the `Request-Id` for support tickets.

use std::time::Duration;

/// What Stripe (or the network on the way to it) answered instead of the object.
///
/// `Clone` because one failed call is shared by every request coalesced onto it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// 404: the object does not exist. The cache turns it into `None` for single objects; it
    /// surfaces only where absence is not a valid answer.
    #[error("the Stripe object does not exist")]
    NotFound {
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
    /// The object was deleted (`"deleted": true`, which Stripe sends with HTTP 200). The cache
    /// turns it into `None`, like a 404.
    #[error("the Stripe object was deleted")]
    Deleted,
    /// 400 (or 402/409): Stripe refused the parameters.
    #[error("Stripe rejected the request{}", param.as_deref().map(|p| format!(" (parameter `{p}`)")).unwrap_or_default())]
    InvalidRequest {
        /// HTTP status
        status: u16,
        /// Stripe's `error.code`, e.g. `parameter_unknown`
        code: Option<String>,
        /// Stripe's `error.param`
        param: Option<String>,
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
    /// 401: the API key was missing, malformed, revoked or expired.
    #[error("Stripe did not accept the configured API key")]
    Authentication {
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
    /// 403: the key is valid but lacks permission (restricted key).
    #[error("the configured Stripe API key lacks permission for this request")]
    PermissionDenied {
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
    /// 429: too many requests (or a `lock_timeout`).
    #[error("Stripe is rate limiting this account; try again shortly")]
    RateLimited {
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
    /// 5xx, a refused connection, or another transport failure.
    #[error("Stripe is unavailable{}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Unavailable {
        /// HTTP status when Stripe answered
        status: Option<u16>,
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
    /// No answer within the configured timeout.
    #[error("Stripe did not answer within {}s", .0.as_secs_f32())]
    Timeout(Duration),
    /// A 2xx answer that does not parse as the expected object.
    #[error("Stripe sent a response this server cannot read")]
    BadResponse {
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
}

impl StripeError {
    /// Builds the error for a non-2xx answer from its status, its `Request-Id` header and its
    /// body. The body is read only for Stripe's `error.code`/`error.param`; a body that is not
    /// Stripe's JSON error shape (an HTML page from a proxy, localstripe's plain text) is fine.
    pub fn from_response(status: u16, request_id: Option<String>, body: &[u8]) -> StripeError {
        let detail = serde_json::from_slice::<ErrorEnvelope>(body)
            .map(|e| e.error)
            .unwrap_or_default();
        match status {
            404 => StripeError::NotFound { request_id },
            401 => StripeError::Authentication { request_id },
            403 => StripeError::PermissionDenied { request_id },
            429 => StripeError::RateLimited { request_id },
            400 if detail.code.as_deref() == Some("rate_limit") => {
                StripeError::RateLimited { request_id }
            }
            s if s >= 500 => StripeError::Unavailable {
                status: Some(s),
                request_id,
            },
            s => StripeError::InvalidRequest {
                status: s,
                code: detail.code,
                param: detail.param,
                request_id,
            },
        }
    }

    /// Stripe's `Request-Id` for this failure, when Stripe answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            StripeError::NotFound { request_id }
            | StripeError::InvalidRequest { request_id, .. }
            | StripeError::Authentication { request_id }
            | StripeError::PermissionDenied { request_id }
            | StripeError::RateLimited { request_id }
            | StripeError::Unavailable { request_id, .. }
            | StripeError::BadResponse { request_id } => request_id.as_deref(),
            StripeError::Deleted | StripeError::Timeout(_) => None,
        }
    }
}

#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    error: ErrorDetail,
}

#[derive(serde::Deserialize, Default)]
struct ErrorDetail {
    code: Option<String>,
    param: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_stripe_statuses_to_variants() {
        let rid = || Some("req_1".to_owned());
        assert_eq!(
            StripeError::from_response(404, rid(), b"{}"),
            StripeError::NotFound { request_id: rid() }
        );
        assert_eq!(
            StripeError::from_response(401, rid(), b""),
            StripeError::Authentication { request_id: rid() }
        );
        assert_eq!(
            StripeError::from_response(429, rid(), b""),
            StripeError::RateLimited { request_id: rid() }
        );
        assert_eq!(
            StripeError::from_response(503, None, b"<html>"),
            StripeError::Unavailable {
                status: Some(503),
                request_id: None
            }
        );
    }

    #[test]
    fn keeps_stripe_code_and_param_but_not_the_message() {
        let body = br#"{"error":{"type":"invalid_request_error","code":"parameter_unknown","param":"colour","message":"Received unknown parameter: colour sk_test_secret"}}"#;
        let err = StripeError::from_response(400, None, body);
        assert_eq!(
            err,
            StripeError::InvalidRequest {
                status: 400,
                code: Some("parameter_unknown".into()),
                param: Some("colour".into()),
                request_id: None
            }
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("sk_test_secret"));
        assert!(!shown.contains("Received unknown"));
    }

    #[test]
    fn a_400_with_rate_limit_code_is_rate_limiting() {
        let body = br#"{"error":{"type":"invalid_request_error","code":"rate_limit"}}"#;
        assert_eq!(
            StripeError::from_response(400, None, body),
            StripeError::RateLimited { request_id: None }
        );
    }
}
