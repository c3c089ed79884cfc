//! The one mapping from internal errors to GraphQL errors.
//!
//! | error | `extensions.code` |
//! |---|---|
//! | malformed id or argument | `BAD_USER_INPUT` |
//! | Stripe 404 where absence is not an answer | `STRIPE_NOT_FOUND` |
//! | Stripe 400/402/409 | `STRIPE_INVALID_REQUEST` (+ `stripeCode`, `param`) |
//! | Stripe 401 | `STRIPE_AUTHENTICATION_FAILED` |
//! | Stripe 403 | `STRIPE_PERMISSION_DENIED` |
//! | Stripe 429 | `STRIPE_RATE_LIMITED` |
//! | Stripe 5xx or unreachable | `STRIPE_UNAVAILABLE` |
//! | no answer within the timeout | `STRIPE_TIMEOUT` |
//! | unreadable Stripe answer | `STRIPE_BAD_RESPONSE` |
//!
//! Messages come from the typed errors' `Display`, which never includes the API key or
//! Stripe's raw body; `stripeRequestId` is added when Stripe answered, for support tickets.

use async_graphql::{Error, ErrorExtensions};

use crate::{ids::IdError, stripe::StripeError};

/// The `extensions.code` for a Stripe error.
pub fn code_of(e: &StripeError) -> &'static str {
    match e {
        StripeError::NotFound { .. } | StripeError::Deleted => "STRIPE_NOT_FOUND",
        StripeError::InvalidRequest { .. } => "STRIPE_INVALID_REQUEST",
        StripeError::Authentication { .. } => "STRIPE_AUTHENTICATION_FAILED",
        StripeError::PermissionDenied { .. } => "STRIPE_PERMISSION_DENIED",
        StripeError::RateLimited { .. } => "STRIPE_RATE_LIMITED",
        StripeError::Unavailable { .. } => "STRIPE_UNAVAILABLE",
        StripeError::Timeout(_) => "STRIPE_TIMEOUT",
        StripeError::BadResponse { .. } => "STRIPE_BAD_RESPONSE",
    }
}

impl ErrorExtensions for StripeError {
    fn extend(&self) -> Error {
        Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", code_of(self));
            if let Some(id) = self.request_id() {
                ext.set("stripeRequestId", id);
            }
            if let StripeError::InvalidRequest { code, param, .. } = self {
                if let Some(code) = code {
                    ext.set("stripeCode", code.as_str());
                }
                if let Some(param) = param {
                    ext.set("param", param.as_str());
                }
            }
        })
    }
}

/// A `BAD_USER_INPUT` error with this message.
pub fn bad_input(message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", "BAD_USER_INPUT"))
}

/// Maps a result's error through the table above. Resolvers call `.gql()?` instead of `?`,
/// because async-graphql's blanket `From<Display>` would otherwise drop the code.
pub trait GqlResult<T> {
    /// Converts the error into a GraphQL error with its `extensions.code`.
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, StripeError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.extend())
    }
}

impl<T> GqlResult<T> for Result<T, IdError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| bad_input(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_errors_carry_their_code_and_request_id() {
        let err = StripeError::RateLimited {
            request_id: Some("req_9".into()),
        }
        .extend();
        let ext = err.extensions.expect("extensions");
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from("STRIPE_RATE_LIMITED"))
        );
        assert_eq!(
            ext.get("stripeRequestId"),
            Some(&async_graphql::Value::from("req_9"))
        );
    }

    #[test]
    fn id_errors_are_bad_user_input() {
        let err = Err::<(), _>(IdError::Empty { noun: "customer" })
            .gql()
            .unwrap_err();
        assert_eq!(err.message, "customer id must not be empty");
        assert_eq!(
            err.extensions.unwrap().get("code"),
            Some(&async_graphql::Value::from("BAD_USER_INPUT"))
        );
    }
}
