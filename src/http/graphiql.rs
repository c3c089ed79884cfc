//! The GraphiQL page, served entirely from this binary so it works offline.
//!
//! What it serves:
//!
//! | path | what |
//! |---|---|
//! | the page (`/graphiql`, and `GET /graphql` without a query; routed in [`super`]) | [`page`]: a small HTML page of our own |
//! | `/graphiql/assets/react-18.3.1.production.min.js`, `react-dom-18.3.1.production.min.js` | React and ReactDOM, the npm packages' UMD builds |
//! | `/graphiql/assets/graphiql-4.1.2.min.js`, `graphiql-4.1.2.min.css` | GraphiQL's UMD bundle and stylesheet from the npm package |
//! | `/graphiql/assets/graphiql-init-<digest>.js`, `graphiql-page-<digest>.css`, `favicon-<digest>.svg` | our start-up script, layout and icon (`assets/graphiql/page/`) |
//! | `/graphiql/assets/licenses-<digest>.txt` | the licences of everything above that is not ours |
//!
//! The vendored files, their licences, checksums and the script that re-fetches them are in
//! `assets/graphiql/` (see its README); they are compiled in with `include_bytes!`.
//!
//! Guarantees:
//! - **Nothing from another host.** The page references only the assets above, by
//!   same-origin absolute paths; it contains no URL with a scheme or host. GraphiQL's
//!   stylesheet embeds its fonts and images as `data:` URLs.
//! - **A strict Content-Security-Policy** on the page ([`content_security_policy`]): scripts,
//!   stylesheets and requests from this origin only, no inline script and no `eval`, fonts
//!   from `data:` and images from this origin or `data:`, no `<base>`, no form targets, no
//!   framing. Inline styles are allowed only where GraphiQL 4 needs them: a `<style>` element
//!   its dialogs insert (react-remove-scroll), allowed by a per-response nonce that it reads
//!   from `__webpack_nonce__` (set by the start-up script), and `style="…"` attributes in
//!   CodeMirror's HTML dialogs (Alt-G, jump to line), allowed by `style-src-attr
//!   'unsafe-inline'`; an attribute can load nothing the image and font rules do not allow.
//! - **Immutable asset URLs.** Each asset's name carries its package version (vendored) or
//!   the first 12 hex digits of its SHA-256 (ours), so a changed file gets a new URL; assets
//!   are served with `Cache-Control: public, max-age=31536000, immutable`, and
//!   gzip-compressed when the client accepts it. The page itself is `no-store` (its nonce is
//!   new each time).
//! - **No secret in the page.** The page knows only whether the server requires a bearer
//!   token ([`page`]'s `auth_required`, as `data-auth-required`), never the token. When it
//!   does, GraphiQL opens its headers editor with an `Authorization: Bearer <paste
//!   GRAPHQL_AUTH_TOKEN here>` placeholder. What the user types there is sent with each
//!   request to `/graphql` and stays in memory: the start-up script gives GraphiQL a storage
//!   that writes no headers to localStorage (GraphiQL 4's query history would store them).
//! - The page and the assets hold no data, so they are served without the token.

use std::sync::LazyLock;

use actix_web::{
    dev::HttpServiceFactory,
    http::header::{self, HeaderValue},
    middleware::Compress,
    web, HttpResponse,
};
use sha2::{Digest, Sha256};

/// The GraphiQL npm package version served (`assets/graphiql/update.sh` fetches it).
macro_rules! graphiql_version {
    () => {
        "4.1.2"
    };
}

/// The React and ReactDOM npm package version served.
macro_rules! react_version {
    () => {
        "18.3.1"
    };
}

/// The bytes of a file under `assets/graphiql/`, compiled in.
macro_rules! asset_file {
    ($name:expr) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/graphiql/",
            $name
        ))
    };
}

/// The text of a file under `assets/graphiql/`, compiled in.
macro_rules! asset_text {
    ($name:expr) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/graphiql/",
            $name
        ))
    };
}

/// The version of the GraphiQL npm package whose files are served.
pub const GRAPHIQL_VERSION: &str = graphiql_version!();
/// The version of the React and ReactDOM npm packages whose files are served.
pub const REACT_VERSION: &str = react_version!();
/// Where the assets are served: every URL the page references starts with this.
pub const ASSETS_PATH: &str = "/graphiql/assets/";
/// The GraphQL endpoint the page sends its requests to.
pub const ENDPOINT: &str = "/graphql";

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const TEXT: &str = "text/plain; charset=utf-8";

