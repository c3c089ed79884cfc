//! A typed reqwest client for the few Stripe endpoints this server reads.
//!
//! Guarantees:
//! - every request carries `Authorization: Bearer <key>` (marked sensitive, so it never shows
//!   in `Debug` output) and the pinned `Stripe-Version`; a key or version that cannot be sent
//!   as a header is refused when the client is built ([`ClientError`]), never replaced;
//! - every request is bounded by the configured timeout (connect included);
//! - at most `max_concurrency` requests are in flight at once, across all GraphQL requests;
//!   further calls wait for a slot (no call is dropped);
//! - ids reach a URL only as a validated [`StripeId`], percent-encoded into its own path
//!   segment, and lists only as a typed [`request::ListRequest`];
//! - an answer is accepted only if it is the kind of object asked for (its `object` field),
//!   so a wrong route can never pass for data;
//! - a transport failure is logged with its whole cause chain (DNS, refused, TLS), never with
//!   the key.
//!
//! The client does not cache; [`crate::cache`] sits in front of it.

pub mod error;
pub mod models;
pub mod request;
pub mod scalars;

use std::{fmt::Write as _, sync::Arc, time::Duration};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use tokio::sync::Semaphore;
use url::Url;

pub use error::StripeError;
use models::{List, StripeObject};
use request::{list_url, object_url, ListRequest, Page};

use crate::{ids::StripeId, secret::SecretString};

/// The API version pinned on every request unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "2026-07-29.dahlia";

/// Where Stripe is and the key to call it with.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, `https://api.stripe.com` in production (checked by [`parse_api_base`]).
    pub api_base: Url,
    /// Secret (`sk_…`) or restricted (`rk_…`) key.
    pub secret_key: SecretString,
}

/// How to call Stripe, whichever endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Value of the `Stripe-Version` header.
    pub api_version: String,
    /// Upper bound on each call, connection included.
    pub timeout: Duration,
    /// Most calls in flight at once.
    pub max_concurrency: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            api_version: DEFAULT_API_VERSION.to_owned(),
            timeout: Duration::from_secs(10),
            max_concurrency: 8,
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The key holds characters an HTTP header cannot carry.
    #[error("STRIPE_SECRET_KEY cannot be sent in an HTTP header (it holds control or non-ASCII characters)")]
    InvalidKey,
    /// The API version holds characters an HTTP header cannot carry.
    #[error("STRIPE_API_VERSION cannot be sent in an HTTP header")]
    InvalidApiVersion,
    /// The HTTP client (TLS backend) could not initialise.
    #[error("cannot build the Stripe HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// The Stripe REST client. Cheap to clone; clones share the connection pool and the
/// concurrency limit.
#[derive(Debug, Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    api_base: Url,
    timeout: Duration,
    slots: Arc<Semaphore>,
}

