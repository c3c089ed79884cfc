//! The one bounded body reader every POST route uses.
//!
//! A body over `MAX_BODY_BYTES` is refused as soon as that is known: at once when its
//! `Content-Length` says so, else when the bytes read pass the bound; either way the route
//! answers a JSON 413 coded `PAYLOAD_TOO_LARGE` in its own envelope ([`super::reply`]).
//! actix-web's own payload limits (which answer in plain text) are raised above the bound in
//! [`super::AppState::configure`], so they never answer first.

use actix_web::{http::header, web, HttpRequest};
use futures::StreamExt;

use super::reply::Code;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the bound.
    TooLarge {
        /// The bound (`MAX_BODY_BYTES`).
        limit: usize,
    },
    /// The connection failed or the body was malformed (chunked encoding, a cut).
    Unreadable,
}

impl BodyError {
    /// Its code in every route's error body.
    pub fn code(&self) -> Code {
        match self {
            BodyError::TooLarge { .. } => Code::PayloadTooLarge,
            BodyError::Unreadable => Code::BadRequest,
        }
    }

    /// Its HTTP status.
    pub fn status(&self) -> actix_web::http::StatusCode {
        match self {
            BodyError::TooLarge { .. } => actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Unreadable => actix_web::http::StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => {
                write!(f, "the request body exceeds {limit} bytes (MAX_BODY_BYTES)")
            }
            BodyError::Unreadable => f.write_str("the request body could not be read"),
        }
    }
}

/// Reads the whole body of `req`, at most `limit` bytes.
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, BodyError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = web::BytesMut::with_capacity(declared.map_or(0, |l| l as usize));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
