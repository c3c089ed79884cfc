//! The GraphiQL page, served entirely from the binary.
//!
//! Guarantees:
//! - **Offline.** The page and everything it loads (React 18.3.1, GraphiQL 4.1.2, their CSS,
//!   our init script and icon) are embedded from `assets/graphiql/` and served under
//!   `/graphiql/assets/`; the page names no other host. Sources and licences:
//!   `assets/graphiql/README.md`.
//! - **Strict CSP.** The page is sent with a Content-Security-Policy that allows scripts, styles,
//!   fonts, images and requests only from this origin (plus the `data:` fonts and images
//!   GraphiQL's CSS embeds, and the inline styles its editor sets), so a browser refuses
//!   anything else even if a dependency tried it.
//! - **No secrets.** The page holds no data and no token: it tells the script only whether
//!   `/graphql` requires a bearer token, in which case GraphiQL's headers editor opens with an
//!   `Authorization` placeholder to fill in.
//! - **Relative URLs.** The page reaches `graphql` and `graphiql/assets/…` relative to its own
//!   URL, so it works at `/graphiql` and `/graphql` and behind a proxy path prefix.
//! - Assets are gzip-compressed for clients that accept it (GraphiQL's bundle is 1 MB, about
//!   a quarter of that compressed).
//! - Versioned vendor files are cached by browsers for a year (`immutable`); the page and the
//!   project's own files are revalidated every time (`no-cache`).

use actix_web::{
    http::header::{self, HeaderValue},
    middleware::Compress,
    web, HttpResponse,
};

/// GraphiQL's version, as in the asset file names.
pub const GRAPHIQL_VERSION: &str = "4.1.2";
/// React's version, as in the asset file names.
pub const REACT_VERSION: &str = "18.3.1";

/// The Content-Security-Policy sent with the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("../assets/graphiql/page.html");

/// One embedded file under `/graphiql/assets/`.
struct Asset {
    name: &'static str,
    body: &'static [u8],
    content_type: &'static str,
    /// Versioned vendor files never change under their name.
    immutable: bool,
}

macro_rules! asset {
    ($name:literal, $content_type:expr, $immutable:literal) => {
        Asset {
            name: $name,
            body: include_bytes!(concat!("../assets/graphiql/", $name)),
            content_type: $content_type,
            immutable: $immutable,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

static ASSETS: [Asset; 7] = [
    asset!("react-18.3.1.production.min.js", JS, true),
    asset!("react-dom-18.3.1.production.min.js", JS, true),
    asset!("graphiql-4.1.2.min.js", JS, true),
    asset!("graphiql-4.1.2.min.css", CSS, true),
    asset!("init.js", JS, false),
    asset!("page.css", CSS, false),
    asset!("favicon.svg", SVG, false),
];

/// Registers `GET /graphiql` (the page, no token needed: it holds no data) and
/// `GET /graphiql/assets/{name}`. `auth_required` says whether `/graphql` needs a token.
pub fn configure(cfg: &mut web::ServiceConfig, auth_required: bool) {
    cfg.route(
        "/graphiql",
        web::get().to(move || async move { page(auth_required) }),
    )
    .service(
        web::resource("/graphiql/assets/{name}")
            .wrap(Compress::default())
            .route(web::get().to(asset)),
    );
}

/// The page, with its security headers. `auth_required` opens the headers editor with an
/// `Authorization` placeholder.
pub fn page(auth_required: bool) -> HttpResponse {
    let html = PAGE.replace(
        "{{AUTH_REQUIRED}}",
        if auth_required { "true" } else { "false" },
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(html)
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name.as_str()) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such GraphiQL asset");
    };
    let cache = if asset.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_references_is_embedded() {
        for reference in PAGE
            .split(['"', '\''])
            .filter(|s| s.starts_with("graphiql/assets/"))
        {
            let name = reference.trim_start_matches("graphiql/assets/");
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} is referenced by the page but not embedded"
            );
        }
    }

    #[test]
    fn vendor_file_names_carry_the_pinned_versions() {
        for asset in ASSETS.iter().filter(|a| a.immutable) {
            assert!(
                asset.name.contains(GRAPHIQL_VERSION) || asset.name.contains(REACT_VERSION),
                "{} is cached as immutable, so its name must carry its version",
                asset.name
            );
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        for asset in &ASSETS {
            let expected = match asset.name.rsplit('.').next() {
                Some("js") => JS,
                Some("css") => CSS,
                Some("svg") => SVG,
                other => panic!("unexpected extension {other:?}"),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.name);
        }
    }
}
