//! The one mapping from internal errors to GraphQL errors.
//!
//! | error | `extensions.code` |
//! |---|---|
//! | a document that does not parse (or nests too deep to parse) | `GRAPHQL_PARSE_FAILED` |
//! | a document the schema refuses (unknown field, bad enum value, wrong argument type) | `GRAPHQL_VALIDATION_FAILED` |
//! | more fields that can call Stripe than `MAX_STRIPE_FIELDS` (+ `stripeFields`, `limit`) | `QUERY_BUDGET_EXCEEDED` |
//! | more fields than `MAX_QUERY_COMPLEXITY` (+ `complexity` when counted here, `limit`) | `QUERY_TOO_COMPLEX` |
//! | a selection deeper than `MAX_QUERY_DEPTH` (+ `limit`) | `QUERY_TOO_DEEP` |
//! | no answer within `REQUEST_DEADLINE_SECONDS` (+ `limitSeconds`) | `REQUEST_TIMEOUT` |
//! | no operation to run (unknown `operationName`, several operations and none named) | `GRAPHQL_VALIDATION_FAILED` |
//! | malformed id or argument (including an argument out of its type's range) | `BAD_USER_INPUT` |
//! | a list root field asked for by a scoped Hasura role ([`super::scope`]) | `FORBIDDEN` |
//! | Stripe 404 where absence is not an answer (a vanished cursor) | `STRIPE_NOT_FOUND` (+ `param`) |
//! | Stripe 404 for a URL it does not know (wrong `STRIPE_API_BASE`) | `STRIPE_UNKNOWN_ENDPOINT` |
//! | Stripe 400/402/409 | `STRIPE_INVALID_REQUEST` (+ `stripeCode`, `param`) |
//! | Stripe `card_error` (402) | `STRIPE_CARD_ERROR` (+ `stripeCode`, `declineCode`, `param`) |
//! | Stripe `idempotency_error` (a key reused with other parameters) | `STRIPE_IDEMPOTENCY_ERROR` |
//! | a mutation from a caller that may not write ([`super::write`]) | `FORBIDDEN` |
//! | Stripe 401 | `STRIPE_AUTHENTICATION_FAILED` |
//! | Stripe 403 | `STRIPE_PERMISSION_DENIED` |
//! | Stripe 429 | `STRIPE_RATE_LIMITED` |
//! | Stripe 5xx or unreachable | `STRIPE_UNAVAILABLE` |
//! | no answer within the timeout | `STRIPE_TIMEOUT` |
//! | unreadable Stripe answer, or another kind of object than asked for | `STRIPE_BAD_RESPONSE` |
//! | anything else (a bug) | `INTERNAL_SERVER_ERROR` |
//!
//! [`assign_codes`] gives the errors async-graphql raises itself (validation, operation
//! selection) their codes, and [`parse_failed`] parse errors theirs, so every error a client
//! sees has one.
//!
//! Messages come from the typed errors' `Display`, which never includes the API key or
//! Stripe's raw body; `stripeRequestId` is added when Stripe answered, for support tickets.

use async_graphql::{Error, ErrorExtensions, Response, ServerError};

use crate::{ids::IdError, limits::Limits, stripe::StripeError};

/// The `extensions.code` for a Stripe error.
pub fn code_of(e: &StripeError) -> &'static str {
    match e {
        StripeError::NotFound { .. } | StripeError::Deleted => "STRIPE_NOT_FOUND",
        StripeError::UnknownEndpoint { .. } => "STRIPE_UNKNOWN_ENDPOINT",
        StripeError::InvalidRequest { .. } => "STRIPE_INVALID_REQUEST",
        StripeError::CardDeclined { .. } => "STRIPE_CARD_ERROR",
        StripeError::IdempotencyConflict { .. } => "STRIPE_IDEMPOTENCY_ERROR",
        StripeError::Authentication { .. } => "STRIPE_AUTHENTICATION_FAILED",
        StripeError::PermissionDenied { .. } => "STRIPE_PERMISSION_DENIED",
        StripeError::RateLimited { .. } => "STRIPE_RATE_LIMITED",
        StripeError::Unavailable { .. } => "STRIPE_UNAVAILABLE",
        StripeError::Timeout(_) => "STRIPE_TIMEOUT",
        StripeError::BadResponse { .. } | StripeError::UnexpectedObject { .. } => {
            "STRIPE_BAD_RESPONSE"
        }
    }
}