/// The licences of the vendored files as one text: GraphiQL's and React's, then those of what
/// the GraphiQL bundle contains, then those of the fonts its stylesheet embeds.
const LICENSES: &str = concat!(
    "Licences of the third-party files served under /graphiql/assets/.\n",
    "Sources, versions and checksums: assets/graphiql/README.md in the stripe-graphql repository.\n",
    "\n==== graphiql ",
    graphiql_version!(),
    " (graphiql-",
    graphiql_version!(),
    ".min.js, .min.css) ====\n\n",
    asset_text!("LICENSE-graphiql"),
    "\n==== react and react-dom ",
    react_version!(),
    " (react-",
    react_version!(),
    ".production.min.js, react-dom-",
    react_version!(),
    ".production.min.js) ====\n\n",
    asset_text!("LICENSE-react"),
    "\n==== what graphiql-",
    graphiql_version!(),
    ".min.js and .min.css bundle ====\n\n",
    asset_text!("THIRD-PARTY-NOTICES.md"),
    "\n==== Fira Code (font in graphiql-",
    graphiql_version!(),
    ".min.css) ====\n\n",
    asset_text!("LICENSE-FiraCode-OFL-1.1"),
    "\n==== Roboto (font in graphiql-",
    graphiql_version!(),
    ".min.css) ====\n\n",
    asset_text!("LICENSE-Roboto-Apache-2.0"),
);

/// A file served under [`ASSETS_PATH`].
pub struct Asset {
    /// The last path segment: `/graphiql/assets/{name}`.
    pub name: String,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// Its bytes, as compiled in.
    pub body: &'static [u8],
}

impl Asset {
    /// A vendored file, served under its versioned file name.
    fn vendored(name: &str, content_type: &'static str, body: &'static [u8]) -> Asset {
        Asset {
            name: name.to_owned(),
            content_type,
            body,
        }
    }

    /// One of our files, served as `{stem}-{first 12 hex digits of its SHA-256}.{extension}`.
    fn digested(
        stem: &str,
        extension: &str,
        content_type: &'static str,
        body: &'static [u8],
    ) -> Asset {
        let digest = Sha256::digest(body);
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Asset {
            name: format!("{stem}-{hex}.{extension}"),
            content_type,
            body,
        }
    }

    /// The URL path the page references it by.
    pub fn path(&self) -> String {
        format!("{ASSETS_PATH}{}", self.name)
    }
}

/// The assets, each by its role on the page.
pub struct Assets {
    /// React's UMD build (global `React`).
    pub react: Asset,
    /// ReactDOM's UMD build (global `ReactDOM`).
    pub react_dom: Asset,
    /// GraphiQL's UMD bundle (global `GraphiQL`).
    pub graphiql_js: Asset,
    /// GraphiQL's stylesheet.
    pub graphiql_css: Asset,
    /// Our start-up script (`assets/graphiql/page/init.js`).
    pub init_js: Asset,
    /// Our page layout (`assets/graphiql/page/page.css`).
    pub page_css: Asset,
    /// Our icon (`assets/graphiql/page/favicon.svg`).
    pub favicon: Asset,
    /// The third-party licences, as one text file.
    pub licenses: Asset,
}

impl Assets {
    /// Every asset.
    pub fn all(&self) -> [&Asset; 8] {
        [
            &self.favicon,
            &self.graphiql_css,
            &self.page_css,
            &self.react,
            &self.react_dom,
            &self.graphiql_js,
            &self.init_js,
            &self.licenses,
        ]
    }

    /// The asset named `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&Asset> {
        self.all().into_iter().find(|asset| asset.name == name)
    }
}

/// The served assets (names computed once, on first use).
pub static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    react: Asset::vendored(
        concat!("react-", react_version!(), ".production.min.js"),
        JAVASCRIPT,
        asset_file!(concat!("react-", react_version!(), ".production.min.js")),
    ),
    react_dom: Asset::vendored(
        concat!("react-dom-", react_version!(), ".production.min.js"),
        JAVASCRIPT,
        asset_file!(concat!(
            "react-dom-",
            react_version!(),
            ".production.min.js"
        )),
    ),
    graphiql_js: Asset::vendored(
        concat!("graphiql-", graphiql_version!(), ".min.js"),
        JAVASCRIPT,
        asset_file!(concat!("graphiql-", graphiql_version!(), ".min.js")),
    ),
    graphiql_css: Asset::vendored(
        concat!("graphiql-", graphiql_version!(), ".min.css"),
        CSS,
        asset_file!(concat!("graphiql-", graphiql_version!(), ".min.css")),
    ),
    init_js: Asset::digested(
        "graphiql-init",
        "js",
        JAVASCRIPT,
        asset_file!("page/init.js"),
    ),
    page_css: Asset::digested("graphiql-page", "css", CSS, asset_file!("page/page.css")),
    favicon: Asset::digested("favicon", "svg", SVG, asset_file!("page/favicon.svg")),
    licenses: Asset::digested("licenses", "txt", TEXT, LICENSES.as_bytes()),
});

