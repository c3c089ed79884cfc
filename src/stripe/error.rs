//! Typed errors at the Stripe boundary.
//!
//! Every failed Stripe call becomes exactly one [`StripeError`] variant; the GraphQL layer maps
//! each variant once to an `extensions.code` (see `graphql::error`). No variant carries the API
//! key or Stripe's raw response body: only Stripe's machine-readable `code`, the `param` it
//! names, and the `Request-Id` for support tickets.
//!
//! **Which 404 means "does not exist".** A 404 is [`StripeError::NotFound`] only when it is
//! Stripe saying so about an object: `code: resource_missing` (Stripe), or a Stripe-shaped
//! error body without a code whose message is not "Unrecognized request URL" (localstripe,
//! which sends no codes). Any other 404 (Stripe's "Unrecognized request URL", a proxy's HTML
//! page, a plain-text 404) is [`StripeError::UnknownEndpoint`]: the request went to the wrong
//! place, typically a `STRIPE_API_BASE` that already ends in `/v1`, and turning it into
//! `null` would hide a misconfiguration behind silently empty joins.

use std::time::Duration;

/// What Stripe (or the network on the way to it) answered instead of the object.
///
/// `Clone` because one failed call is shared by every request coalesced onto it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// The object does not exist (`resource_missing`). `param` is the parameter Stripe named:
    /// `id` (or none) for a retrieve; for a list, the filter or cursor that names a missing
    /// object (`customer`, `starting_after`, …). The cache turns a missing retrieved object
    /// into `None`; elsewhere it surfaces as an error.
    #[error("the Stripe object{} does not exist", param.as_deref().filter(|p| *p != "id").map(|p| format!(" named by `{p}`")).unwrap_or_default())]
    NotFound {
        /// The parameter Stripe named, when it named one
        param: Option<String>,
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
    /// The object was deleted (`"deleted": true`, which Stripe sends with HTTP 200). The cache
    /// turns it into `None`, like a 404.
    #[error("the Stripe object was deleted")]
    Deleted,
    /// A 404 that is not about an object: Stripe does not know the URL (or something that is
    /// not Stripe answered). Never treated as "does not exist".
    #[error("Stripe does not recognise the request URL; check STRIPE_API_BASE (it is the host, e.g. https://api.stripe.com, without /v1)")]
    UnknownEndpoint {
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
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
    /// A card refused (`type: card_error`, usually HTTP 402): the request was valid but the
    /// payment method was declined, e.g. on a subscription's first invoice.
    #[error("Stripe declined the card{}", decline_code.as_deref().or(code.as_deref()).map(|c| format!(" ({c})")).unwrap_or_default())]
    CardDeclined {
        /// Stripe's `error.code`, e.g. `card_declined`
        code: Option<String>,
        /// Stripe's `error.decline_code`, e.g. `insufficient_funds`
        decline_code: Option<String>,
        /// Stripe's `error.param`
        param: Option<String>,
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
    /// `type: idempotency_error`: the `Idempotency-Key` was already used with other
    /// parameters (or another endpoint). Nothing was done.
    #[error("the idempotency key was already used for a different request; use a new key for a new request")]
    IdempotencyConflict {
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
    /// A 2xx answer that is another kind of object than the one asked for (e.g. a
    /// `search_result` where a `price` was expected).
    #[error("Stripe answered {} where {expected} was expected", found.as_deref().map(|f| format!("a `{f}`")).unwrap_or_else(|| "an object without a type".to_owned()))]
    UnexpectedObject {
        /// The `object` value asked for
        expected: &'static str,
        /// The `object` value Stripe sent, if any
        found: Option<String>,
        /// Stripe's `Request-Id`
        request_id: Option<String>,
    },
}

impl StripeError {
    /// Builds the error for a non-2xx answer from its status, its `Request-Id` header and its
    /// body. The body is read only for Stripe's `error.code`/`error.param` (and, for a 404, to
    /// tell a missing object from an unknown URL: see the module docs); a body that is not
    /// Stripe's JSON error shape (an HTML page from a proxy, localstripe's plain text) is fine.
    pub fn from_response(status: u16, request_id: Option<String>, body: &[u8]) -> StripeError {
        let envelope = serde_json::from_slice::<ErrorEnvelope>(body).ok();
        let stripe_shaped = envelope.is_some();
        let detail = envelope.map(|e| e.error).unwrap_or_default();
        let code = detail.code.as_deref();
        match detail.kind.as_deref() {
            Some("card_error") => {
                return StripeError::CardDeclined {
                    code: detail.code,
                    decline_code: detail.decline_code,
                    param: detail.param,
                    request_id,
                }
            }
            Some("idempotency_error") => return StripeError::IdempotencyConflict { request_id },
            _ => {}
        }
        match status {
            401 => StripeError::Authentication { request_id },
            403 => StripeError::PermissionDenied { request_id },
            429 => StripeError::RateLimited { request_id },
            400 if code == Some("rate_limit") => StripeError::RateLimited { request_id },
            _ if code == Some("resource_missing") => StripeError::NotFound {
                param: detail.param,
                request_id,
            },
            404 if stripe_shaped && code.is_none() && !detail.names_an_unknown_url() => {
                StripeError::NotFound {
                    param: detail.param,
                    request_id,
                }
            }
            404 => StripeError::UnknownEndpoint { request_id },
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

    /// The error for a write Stripe refused with HTTP 400: a `resource_missing` there names
    /// a parameter of the write (`items[0][price]`, `customer`, or none for "no payment
    /// method"), so it is a refused request ([`StripeError::InvalidRequest`] with code
    /// `resource_missing`), not an absent object. A 404 (the object in the URL) stays
    /// [`StripeError::NotFound`].
    pub fn refused_write(self) -> StripeError {
        match self {
            StripeError::NotFound { param, request_id } => StripeError::InvalidRequest {
                status: 400,
                code: Some("resource_missing".to_owned()),
                param,
                request_id,
            },
            other => other,
        }
    }

    /// Stripe's `Request-Id` for this failure, when Stripe answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            StripeError::NotFound { request_id, .. }
            | StripeError::UnknownEndpoint { request_id }
            | StripeError::InvalidRequest { request_id, .. }
            | StripeError::CardDeclined { request_id, .. }
            | StripeError::IdempotencyConflict { request_id }
            | StripeError::Authentication { request_id }
            | StripeError::PermissionDenied { request_id }
            | StripeError::RateLimited { request_id }
            | StripeError::Unavailable { request_id, .. }
            | StripeError::BadResponse { request_id }
            | StripeError::UnexpectedObject { request_id, .. } => request_id.as_deref(),
            StripeError::Deleted | StripeError::Timeout(_) => None,
        }
    }

    /// Whether the failure is Stripe's or the network's, not the request's: Stripe
    /// unreachable or failing (5xx, connection, timeout, an answer that is not JSON, as a
    /// proxy's error page is) or rate limiting, after the client's retries. It clears on its
    /// own: the cache serves its last good value instead (stale-if-error), and a Hasura event
    /// is asked to come again. Answers about the request itself (a bad key, a missing
    /// permission, a refused parameter) and an answer that is another kind of object (a wrong
    /// route) are not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StripeError::Unavailable { .. }
                | StripeError::Timeout(_)
                | StripeError::RateLimited { .. }
                | StripeError::BadResponse { .. }
        )
    }

    /// The parameter Stripe named, for the errors that carry one.
    pub fn param(&self) -> Option<&str> {
        match self {
            StripeError::NotFound { param, .. }
            | StripeError::InvalidRequest { param, .. }
            | StripeError::CardDeclined { param, .. } => param.as_deref(),
            _ => None,
        }
    }
}

#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    error: ErrorDetail,
}

