//! Runs a GraphQL request: the parsed-document cache, the Stripe-field budget checked before
//! any call, validation skipped where its verdict is known, and the error codes.

use std::sync::Arc;

use async_graphql::{Request, Response, ServerError, ValidationMode};

use super::{
    budget::{Counts, StripeFieldCounter},
    documents::{self, ParsedDocuments},
    error, limited_builder, order, sdl, StripeSchema,
};
use crate::{cache::StripeCache, limits::Limits};

/// The schema with what runs around every request: the parsed-document cache, validation
/// skipped where its verdict is known, and the error codes. Cheap to clone. (None of this is
/// an async-graphql extension: with any extension registered, async-graphql resolves every
/// field on a slower path.)
#[derive(Clone)]
pub struct Executor {
    schema: StripeSchema,
    /// The same schema and data, in async-graphql's fast validation mode, for documents whose
    /// strict validation already passed ([`documents::Parsed::validated`]).
    prevalidated: StripeSchema,
    documents: ParsedDocuments,
    /// Counts the fields of an operation that can call Stripe.
    stripe_fields: Arc<StripeFieldCounter>,
    limits: Limits,
}

/// A batch whose operations together are over the Stripe-field budget.
pub struct BatchRefused {
    operations: usize,
    stripe_fields: usize,
    limit: usize,
}

impl BatchRefused {
    /// One response per operation of the batch, each the one `QUERY_BUDGET_EXCEEDED` error.
    pub fn responses(&self) -> Vec<Response> {
        (0..self.operations)
            .map(|_| {
                let error = error::budget_exceeded(self.stripe_fields, self.limit);
                Response::from_errors(vec![error])
            })
            .collect()
    }
}

/// A request whose document is parsed, ready for [`Executor::run`].
pub struct Prepared {
    request: Request,
    parsed: Option<Arc<documents::Parsed>>,
}

impl Prepared {
    /// The request (its document parsed: `parsed_query()` does not parse again).
    pub fn request_mut(&mut self) -> &mut Request {
        &mut self.request
    }
}

impl Executor {
    /// Serves the schema with the default [`Limits`], reading Stripe through `cache`.
    pub fn new(cache: StripeCache) -> Executor {
        Executor::with_limits(cache, Limits::default())
    }

    /// Serves the schema with `limits` (both validation modes carry the depth and complexity
    /// limits; the Stripe-field budget is checked in [`Executor::run`]).
    pub fn with_limits(cache: StripeCache, limits: Limits) -> Executor {
        let prevalidated = limited_builder(&limits)
            .validation_mode(ValidationMode::Fast)
            .data(cache.clone())
            .finish();
        let schema = limited_builder(&limits).data(cache).finish();
        let stripe_fields = Arc::new(StripeFieldCounter::from_sdl(&sdl()));
        Executor {
            schema,
            prevalidated,
            documents: ParsedDocuments::default(),
            stripe_fields,
            limits,
        }
    }

    /// The schema.
    pub fn schema(&self) -> &StripeSchema {
        &self.schema
    }

    /// The limits this executor enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many fields that can call Stripe the prepared request's operation selects
    /// ([`super::budget`]; 0 when the operation cannot be chosen).
    pub fn stripe_fields(&self, prepared: &mut Prepared) -> usize {
        let Prepared { request, parsed } = prepared;
        self.counts(request, parsed.as_deref())
            .map_or(0, |counts| counts.stripe_fields)
    }

    /// The budget counts of the request's operation: remembered with a cached document (they
    /// depend only on its text and the operation), else counted now.
    fn counts(&self, request: &mut Request, parsed: Option<&documents::Parsed>) -> Option<Counts> {
        let operation = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        let count = || self.stripe_fields.count(document, operation.as_deref());
        Some(match parsed {
            Some(parsed) => parsed.counts(operation.as_deref(), count),
            None => count(),
        })
    }

    /// Parses the request's document (or takes it from the cache). A document that does not
    /// parse is an error coded `GRAPHQL_PARSE_FAILED`, to answer with
    /// [`Executor::parse_failure`].
    pub fn prepare(&self, mut request: Request) -> Result<Prepared, ServerError> {
        let (document, parsed) = self
            .documents
            .parse(&request.query)
            .map_err(error::parse_failed)?;
        request.set_parsed_query(document);
        Ok(Prepared { request, parsed })
    }

    /// Prepares every operation of a batch, whose operations count together against
    /// `MAX_STRIPE_FIELDS`: over it, the whole batch is refused ([`BatchRefused`]) before any
    /// Stripe call. An operation whose document does not parse is its own error.
    pub fn prepare_batch(
        &self,
        requests: Vec<Request>,
    ) -> Result<Vec<Result<Prepared, ServerError>>, BatchRefused> {
        let mut prepared: Vec<_> = requests.into_iter().map(|r| self.prepare(r)).collect();
        let total = prepared
            .iter_mut()
            .filter_map(|p| p.as_mut().ok())
            .map(|p| self.stripe_fields(p))
            .fold(0usize, usize::saturating_add);
        let limit = self.limits.max_stripe_fields;
        if total > limit {
            return Err(BatchRefused {
                operations: prepared.len(),
                stripe_fields: total,
                limit,
            });
        }
        Ok(prepared)
    }

    /// The response to a request whose document did not parse.
    pub fn parse_failure(error: ServerError) -> Response {
        Response::from_errors(vec![error])
    }