impl StripeClient {
    /// Builds a client for `endpoint`.
    pub fn new(endpoint: Endpoint, settings: &ClientSettings) -> Result<StripeClient, ClientError> {
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", endpoint.secret_key.expose()))
            .map_err(|_| ClientError::InvalidKey)?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let version = HeaderValue::from_str(&settings.api_version)
            .map_err(|_| ClientError::InvalidApiVersion)?;
        headers.insert("Stripe-Version", version);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("stripe-graphql/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(ClientError::Http)?;
        Ok(StripeClient {
            http,
            api_base: endpoint.api_base,
            timeout: settings.timeout,
            slots: Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
        })
    }

    /// `GET /v1/<collection>/<id>`. A missing object is [`StripeError::NotFound`]; an object
    /// Stripe returns as deleted (`"deleted": true`, sent with HTTP 200) is
    /// [`StripeError::Deleted`]; an answer that is not a `T` is
    /// [`StripeError::UnexpectedObject`].
    pub async fn retrieve<T: StripeObject>(&self, id: &StripeId) -> Result<T, StripeError> {
        let url =
            object_url(&self.api_base, id).ok_or(StripeError::BadResponse { request_id: None })?;
        let (value, request_id) = self.get_json(url).await?;
        if value.get("deleted").and_then(|d| d.as_bool()) == Some(true) {
            return Err(StripeError::Deleted);
        }
        expect_object(&value, T::OBJECT, &request_id)?;
        models::decode(value).map_err(|e| decode_failure::<T>(e, request_id))
    }

    /// One page of a list, normalized.
    pub async fn list<T: StripeObject + Clone>(
        &self,
        request: &ListRequest<T>,
    ) -> Result<List<T>, StripeError> {
        let url = list_url(&self.api_base, request.query())
            .ok_or(StripeError::BadResponse { request_id: None })?;
        let (value, request_id) = self.get_json(url).await?;
        expect_object(&value, "list", &request_id)?;
        let mut list: List<T> =
            serde_json::from_value(value).map_err(|e| decode_failure::<T>(e, request_id))?;
        list.normalize();
        Ok(list)
    }

    /// One `GET /v1/customers?limit=1`: succeeds when Stripe is reachable and accepts the key.
    /// Used by `/readyz`.
    pub async fn check_key(&self) -> Result<(), StripeError> {
        self.list(&ListRequest::customers(None, &Page::first(1)))
            .await
            .map(|_| ())
    }

    async fn get_json(&self, url: Url) -> Result<(serde_json::Value, Option<String>), StripeError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| StripeError::Unavailable {
                status: None,
                request_id: None,
            })?;
        let started = std::time::Instant::now();
        let path = url.path().to_owned();
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| self.transport(&path, e))?;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport(&path, e))?;
        tracing::debug!(
            %path, status, request_id = request_id.as_deref().unwrap_or("-"),
            elapsed_ms = started.elapsed().as_millis() as u64, "stripe call"
        );
        if !(200..300).contains(&status) {
            let err = StripeError::from_response(status, request_id, &body);
            if !matches!(err, StripeError::NotFound { .. }) {
                tracing::warn!(%path, status, error = %err, request_id = err.request_id().unwrap_or("-"), "stripe call failed");
            }
            return Err(err);
        }
        serde_json::from_slice(&body)
            .map(|v| (v, request_id.clone()))
            .map_err(|_| {
                tracing::warn!(%path, status, "stripe sent a body that is not JSON");
                StripeError::BadResponse { request_id }
            })
    }

    fn transport(&self, path: &str, e: reqwest::Error) -> StripeError {
        if e.is_timeout() {
            StripeError::Timeout(self.timeout)
        } else {
            // The URL is left out (the path is logged on its own) and reqwest never puts
            // headers into its errors, so the chain cannot hold the key.
            tracing::warn!(%path, error = %error_chain(&e.without_url()), "stripe transport failure");
            StripeError::Unavailable {
                status: None,
                request_id: None,
            }
        }
    }
}

/// An error and every cause under it, `outer: inner: innermost`, as one line. reqwest's own
/// `Display` says only "error sending request"; the cause (DNS, connection refused, TLS) is
/// in the chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            let _ = write!(line, ": {text}");
        }
        source = cause.source();
    }
    line
}

/// Refuses an answer whose `object` is not `expected`.
fn expect_object(
    value: &serde_json::Value,
    expected: &'static str,
    request_id: &Option<String>,
) -> Result<(), StripeError> {
    let found = value.get("object").and_then(|o| o.as_str());
    if found == Some(expected) {
        return Ok(());
    }
    tracing::warn!(
        expected,
        found = found.unwrap_or("-"),
        "stripe answered another kind of object"
    );
    Err(StripeError::UnexpectedObject {
        expected,
        found: found.map(str::to_owned),
        request_id: request_id.clone(),
    })
}

fn decode_failure<T: StripeObject>(
    e: serde_json::Error,
    request_id: Option<String>,
) -> StripeError {
    tracing::warn!(object = T::OBJECT, error = %e, "stripe object did not decode");
    StripeError::BadResponse { request_id }
}

