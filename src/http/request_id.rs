//! Every request's id (`X-Request-Id`) and its one log line.

use std::time::Instant;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderMap, HeaderValue},
    middleware::Next,
    HttpMessage,
};

/// The id of one HTTP request: the caller's `X-Request-Id` when it is a short token (at most
/// 64 ASCII letters, digits, `-` or `_`: Hasura and proxies send one), a fresh UUID otherwise.
/// [`log_request`] puts it in the request's extensions, where the handlers read it.
#[derive(Debug, Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The caller's id from `headers` if it is acceptable, else a new UUID.
    fn of(headers: &HeaderMap) -> RequestId {
        let caller = headers.get("x-request-id").filter(|v| {
            let v = v.as_bytes();
            !v.is_empty()
                && v.len() <= 64
                && v.iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        });
        match caller {
            // A clone shares the header's bytes: no copy.
            Some(value) => RequestId(value.clone()),
            None => {
                let mut buffer = [0u8; uuid::fmt::Hyphenated::LENGTH];
                let id = uuid::Uuid::new_v4().hyphenated();
                RequestId(
                    HeaderValue::from_bytes(id.encode_lower(&mut buffer).as_bytes())
                        .expect("a UUID is a valid header value"),
                )
            }
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters, digits, `-` and `_` get here (checked above).
        self.0.to_str().unwrap_or_default()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Logs every request with its [`RequestId`], which it also puts in the request's extensions
/// (for the `graphql` span) and echoes in the `X-Request-Id` response header, so a client
/// report can be matched to a log line. One INFO line per request, formatted only when INFO is
/// enabled; the id costs no allocation when the caller sent one.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = RequestId::of(req.headers());
    req.extensions_mut().insert(request_id.clone());
    let mut response = next.call(req).await?;
    let request = response.request();
    tracing::info!(
        method = %request.method(), path = %request.path(),
        status = response.status().as_u16(), %request_id,
        elapsed_ms = started.elapsed().as_millis() as u64, "request"
    );
    response.headers_mut().insert(
        header::HeaderName::from_static("x-request-id"),
        request_id.0,
    );
    Ok(response)
}