    /// Validates and executes a prepared request; every error in the response carries
    /// `extensions.code`. Strict validation runs unless this document's operation, without
    /// variables, already passed it.
    ///
    /// An operation selecting more fields that can call Stripe than `MAX_STRIPE_FIELDS`
    /// ([`super::budget`]) is answered with one error coded `QUERY_BUDGET_EXCEEDED` (extensions
    /// `stripeFields` and `limit`) and no `data`, before validation and before any Stripe call;
    /// one selecting more fields than `MAX_QUERY_COMPLEXITY`, `QUERY_TOO_COMPLEX`; one nested
    /// deeper than `MAX_QUERY_DEPTH`, `QUERY_TOO_DEEP` (from validation, also before any call).
    pub async fn run(&self, prepared: Prepared) -> Response {
        let Prepared {
            mut request,
            parsed,
        } = prepared;
        let operation = request.operation_name.clone();
        if let Some(counts) = self.counts(&mut request, parsed.as_deref()) {
            let limits = &self.limits;
            if counts.stripe_fields > limits.max_stripe_fields {
                let error = error::budget_exceeded(counts.stripe_fields, limits.max_stripe_fields);
                return Response::from_errors(vec![error]);
            }
            // async-graphql checks the same limit, but only after walking every fragment at
            // every spread; this count walks each fragment once.
            if counts.fields > limits.max_query_complexity {
                let error = error::too_complex(counts.fields, limits.max_query_complexity);
                return Response::from_errors(vec![error]);
            }
        }
        let without_variables = request.variables.is_empty();
        let known_valid = without_variables
            && parsed
                .as_ref()
                .is_some_and(|p| p.validated(operation.as_deref()));
        // The document, to put the answer's keys in query order ([`super::order`]): the
        // cached parse, or a copy of this request's (a document too large to cache).
        let uncached = match &parsed {
            Some(_) => None,
            None => request.parsed_query().ok().cloned(),
        };
        let mut response = if known_valid {
            self.prevalidated.execute(request).await
        } else {
            self.schema.execute(request).await
        };
        if let Some(document) = parsed.as_ref().map(|p| p.document()).or(uncached.as_ref()) {
            order::in_query_order(&mut response.data, document, operation.as_deref());
        }
        // Validation errors (and operation selection errors) have no path: with none in the
        // response, strict validation passed.
        if !known_valid && without_variables && response.errors.iter().all(|e| !e.path.is_empty()) {
            if let Some(parsed) = &parsed {
                parsed.mark_validated(operation.as_deref());
            }
        }
        error::assign_codes(&mut response);
        if !response.errors.is_empty() {
            error::add_limits(&mut response, &self.limits);
        }
        response
    }

    /// Prepares and runs one request.
    pub async fn execute(&self, request: Request) -> Response {
        match self.prepare(request) {
            Ok(prepared) => self.run(prepared).await,
            Err(e) => Executor::parse_failure(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cache::CacheSettings,
        metrics::Metrics,
        secret::SecretString,
        stripe::{ClientSettings, Endpoint, StripeClient},
    };

    fn executor() -> Executor {
        // No test here reaches Stripe: the address is never called.
        let endpoint = Endpoint {
            api_base: "http://127.0.0.1:9".parse().unwrap(),
            secret_key: SecretString::new("sk_test_executor_unit"),
        };
        let client =
            StripeClient::new(endpoint, &ClientSettings::default(), Metrics::new()).unwrap();
        Executor::new(StripeCache::new(
            client,
            CacheSettings::default(),
            Metrics::new(),
        ))
    }

    fn validated(executor: &Executor, query: &str, operation: Option<&str>) -> bool {
        let (_, parsed) = executor.documents.parse(query).unwrap();
        parsed.unwrap().validated(operation)
    }

    #[tokio::test]
    async fn a_document_that_passed_strict_validation_is_not_validated_again() {
        let executor = executor();
        let query = "{ __typename }";
        assert!(!validated(&executor, query, None));
        let first = executor.execute(Request::new(query)).await;
        assert!(first.errors.is_empty());
        assert!(validated(&executor, query, None));
        let again = executor.execute(Request::new(query)).await;
        assert_eq!(again.data, first.data);
    }

    #[tokio::test]
    async fn a_document_that_fails_validation_fails_it_every_time() {
        let executor = executor();
        for _ in 0..2 {
            let response = executor
                .execute(Request::new("{ customer(id: 1) { nope } }"))
                .await;
            assert!(!response.errors.is_empty());
            let code = response.errors[0].extensions.as_ref().unwrap().get("code");
            assert_eq!(
                code,
                Some(&async_graphql::Value::from("GRAPHQL_VALIDATION_FAILED"))
            );
        }
        assert!(!validated(&executor, "{ customer(id: 1) { nope } }", None));
    }

    #[tokio::test]
    async fn the_fast_validation_mode_still_enforces_the_depth_limit() {
        let executor = executor();
        // 17 levels, one more than the default MAX_QUERY_DEPTH.
        let level = "customer { subscriptions { data { ";
        let query = format!(
            "{{ subscription(id: \"sub_1\") {{ {} id {} }} }}",
            level.repeat(5),
            "} } } ".repeat(5)
        );
        let response = executor.prevalidated.execute(Request::new(query)).await;
        let message = &response.errors.first().expect("refused").message;
        assert!(message.contains("too deep"), "{message}");
    }
}
