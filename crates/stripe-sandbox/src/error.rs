//! The sandbox's refusals: [`ApiError`], an HTTP status and a body in Stripe's error shape,
//! `{"error": {"type", "code", "param", "message", "doc_url"}}` (each field as Stripe sends it
//! for that refusal; some have no `code`, `param` or `doc_url`).
//!
//! The shapes every endpoint shares are built here; a refusal only one module makes (a form's
//! parameter, an idempotency key, a search query, a write the object's state forbids) is built
//! beside its rule, in the same shape.

use serde_json::{json, Value};

/// A refusal in Stripe's error shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The `{"error": {...}}` body.
    pub body: Value,
}

impl ApiError {
    /// `invalid_request_error` with a code, a param, a message and the code's `doc_url`.
    pub fn invalid(status: u16, code: &str, param: Option<&str>, message: String) -> ApiError {
        ApiError {
            status,
            body: json!({"error": {
                "type": "invalid_request_error", "code": code, "param": param, "message": message,
                "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
            }}),
        }
    }

    /// 404 `resource_missing` for the object of type `noun` with id `id`, named by `param`.
    pub fn missing(noun: &str, id: &str, param: &str) -> ApiError {
        ApiError::invalid(
            404,
            "resource_missing",
            Some(param),
            format!("No such {noun}: '{id}'"),
        )
    }

    /// 404 for a method and path Stripe has no endpoint for, worded as Stripe words it.
    pub fn unrecognized(method: &str, path: &str) -> ApiError {
        ApiError {
            status: 404,
            body: json!({"error": {
                "type": "invalid_request_error",
                "message": format!(
                    "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
                ),
            }}),
        }
    }

    /// 400 `parameter_invalid` naming `param`.
    pub(crate) fn bad_param(param: &str, message: String) -> ApiError {
        ApiError::invalid(400, "parameter_invalid", Some(param), message)
    }

    /// 401 for a request without the sandbox's key: none sent (`authorization_sent` false),
    /// or another one.
    pub fn unauthorized(authorization_sent: bool) -> ApiError {
        let message = if authorization_sent {
            "Invalid API Key provided."
        } else {
            "You did not provide an API key. Provide it in the Authorization header as `Bearer <key>`."
        };
        ApiError {
            status: 401,
            body: json!({"error": {"type": "invalid_request_error", "message": message}}),
        }
    }

    /// An injected failure with `status` ([`Fault::Status`](crate::Fault::Status)), as Stripe
    /// words such answers: `rate_limit` for 429, `api_error` for 5xx.
    /// Stripe's 429 for a request over a rate limit.
    pub fn rate_limited() -> ApiError {
        ApiError::injected(429)
    }

    pub fn injected(status: u16) -> ApiError {
        let (kind, code, message) = match status {
            429 => (
                "invalid_request_error",
                Some("rate_limit"),
                "Too many requests hit the API too quickly.",
            ),
            s if s >= 500 => ("api_error", None, "An unknown error occurred."),
            _ => ("invalid_request_error", None, "Injected failure."),
        };
        ApiError {
            status,
            body: json!({"error": {"type": kind, "code": code, "message": message}}),
        }
    }
}
