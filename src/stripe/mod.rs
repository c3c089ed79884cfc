//! A typed reqwest client for the few Stripe endpoints this server reads.
//!
//! Guarantees:
//! - every request carries `Authorization: Bearer <key>` (marked sensitive, so it never shows
//!   in `Debug` output) and the pinned `Stripe-Version`;
//! - every request is bounded by the configured timeout (connect included);
//! - at most `max_concurrency` requests are in flight at once, across all GraphQL requests;
//!   further calls wait for a slot (no call is dropped);
//! - ids reach a URL only as a validated [`StripeId`], percent-encoded into its own path segment.
//!
//! The client does not cache; [`crate::cache`] sits in front of it.

pub mod error;
pub mod models;

use std::{sync::Arc, time::Duration};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use tokio::sync::Semaphore;
use url::Url;

pub use error::StripeError;
use models::{List, StripeObject};

use crate::{
    config::SecretString,
    ids::{IdKind, StripeId},
};

/// The API version pinned on every request unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "2026-07-29.dahlia";

/// Settings for [`StripeClient::new`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Base URL, `https://api.stripe.com` in production.
    pub api_base: Url,
    /// Secret (`sk_…`) or restricted (`rk_…`) key.
    pub secret_key: SecretString,
    /// Value of the `Stripe-Version` header.
    pub api_version: String,
    /// Upper bound on each call, connection included.
    pub timeout: Duration,
    /// Most calls in flight at once.
    pub max_concurrency: usize,
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

/// A list query: the path under `/v1` plus its query parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListQuery {
    /// Collection path, e.g. `subscriptions`.
    pub collection: &'static str,
    /// Query parameters, in the order they are sent.
    pub params: Vec<(&'static str, String)>,
}

impl StripeClient {
    /// Builds a client. Fails only if the TLS backend cannot initialise.
    pub fn new(settings: ClientSettings) -> Result<StripeClient, reqwest::Error> {
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", settings.secret_key.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid-key"));
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        if let Ok(version) = HeaderValue::from_str(&settings.api_version) {
            headers.insert("Stripe-Version", version);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("stripe-graphql/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .build()?;
        Ok(StripeClient {
            http,
            api_base: settings.api_base,
            timeout: settings.timeout,
            slots: Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
        })
    }

    /// `GET /v1/<collection>/<id>`. A 404 is [`StripeError::NotFound`]; an object Stripe
    /// returns as deleted (`"deleted": true`, sent with HTTP 200) is [`StripeError::Deleted`].
    pub async fn retrieve<T: StripeObject>(&self, id: &StripeId) -> Result<T, StripeError> {
        let url =
            object_url(&self.api_base, id).ok_or(StripeError::BadResponse { request_id: None })?;
        let (value, request_id) = self.get_json(url).await?;
        if value.get("deleted").and_then(|d| d.as_bool()) == Some(true) {
            return Err(StripeError::Deleted);
        }
        models::decode(value).map_err(|e| decode_failure::<T>(e, request_id))
    }

    /// `GET /v1/<collection>?<params>`: one page, normalized.
    pub async fn list<T: StripeObject + Clone>(
        &self,
        query: &ListQuery,
    ) -> Result<List<T>, StripeError> {
        let url =
            list_url(&self.api_base, query).ok_or(StripeError::BadResponse { request_id: None })?;
        let (value, request_id) = self.get_json(url).await?;
        let mut list: List<T> =
            serde_json::from_value(value).map_err(|e| decode_failure::<T>(e, request_id))?;
        list.normalize();
        Ok(list)
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
            .map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
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

    fn transport(&self, e: reqwest::Error) -> StripeError {
        if e.is_timeout() {
            StripeError::Timeout(self.timeout)
        } else {
            // reqwest's Display names the URL but never the headers, so no key can leak; the
            // error is logged, not returned.
            tracing::warn!(error = %e.without_url(), "stripe transport failure");
            StripeError::Unavailable {
                status: None,
                request_id: None,
            }
        }
    }
}

fn decode_failure<T: StripeObject>(
    e: serde_json::Error,
    request_id: Option<String>,
) -> StripeError {
    tracing::warn!(object = T::OBJECT, error = %e, "stripe object did not decode");
    StripeError::BadResponse { request_id }
}

/// `<base>/v1/<collection>`. A path in the base URL (a proxy prefix) is kept. `None` only for
/// a base that cannot have a path.
fn collection_url(base: &Url, collection: &str) -> Option<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(["v1", collection]);
    Some(url)
}

/// `<base>/v1/<collection>/<id>`, the id percent-encoded as one path segment.
pub fn object_url(base: &Url, id: &StripeId) -> Option<Url> {
    let mut url = collection_url(base, collection_of(id.kind()))?;
    url.path_segments_mut().ok()?.push(id.as_str());
    Some(url)
}

/// `<base>/v1/<collection>?<params>`, parameters form-encoded in order.
pub fn list_url(base: &Url, query: &ListQuery) -> Option<Url> {
    let mut url = collection_url(base, query.collection)?;
    if !query.params.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &query.params {
            pairs.append_pair(name, value);
        }
    }
    Some(url)
}

/// The `/v1` collection that holds objects of `kind`.
pub fn collection_of(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Customer => "customers",
        IdKind::Subscription => "subscriptions",
        IdKind::SubscriptionItem => "subscription_items",
        IdKind::Price => "prices",
        IdKind::Plan => "plans",
        IdKind::Product => "products",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_put_the_id_in_its_own_segment_under_the_base_path() {
        let id = StripeId::parse(IdKind::Product, "prod_a-b_C").unwrap();
        let stripe: Url = "https://api.stripe.com".parse().unwrap();
        assert_eq!(
            object_url(&stripe, &id).unwrap().as_str(),
            "https://api.stripe.com/v1/products/prod_a-b_C"
        );
        let proxied: Url = "http://proxy.internal/stripe/".parse().unwrap();
        assert_eq!(
            object_url(&proxied, &id).unwrap().as_str(),
            "http://proxy.internal/stripe/v1/products/prod_a-b_C"
        );
    }

    #[test]
    fn list_urls_form_encode_parameters_in_order() {
        let query = ListQuery {
            collection: "customers",
            params: vec![("email", "a+b@example.com".into()), ("limit", "10".into())],
        };
        let base: Url = "https://api.stripe.com".parse().unwrap();
        assert_eq!(
            list_url(&base, &query).unwrap().as_str(),
            "https://api.stripe.com/v1/customers?email=a%2Bb%40example.com&limit=10"
        );
    }
}
