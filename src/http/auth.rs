//! The bearer token (`GRAPHQL_AUTH_TOKEN`) every route but the webhook and the static pages
//! needs, and who may read `/metrics` (`METRICS_AUTH`).

use actix_web::{
    http::{header, StatusCode},
    HttpRequest, HttpResponse,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::reply;
use crate::secret::SecretString;

/// The message every refusal for a missing or wrong token carries.
pub const UNAUTHENTICATED_MESSAGE: &str =
    "missing or invalid bearer token: send `Authorization: Bearer <GRAPHQL_AUTH_TOKEN>`";

/// The bearer token a route requires. Only its SHA-256 digest is kept, and presented tokens
/// are compared digest to digest in constant time, so neither the token's content nor its
/// length leaks through timing.
#[derive(Clone)]
pub struct BearerToken([u8; 32]);

impl BearerToken {
    /// Keeps the digest of `token`.
    pub fn new(token: &SecretString) -> Self {
        BearerToken(Sha256::digest(token.expose().as_bytes()).into())
    }

    /// Whether an `Authorization` header value is `Bearer <this token>` (scheme
    /// case-insensitive, as RFC 7235 says).
    pub fn accepts(&self, header_value: Option<&[u8]>) -> bool {
        let Some(value) = header_value else {
            return false;
        };
        let Some((scheme, presented)) = split_scheme(value) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return false;
        }
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.0).into()
    }
}

fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some((scheme, token))
}

/// The server's token requirement: `None` when `GRAPHQL_AUTH_TOKEN` is not set (every request
/// passes, and nothing a request says about itself can be trusted).
#[derive(Clone, Default)]
pub struct Auth(Option<BearerToken>);

impl Auth {
    /// Requires `token`, when one is configured.
    pub fn new(token: Option<&SecretString>) -> Auth {
        Auth(token.map(BearerToken::new))
    }

    /// Whether a token is configured: a request that passed [`Auth::admits`] then presented it.
    pub fn is_configured(&self) -> bool {
        self.0.is_some()
    }

    /// Whether `req` may pass: no token configured, or it sent `Authorization: Bearer <token>`.
    pub fn admits(&self, req: &HttpRequest) -> bool {
        match &self.0 {
            None => true,
            Some(token) => token.accepts(
                req.headers()
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes()),
            ),
        }
    }
}

/// The 401 of a GraphQL-speaking route (`/graphql`, `/metrics`): GraphQL-shaped, coded
/// `UNAUTHENTICATED`, with `WWW-Authenticate`.
pub fn unauthorized() -> HttpResponse {
    let mut response = reply::graphql_error(
        StatusCode::UNAUTHORIZED,
        reply::Code::Unauthenticated,
        UNAUTHENTICATED_MESSAGE,
    );
    challenge(&mut response);
    response
}

/// Adds `WWW-Authenticate: Bearer realm="stripe-graphql"` to a 401.
pub fn challenge(response: &mut HttpResponse) {
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"stripe-graphql\""),
    );
}

/// Who may read `GET /metrics` (`METRICS_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsAuth {
    /// The same bearer token as `/graphql` when `GRAPHQL_AUTH_TOKEN` is set; open when it is
    /// not (the default).
    Token,
    /// Open to anyone who can reach the port, token or not: for a scraper on a private
    /// network that should not hold the GraphQL token.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_accepts_only_the_exact_token() {
        let token = BearerToken::new(&SecretString::new("s3cret-token"));
        assert!(token.accepts(Some(b"Bearer s3cret-token")));
        assert!(token.accepts(Some(b"bearer s3cret-token")));
        assert!(!token.accepts(Some(b"Bearer s3cret-tokeN")));
        assert!(!token.accepts(Some(b"Bearer s3cret-token-and-more")));
        assert!(!token.accepts(Some(b"Basic s3cret-token")));
        assert!(!token.accepts(Some(b"s3cret-token")));
        assert!(!token.accepts(Some(b"Bearer ")));
        assert!(!token.accepts(None));
    }
}
