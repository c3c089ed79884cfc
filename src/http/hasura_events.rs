//! `POST /hasura/events`: a Hasura event trigger delivery for `public.customers`, handed to
//! [`ProfileSync::on_profile_event`].
//!
//! Needs the bearer token (Hasura sends it from `STRIPE_GRAPHQL_AUTHORIZATION`) and, like
//! mutations, refuses to run without one configured except under `--demo`. Hasura retries
//! every non-2xx answer per the trigger's `retry_conf`, and a `Retry-After` header on one
//! sets the next attempt **and overrides exhausted retries** (Hasura's
//! `Eventing/EventTrigger.hs`). So the answers are:
//!
//! | status | code | when | `Retry-After` |
//! |---|---|---|---|
//! | 200 | — | done, or nothing to do (`no_profile`: the row is gone) | — |
//! | 400 | `INVALID_EVENT` | not a `public.customers` event trigger payload | no |
//! | 401, 403 | `UNAUTHENTICATED`, `FORBIDDEN` | no or a wrong token; no token configured | no |
//! | 409 | `PROFILE_LINK_CONFLICT` | the profile is linked to a missing or another customer: a person must look | **never** (it would be retried for ever) |
//! | 413 | `PAYLOAD_TOO_LARGE` | a body over `MAX_BODY_BYTES` | no |
//! | 502 | `UPSTREAM_REFUSED` | Stripe or Hasura refused (a permission, a parameter): retried per `retry_conf`, then redelivered by hand once fixed | no |
//! | 503 | `UPSTREAM_FAILED` | Stripe or Hasura unreachable, failing or rate limiting: it clears on its own | `RETRY_AFTER_SECONDS`: retried until it succeeds |
//! | 503 | `HASURA_NOT_CONFIGURED` | `HASURA_GRAPHQL_URL` is not set | no |
//!
//! Nothing is created twice on a redelivery ([`crate::profile`]).

use actix_web::{
    http::{
        header::{self, HeaderValue},
        StatusCode,
    },
    web, HttpRequest, HttpResponse,
};
use serde_json::json;

use super::{
    auth::{self, Auth},
    body,
    reply::{self, Code},
};
use crate::profile::{ProfileEvent, ProfileSync, SyncError};

/// Seconds Hasura is asked to wait before delivering again after a failure that clears on
/// its own (its trigger's own `retry_conf.interval_sec` in `hasura/`).
pub const RETRY_AFTER_SECONDS: u32 = 30;

/// What the route serves with.
pub struct HasuraEventsRoute {
    pub auth: Auth,
    /// Whether it runs without a token configured (`--demo` only).
    pub without_token: bool,
    pub profile: Option<ProfileSync>,
    pub max_body_bytes: usize,
}

/// The handler.
pub async fn post(
    route: web::Data<HasuraEventsRoute>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    if !route.auth.admits(&req) {
        let mut response = reply::error(
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            auth::UNAUTHENTICATED_MESSAGE,
        );
        auth::challenge(&mut response);
        return response;
    }
    if !route.auth.is_configured() && !route.without_token {
        return reply::error(
            StatusCode::FORBIDDEN,
            Code::Forbidden,
            "POST /hasura/events writes to Stripe and needs GRAPHQL_AUTH_TOKEN",
        );
    }
    let Some(profile) = &route.profile else {
        return reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::HasuraNotConfigured,
            "set HASURA_GRAPHQL_URL and HASURA_ADMIN_SECRET to enable the profile write-back",
        );
    };
    let body = match body::read(&req, payload, route.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return reply::error(e.status(), e.code(), &e.to_string()),
    };
    let event = match ProfileEvent::parse(&body) {
        Ok(event) => event,
        Err(reason) => return reply::error(StatusCode::BAD_REQUEST, Code::InvalidEvent, &reason),
    };
    match profile.on_profile_event(&event).await {
        Ok((outcome, customer)) => {
            HttpResponse::Ok().json(json!({ "outcome": outcome, "stripeCustomerId": customer }))
        }
        Err(SyncError::NoProfile(_)) => {
            HttpResponse::Ok().json(json!({ "outcome": "no_profile", "stripeCustomerId": null }))
        }
        Err(e @ (SyncError::LinkedToMissing(_) | SyncError::LinkedElsewhere { .. })) => {
            reply::error(
                StatusCode::CONFLICT,
                Code::ProfileLinkConflict,
                &e.to_string(),
            )
        }
        Err(e) if e.clears_on_its_own() => {
            let mut response = reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                Code::UpstreamFailed,
                &e.to_string(),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            response
        }
        Err(e) => reply::error(
            StatusCode::BAD_GATEWAY,
            Code::UpstreamRefused,
            &e.to_string(),
        ),
    }
}
