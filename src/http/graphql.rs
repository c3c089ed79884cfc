//! `POST /graphql` and `GET /graphql`: GraphQL over HTTP.
//!
//! Both methods build a request's GraphQL data with the one [`RequestData::attach`], so a
//! query answers the same over either (mutations aside: `GET` never writes). Every answer is
//! a GraphQL-shaped JSON body, whatever went wrong: a missing token (401), an oversized body
//! (413), malformed JSON or a missing query (400), more requests in flight than
//! `MAX_REQUESTS_IN_FLIGHT` (503 `OVERLOADED` with `Retry-After: 1`, answered at once, before
//! the body is read), no answer within `REQUEST_DEADLINE_SECONDS` (200 with an error coded
//! `REQUEST_TIMEOUT`; the Stripe calls already started go on in the cache's own tasks and fill
//! the cache for the next request). Never a 500, never an HTML page, and never an
//! `"errors": []` (which Hasura would treat as a failure: async-graphql leaves out an empty
//! `errors`).
//!
//! Every request is counted in [`Metrics`] by outcome (ok, errors, refused) with its
//! duration, and each operation runs in an INFO `graphql` span (fields `request_id`,
//! `operation`, `outcome`), so what is logged while it runs (Stripe calls) carries them.

use std::time::{Duration, Instant};

use actix_web::{
    http::{
        header::{self, HeaderValue},
        Method, StatusCode,
    },
    web, FromRequest, HttpMessage, HttpRequest, HttpResponse,
};
use async_graphql::{parser::types::DocumentOperations, BatchRequest, BatchResponse};
use futures::{stream::FuturesOrdered, StreamExt};
use tokio::sync::Semaphore;
use tracing::{field, Instrument};

use super::{
    auth::{self, Auth},
    body, graphiql,
    reply::{self, Code},
    request_id::RequestId,
    HttpSettings,
};
use crate::{
    graphql::{
        error,
        profile::SsoMetadataKey,
        scope::{Authentication, Caller, ScopingSettings},
        write::{WriteAccess, WriteSettings},
        Executor, Prepared,
    },
    metrics::{GraphqlOutcome, Metrics},
    profile::ProfileSync,
};

/// What the GraphQL routes serve with.
pub struct GraphqlRoute {
    executor: Executor,
    auth: Auth,
    data: RequestData,
    metrics: Metrics,
    max_body_bytes: usize,
    /// One permit per GraphQL request being answered (`MAX_REQUESTS_IN_FLIGHT`).
    in_flight: Semaphore,
    /// Time to answer one request (`REQUEST_DEADLINE_SECONDS`).
    deadline: Duration,
}

impl GraphqlRoute {
    /// Serves `executor` with the HTTP settings; the profile write-back is given to the
    /// mutations and queries that need it when configured.
    pub fn new(
        executor: Executor,
        settings: &HttpSettings,
        profile: Option<ProfileSync>,
        metrics: Metrics,
    ) -> GraphqlRoute {
        let limits = *executor.limits();
        let auth = Auth::new(settings.auth_token.as_ref());
        let data = RequestData {
            scoping: settings.scoping.clone(),
            writes: settings.writes.clone(),
            token_configured: auth.is_configured(),
            metadata_key: SsoMetadataKey(settings.scoping.metadata_key.clone()),
            profile,
        };
        GraphqlRoute {
            executor,
            auth,
            data,
            metrics,
            max_body_bytes: settings.max_body_bytes,
            in_flight: Semaphore::new(limits.max_requests_in_flight),
            deadline: limits.request_deadline,
        }
    }
}

/// What every GraphQL request carries in its data, from its headers and method: who it is
/// for ([`Caller`]), whether it may write ([`WriteAccess`]), the SSO metadata key and, when
/// configured, the profile write-back. The one place both methods build it.
pub struct RequestData {
    scoping: ScopingSettings,
    writes: WriteSettings,
    /// Whether `GRAPHQL_AUTH_TOKEN` is configured (a request that reached here presented it).
    token_configured: bool,
    metadata_key: SsoMetadataKey,
    profile: Option<ProfileSync>,
}