/// The page's HTML. `nonce` goes on the start-up script, which hands it to GraphiQL for the
/// `<style>` elements it inserts; `auth_required` tells the script to prefill the headers
/// editor. Every URL in it is an [`ASSETS_PATH`] path or [`ENDPOINT`].
pub fn html(auth_required: bool, nonce: &str) -> String {
    let a = &*ASSETS;
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stripe-graphql · GraphiQL</title>
<link rel="icon" type="image/svg+xml" href="{favicon}">
<link rel="license" href="{licenses}">
<link rel="stylesheet" href="{graphiql_css}">
<link rel="stylesheet" href="{page_css}">
</head>
<body>
<div id="graphiql" data-endpoint="{ENDPOINT}" data-auth-required="{auth_required}"><p class="loading">Loading GraphiQL…</p></div>
<noscript><p class="loading">GraphiQL needs JavaScript. The GraphQL endpoint is POST {ENDPOINT}.</p></noscript>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql_js}"></script>
<script src="{init_js}" nonce="{nonce}"></script>
</body>
</html>
"#,
        favicon = a.favicon.path(),
        licenses = a.licenses.path(),
        graphiql_css = a.graphiql_css.path(),
        page_css = a.page_css.path(),
        react = a.react.path(),
        react_dom = a.react_dom.path(),
        graphiql_js = a.graphiql_js.path(),
        init_js = a.init_js.path(),
    )
}

/// The page's Content-Security-Policy, allowing `<style>` elements that carry `nonce`.
pub fn content_security_policy(nonce: &str) -> String {
    [
        "default-src 'none'".to_owned(),
        "script-src 'self'".to_owned(),
        format!("style-src 'self' 'nonce-{nonce}'"),
        "style-src-attr 'unsafe-inline'".to_owned(),
        "img-src 'self' data:".to_owned(),
        "font-src data:".to_owned(),
        "connect-src 'self'".to_owned(),
        "base-uri 'none'".to_owned(),
        "form-action 'none'".to_owned(),
        "frame-ancestors 'none'".to_owned(),
    ]
    .join("; ")
}

/// The GraphiQL page with its Content-Security-Policy, a fresh nonce and `Cache-Control:
/// no-store`. `auth_required` is whether `/graphql` needs a bearer token. The nonce is two v4
/// UUIDs from the operating system's random source: 244 random bits, in hex.
pub fn page(auth_required: bool) -> HttpResponse {
    let nonce = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(&nonce),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html(auth_required, &nonce))
}

/// The `/graphiql/assets/{file}` route, gzip-compressed when the client accepts it.
pub fn assets_service() -> impl HttpServiceFactory {
    web::resource(format!("{ASSETS_PATH}{{file}}"))
        .wrap(Compress::default())
        .route(web::get().to(asset))
}

/// Serves one asset, or 404 for a name that is not one.
async fn asset(file: web::Path<String>) -> HttpResponse {
    let Some(asset) = ASSETS.get(&file) else {
        return HttpResponse::NotFound()
            .content_type(TEXT)
            .body("no such GraphiQL asset\n");
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Opened directly, an asset runs nothing (an SVG could otherwise carry script).
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'"))
        .body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_vendored_files_match_sha256sums() {
        let sums = asset_text!("SHA256SUMS");
        let vendored = [
            &ASSETS.react,
            &ASSETS.react_dom,
            &ASSETS.graphiql_js,
            &ASSETS.graphiql_css,
        ];
        assert_eq!(sums.lines().count(), vendored.len(), "{sums}");
        for asset in vendored {
            let hex: String = Sha256::digest(asset.body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(
                sums.lines()
                    .any(|line| line == format!("{hex}  {}", asset.name)),
                "{} (sha256 {hex}) is not in SHA256SUMS:\n{sums}",
                asset.name
            );
        }
    }

    #[test]
    fn asset_names_are_distinct_and_carry_a_version_or_digest() {
        let names: Vec<&str> = ASSETS.all().iter().map(|a| a.name.as_str()).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[..i].contains(name), "{name} twice");
            assert!(
                name.contains(GRAPHIQL_VERSION)
                    || name.contains(REACT_VERSION)
                    || name.split(['-', '.']).any(|part| part.len() == 12
                        && part.bytes().all(|b| b.is_ascii_hexdigit())),
                "{name}"
            );
        }
        // A change to our own file changes its name.
        let a = Asset::digested("x", "js", JAVASCRIPT, b"one");
        let b = Asset::digested("x", "js", JAVASCRIPT, b"two");
        assert_ne!(a.name, b.name);
    }

    #[test]
    fn each_page_gets_its_own_nonce_in_the_policy_and_on_the_start_up_script() {
        let first = page(false);
        let second = page(false);
        let policy = |r: &HttpResponse| {
            r.headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .expect("a policy")
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_ne!(policy(&first), policy(&second));
        let nonce = "0123456789abcdef0123456789abcdef";
        assert!(content_security_policy(nonce).contains(&format!("'nonce-{nonce}'")));
        assert!(html(false, nonce).contains(&format!(
            r#"<script src="{}" nonce="{nonce}"></script>"#,
            ASSETS.init_js.path()
        )));
    }

    #[test]
    fn the_page_says_whether_a_token_is_required() {
        assert!(html(true, "n").contains(r#"data-auth-required="true""#));
        assert!(html(false, "n").contains(r#"data-auth-required="false""#));
    }
}
