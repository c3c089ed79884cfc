//! `GET /metrics`: the registry ([`crate::metrics`]) in Prometheus text format 0.0.4.

use actix_web::{http::header, web, HttpRequest, HttpResponse};

use super::auth::{self, Auth, MetricsAuth};
use crate::metrics::{self as registry, Metrics};

/// What `/metrics` serves, and to whom.
pub struct MetricsRoute {
    pub metrics: Metrics,
    pub auth: Auth,
    pub metrics_auth: MetricsAuth,
}

/// Needs the bearer token when one is set, unless `METRICS_AUTH=none`.
pub async fn get(route: web::Data<MetricsRoute>, req: HttpRequest) -> HttpResponse {
    if route.metrics_auth == MetricsAuth::Token && !route.auth.admits(&req) {
        return auth::unauthorized();
    }
    HttpResponse::Ok()
        .content_type(registry::CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(route.metrics.encode())
}