#[derive(serde::Deserialize, Default)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    param: Option<String>,
    message: Option<String>,
}

impl ErrorDetail {
    /// Stripe's answer to a URL it has no route for ("Unrecognized request URL (GET: …)").
    /// The message is read for this test only and never kept.
    fn names_an_unknown_url(&self) -> bool {
        self.message
            .as_deref()
            .is_some_and(|m| m.starts_with("Unrecognized request URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid() -> Option<String> {
        Some("req_1".to_owned())
    }

    #[test]
    fn maps_stripe_statuses_to_variants() {
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
    fn resource_missing_is_not_found_with_the_parameter_stripe_named() {
        let missing_object = br#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"id","message":"No such customer: 'cus_1'"}}"#;
        assert_eq!(
            StripeError::from_response(404, rid(), missing_object),
            StripeError::NotFound {
                param: Some("id".into()),
                request_id: rid()
            }
        );
        let missing_cursor = br#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"starting_after"}}"#;
        let err = StripeError::from_response(400, None, missing_cursor);
        assert_eq!(err.param(), Some("starting_after"));
        assert_eq!(
            err.to_string(),
            "the Stripe object named by `starting_after` does not exist"
        );
    }

    #[test]
    fn a_404_for_an_unknown_url_is_never_not_found() {
        let stripe = br#"{"error":{"type":"invalid_request_error","message":"Unrecognized request URL (GET: /v1/v1/customers/cus_1). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."}}"#;
        for body in [
            &stripe[..],
            b"<html>Not Found</html>",
            b"404: Not Found",
            b"",
        ] {
            assert_eq!(
                StripeError::from_response(404, rid(), body),
                StripeError::UnknownEndpoint { request_id: rid() },
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_stripe_shaped_404_without_a_code_is_not_found_as_localstripe_sends_it() {
        let body = br#"{"error":{"message":"Not Found","type":"invalid_request_error"}}"#;
        assert_eq!(
            StripeError::from_response(404, None, body),
            StripeError::NotFound {
                param: None,
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

    #[test]
    fn an_unexpected_object_names_both_types() {
        let err = StripeError::UnexpectedObject {
            expected: "price",
            found: Some("search_result".into()),
            request_id: None,
        };
        assert_eq!(
            err.to_string(),
            "Stripe answered a `search_result` where price was expected"
        );
    }

    #[test]
    fn a_card_error_keeps_its_decline_code_and_param() {
        let body = br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","param":"payment_method","message":"Your card has insufficient funds."}}"#;
        let err = StripeError::from_response(402, rid(), body);
        assert_eq!(
            err,
            StripeError::CardDeclined {
                code: Some("card_declined".into()),
                decline_code: Some("insufficient_funds".into()),
                param: Some("payment_method".into()),
                request_id: rid()
            }
        );
        assert_eq!(err.param(), Some("payment_method"));
        assert_eq!(
            err.to_string(),
            "Stripe declined the card (insufficient_funds)"
        );
    }

    #[test]
    fn an_idempotency_error_is_its_own_variant() {
        let body = br#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}"#;
        assert_eq!(
            StripeError::from_response(400, rid(), body),
            StripeError::IdempotencyConflict { request_id: rid() }
        );
    }

    #[test]
    fn a_write_refused_for_a_missing_object_it_names_is_an_invalid_request() {
        let body = br#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"items[0][price]"}}"#;
        let err = StripeError::from_response(400, None, body).refused_write();
        assert_eq!(
            err,
            StripeError::InvalidRequest {
                status: 400,
                code: Some("resource_missing".into()),
                param: Some("items[0][price]".into()),
                request_id: None
            }
        );
        let other = StripeError::RateLimited { request_id: None };
        assert_eq!(other.clone().refused_write(), other);
    }
}