impl ErrorExtensions for StripeError {
    fn extend(&self) -> Error {
        Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", code_of(self));
            if let Some(id) = self.request_id() {
                ext.set("stripeRequestId", id);
            }
            if let StripeError::InvalidRequest {
                code: Some(code), ..
            } = self
            {
                ext.set("stripeCode", code.as_str());
            }
            if let StripeError::CardDeclined {
                code, decline_code, ..
            } = self
            {
                if let Some(code) = code {
                    ext.set("stripeCode", code.as_str());
                }
                if let Some(decline_code) = decline_code {
                    ext.set("declineCode", decline_code.as_str());
                }
            }
            if let Some(param) = self.param() {
                ext.set("param", param);
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

/// The message async-graphql gives a document nested deeper than its parser's recursion
/// limit: a parse failure, though it is raised after the text parsed.
const TOO_DEEP_TO_PARSE: &str = "The recursion depth of the query cannot be greater than";

/// async-graphql's message for a document over its complexity limit.
const TOO_COMPLEX: &str = "Query is too complex.";

/// async-graphql's message for a document over its depth limit.
const TOO_DEEP: &str = "Query is nested too deep.";

/// The error for an operation selecting `count` fields that can call Stripe, over `limit`.
pub fn budget_exceeded(count: usize, limit: usize) -> ServerError {
    let mut error = ServerError::new(
        format!(
            "the query selects {count} fields that can call Stripe (each alias and each \
             nested lookup counts once), more than the {limit} allowed (MAX_STRIPE_FIELDS): \
             split it into smaller requests"
        ),
        None,
    );
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", "QUERY_BUDGET_EXCEEDED");
    extensions.set("stripeFields", count);
    extensions.set("limit", limit);
    error
}

/// The error for a request not answered within `REQUEST_DEADLINE_SECONDS` (`seconds`).
pub fn request_timeout(seconds: u64) -> ServerError {
    let mut error = ServerError::new(
        format!(
            "the request was not answered within {seconds} s (REQUEST_DEADLINE_SECONDS); \
             the Stripe calls it started go on and fill the cache, so retrying soon is cheaper"
        ),
        None,
    );
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", "REQUEST_TIMEOUT");
    extensions.set("limitSeconds", seconds);
    error
}

/// The error for an operation selecting `count` fields, over the complexity `limit`.
pub fn too_complex(count: usize, limit: usize) -> ServerError {
    let mut error = ServerError::new(
        format!(
            "the query selects {count} fields, more than the {limit} allowed \
             (MAX_QUERY_COMPLEXITY): split it into smaller requests"
        ),
        None,
    );
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", "QUERY_TOO_COMPLEX");
    extensions.set("complexity", count);
    extensions.set("limit", limit);
    error
}

/// Adds the `limit` extension to the depth and complexity errors async-graphql raised
/// (coded by [`assign_codes`]), so the client knows the bound it crossed.
pub fn add_limits(response: &mut Response, limits: &Limits) {
    for error in &mut response.errors {
        let Some(extensions) = error.extensions.as_mut() else {
            continue;
        };
        let limit = match extensions.get("code") {
            Some(async_graphql::Value::String(code)) if code == "QUERY_TOO_DEEP" => {
                limits.max_query_depth
            }
            Some(async_graphql::Value::String(code)) if code == "QUERY_TOO_COMPLEX" => {
                limits.max_query_complexity
            }
            _ => continue,
        };
        if extensions.get("limit").is_none() {
            extensions.set("limit", limit);
        }
    }
}

/// Gives a parse error its code.
pub fn parse_failed(error: ServerError) -> ServerError {
    with_code(error, "GRAPHQL_PARSE_FAILED")
}

/// Gives every error async-graphql raised itself (validation, operation selection, argument
/// coercion) an `extensions.code`, so every error a client sees has one. Errors that already
/// carry a code (ours) are left alone.
///
/// This runs on the response rather than as an async-graphql extension: any extension makes
/// async-graphql take a slower path for every field it resolves (a registry lookup and a
/// boxed future per field and extension), which cost a warm seed query a large share of its
/// time.
pub fn assign_codes(response: &mut Response) {
    if response.errors.is_empty() {
        return;
    }
    response.errors = std::mem::take(&mut response.errors)
        .into_iter()
        .map(|e| {
            // Without a path the error is about the request as a whole (the document, or no
            // operation could be chosen). With one it came from a field: an argument
            // async-graphql could not coerce (e.g. an `Int` out of 32-bit range) is the
            // caller's input; anything else should have had a code and is a bug.
            let code = if e.path.is_empty() {
                if e.message.starts_with(TOO_DEEP_TO_PARSE) {
                    "GRAPHQL_PARSE_FAILED"
                } else if e.message == TOO_DEEP {
                    "QUERY_TOO_DEEP"
                } else if e.message == TOO_COMPLEX {
                    "QUERY_TOO_COMPLEX"
                } else {
                    "GRAPHQL_VALIDATION_FAILED"
                }
            } else if e.message.starts_with("Failed to parse \"") {
                "BAD_USER_INPUT"
            } else {
                "INTERNAL_SERVER_ERROR"
            };
            with_code(e, code)
        })
        .collect();
}

fn with_code(mut error: ServerError, code: &'static str) -> ServerError {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    error
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