/// Checks `STRIPE_API_BASE`: an http(s) URL with a host, no query or fragment, and no `/v1` at
/// the end of its path (the client adds `/v1/…` itself; a base ending in `/v1` would send every
/// call to `/v1/v1/…`, which Stripe answers with 404 "Unrecognized request URL"). A path
/// before that (a proxy prefix such as `/stripe`) is kept.
pub fn parse_api_base(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| format!("STRIPE_API_BASE `{raw}` is not an http(s) URL"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "STRIPE_API_BASE `{raw}` must not have a query or fragment"
        ));
    }
    let last_segment = url
        .path_segments()
        .and_then(|segments| segments.rev().find(|s| !s.is_empty()));
    if last_segment.is_some_and(|s| s.eq_ignore_ascii_case("v1")) {
        return Err(format!(
            "STRIPE_API_BASE `{raw}` ends in /v1, but the server adds /v1 itself: use the host alone, e.g. https://api.stripe.com"
        ));
    }
    Ok(url)
}

/// `YYYY-MM-DD` optionally followed by `.name` (e.g. `2026-07-29.dahlia`, `2020-08-27`).
pub fn is_api_version(v: &str) -> bool {
    let (date, name) = match v.split_once('.') {
        Some((d, n)) => (d, Some(n)),
        None => (v, None),
    };
    let b = date.as_bytes();
    let date_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    date_ok && name.is_none_or(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_lowercase()))
}

/// Whether `key` looks like a secret (`sk_test_…`, `sk_live_…`) or restricted (`rk_…`) key.
/// Publishable keys (`pk_…`) cannot read customers and are refused.
pub fn is_secret_key(key: &str) -> bool {
    let known_prefix = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .iter()
        .any(|p| key.starts_with(p));
    known_prefix && key.len() >= 12 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_stripe_api_versions() {
        for ok in ["2026-07-29.dahlia", "2025-03-31.basil", "2020-08-27"] {
            assert!(is_api_version(ok), "{ok}");
        }
        for bad in [
            "",
            "latest",
            "2026-7-29.dahlia",
            "2026-07-29.",
            "2026-07-29.Dahlia",
            "2026/07/29",
        ] {
            assert!(!is_api_version(bad), "{bad}");
        }
    }

    #[test]
    fn recognises_key_shapes() {
        assert!(is_secret_key("sk_test_51Abc"));
        assert!(is_secret_key("rk_live_51Abcdef"));
        assert!(!is_secret_key("pk_test_51Abcdef"));
        assert!(!is_secret_key("sk_test_ab cd"));
        assert!(!is_secret_key("sk_test_"));
    }

    #[test]
    fn api_bases_ending_in_v1_are_refused() {
        for bad in [
            "https://api.stripe.com/v1",
            "https://api.stripe.com/v1/",
            "https://api.stripe.com/V1",
            "http://proxy.internal/stripe/v1",
            "ftp://api.stripe.com",
            "api.stripe.com",
            "https://api.stripe.com/?x=1",
        ] {
            assert!(parse_api_base(bad).is_err(), "{bad}");
        }
        for ok in [
            "https://api.stripe.com",
            "https://api.stripe.com/",
            "http://127.0.0.1:12111",
            "http://proxy.internal/stripe/",
            "http://proxy.internal/v1beta",
        ] {
            assert!(parse_api_base(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_key_that_is_not_a_header_value_is_refused_not_replaced() {
        let endpoint = Endpoint {
            api_base: "https://api.stripe.com".parse().unwrap(),
            secret_key: SecretString::new("sk_test_bad\nkey"),
        };
        assert!(matches!(
            StripeClient::new(endpoint.clone(), &ClientSettings::default()),
            Err(ClientError::InvalidKey)
        ));
        let settings = ClientSettings {
            api_version: "2026-07-29.dahlia\r\nX-Evil: 1".into(),
            ..ClientSettings::default()
        };
        let endpoint = Endpoint {
            secret_key: SecretString::new("sk_test_fine_key_123"),
            ..endpoint
        };
        assert!(matches!(
            StripeClient::new(endpoint, &settings),
            Err(ClientError::InvalidApiVersion)
        ));
    }

    #[test]
    fn error_chains_name_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        assert_eq!(
            error_chain(&e),
            "error sending request: Connection refused (os error 111)"
        );
    }
}