impl RequestData {
    /// `request` with the data of the HTTP request `req` attached. Call it only on a
    /// request that passed [`Auth::admits`]: with a token configured the request then
    /// presented it, and its `x-hasura-*` headers come from whoever holds the token (Hasura:
    /// its resolved session). A header value that is not UTF-8 counts as present but empty
    /// (scoped to nobody), never as absent.
    pub fn attach(
        &self,
        req: &HttpRequest,
        request: async_graphql::Request,
    ) -> async_graphql::Request {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or_default())
        };
        let role = header("x-hasura-role");
        let auth = if self.token_configured {
            Authentication::BearerToken
        } else {
            Authentication::None
        };
        let caller = Caller::of(&self.scoping, auth, role, header("x-hasura-user-id"));
        let writes = WriteAccess::of(
            &self.writes,
            self.token_configured,
            role,
            req.method() == Method::POST,
        );
        let mut request = request
            .data(caller)
            .data(writes)
            .data(self.metadata_key.clone());
        if let Some(profile) = &self.profile {
            request = request.data(profile.clone());
        }
        request
    }
}

/// `POST /graphql`: one operation or a batch (a JSON array).
pub async fn post(
    route: web::Data<GraphqlRoute>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let started = Instant::now();
    let (response, outcome) = answer_post(&route, &req, payload).await;
    route.metrics.graphql_request(outcome, started.elapsed());
    response
}

async fn answer_post(
    route: &GraphqlRoute,
    req: &HttpRequest,
    payload: web::Payload,
) -> (HttpResponse, GraphqlOutcome) {
    let refused = |response| (response, GraphqlOutcome::Refused);
    if !route.auth.admits(req) {
        return refused(auth::unauthorized());
    }
    // Held until the answer is built; refused at once when none is left.
    let Ok(_permit) = route.in_flight.try_acquire() else {
        return refused(overloaded());
    };
    let deadline = tokio::time::Instant::now() + route.deadline;
    let body = match body::read(req, payload, route.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return refused(reply::graphql_error(e.status(), e.code(), &e.to_string())),
    };
    let request: BatchRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return refused(bad_request(&format!(
                "the body is not a GraphQL request (JSON with a `query` string): {e}"
            )))
        }
    };
    let queries: &[async_graphql::Request] = match &request {
        BatchRequest::Single(r) => std::slice::from_ref(r),
        BatchRequest::Batch(rs) => rs,
    };
    if queries.is_empty() || queries.iter().any(|r| r.query.trim().is_empty()) {
        return refused(bad_request("the request has no `query`"));
    }
    let run = route.run(req, deadline);
    let response = match request {
        BatchRequest::Single(r) => BatchResponse::Single(run.execute(r).await),
        BatchRequest::Batch(rs) => {
            let attached = rs.into_iter().map(|r| route.data.attach(req, r)).collect();
            match route.executor.prepare_batch(attached) {
                // Over the budget: every operation of the batch gets the one refusal.
                Err(refused) => BatchResponse::Batch(refused.responses()),
                // Concurrently and in order, as `Schema::execute_batch` does, with a span each.
                Ok(prepared) => BatchResponse::Batch(
                    prepared
                        .into_iter()
                        .map(|p| run.execute_prepared(p))
                        .collect::<FuturesOrdered<_>>()
                        .collect()
                        .await,
                ),
            }
        }
    };
    let outcome = if response.is_ok() {
        GraphqlOutcome::Ok
    } else {
        GraphqlOutcome::Errors
    };
    (HttpResponse::Ok().json(response), outcome)
}

/// `GET /graphql`: with a query string, one query (GraphQL over HTTP GET; mutations are
/// refused); without one, the GraphiQL page (needs the token like any `/graphql` request, and
/// is not counted as a GraphQL request).
pub async fn get(route: web::Data<GraphqlRoute>, req: HttpRequest) -> HttpResponse {
    let started = Instant::now();
    let page = req.query_string().is_empty();
    let (response, outcome) = answer_get(&route, &req, page).await;
    if !page {
        route.metrics.graphql_request(outcome, started.elapsed());
    }
    response
}

async fn answer_get(
    route: &GraphqlRoute,
    req: &HttpRequest,
    page: bool,
) -> (HttpResponse, GraphqlOutcome) {
    if !route.auth.admits(req) {
        return (auth::unauthorized(), GraphqlOutcome::Refused);
    }
    if page {
        return (
            graphiql::page(route.auth.is_configured()),
            GraphqlOutcome::Ok,
        );
    }
    let Ok(_permit) = route.in_flight.try_acquire() else {
        return (overloaded(), GraphqlOutcome::Refused);
    };
    let deadline = tokio::time::Instant::now() + route.deadline;
    let request = match async_graphql_actix_web::GraphQLRequest::extract(req).await {
        Ok(request) => request.into_inner(),
        Err(e) => {
            let message = format!("the URL does not hold a GraphQL request: {e}");
            return (bad_request(&message), GraphqlOutcome::Refused);
        }
    };
    let response = route.run(req, deadline).execute(request).await;
    let outcome = if response.is_ok() {
        GraphqlOutcome::Ok
    } else {
        GraphqlOutcome::Errors
    };
    (
        HttpResponse::Ok().json(BatchResponse::Single(response)),
        outcome,
    )
}

/// `GET /graphiql`: the GraphiQL page ([`graphiql`]) without a token, for browsers when
/// `GRAPHQL_AUTH_TOKEN` is set. It holds no data (it is told only whether a token is
/// required) and sends its requests to `/graphql` with the headers set in its editor.
pub async fn graphiql_page(route: web::Data<GraphqlRoute>) -> HttpResponse {
    graphiql::page(route.auth.is_configured())
}

/// The 503 for a request over `MAX_REQUESTS_IN_FLIGHT`: coded `OVERLOADED`, with
/// `Retry-After: 1`.
fn overloaded() -> HttpResponse {
    let mut response = reply::graphql_error(
        StatusCode::SERVICE_UNAVAILABLE,
        Code::Overloaded,
        "too many GraphQL requests in flight (MAX_REQUESTS_IN_FLIGHT): retry shortly",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn bad_request(message: &str) -> HttpResponse {
    reply::graphql_error(StatusCode::BAD_REQUEST, Code::BadRequest, message)
}

impl GraphqlRoute {
    /// What runs the operations of the HTTP request `req`, answered by `deadline`.
    fn run<'a>(&'a self, req: &'a HttpRequest, deadline: tokio::time::Instant) -> Run<'a> {
        Run {
            route: self,
            req,
            request_id: req.extensions().get::<RequestId>().cloned(),
            deadline,
        }
    }
}

/// What runs the operations of one GraphQL HTTP request.
struct Run<'a> {
    route: &'a GraphqlRoute,
    req: &'a HttpRequest,
    request_id: Option<RequestId>,
    /// When the request must be answered (`REQUEST_DEADLINE_SECONDS` after it came in).
    deadline: tokio::time::Instant,
}

impl Run<'_> {
    /// Attaches the request's data, parses and executes one operation (see
    /// [`Run::execute_prepared`]).
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let request = self.route.data.attach(self.req, request);
        self.execute_prepared(self.route.executor.prepare(request))
            .await
    }

    /// Executes one GraphQL operation in a `graphql` span carrying the HTTP request's id, the
    /// operation's name (the `operationName` sent, else the name of the document's only
    /// operation) and, once it is known, its outcome (`ok` or `errors`). Past the deadline it
    /// answers one error coded `REQUEST_TIMEOUT` and no `data`; dropping the execution leaves
    /// the Stripe calls it started running in the cache's tasks.
    async fn execute_prepared(
        &self,
        prepared: Result<Prepared, async_graphql::ServerError>,
    ) -> async_graphql::Response {
        let mut prepared = match prepared {
            Ok(prepared) => prepared,
            Err(e) => return Executor::parse_failure(e),
        };
        let span = tracing::info_span!(
            "graphql",
            request_id = self.request_id.as_ref().map(field::display),
            operation = operation_name(prepared.request_mut()),
            outcome = field::Empty,
        );
        let deadline_seconds = self.route.deadline.as_secs();
        let run = self.route.executor.run(prepared).instrument(span.clone());
        let response = match tokio::time::timeout_at(self.deadline, run).await {
            Ok(response) => response,
            Err(_) => {
                span.in_scope(|| tracing::warn!(deadline_seconds, "GraphQL request timed out"));
                async_graphql::Response::from_errors(vec![error::request_timeout(deadline_seconds)])
            }
        };
        span.record("outcome", if response.is_ok() { "ok" } else { "errors" });
        response
    }
}

/// The operation a request runs, by name: its `operationName`, or the name of the document's
/// only operation (the request is already parsed, by [`Executor::prepare`]).
fn operation_name(request: &mut async_graphql::Request) -> Option<&str> {
    if request.operation_name.is_some() {
        return request.operation_name.as_deref();
    }
    match &request.parsed_query().ok()?.operations {
        DocumentOperations::Multiple(operations) if operations.len() == 1 => {
            operations.keys().next().map(|name| name.as_str())
        }
        _ => None,
    }
}
