//! The GraphiQL page: served from the binary, same-origin only, with a strict CSP. (The page
//! rendering and running a query in a real browser is tests/browser.)

use stripe_graphql::{graphiql::CONTENT_SECURITY_POLICY, secret::SecretString};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const TOKEN: &str = "graphiql-test-token-31";

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap()
}

/// The `src`/`href` values of the page's `<script>` and `<link>` tags.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attribute) {
            let rest = &html[i + attribute.len()..];
            found.push(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    found
}

#[tokio::test]
async fn the_page_loads_only_same_origin_files_that_the_server_serves() {
    let app = spawn_app().await;
    for path in ["/graphiql", "/graphql"] {
        let page = get(&app, path).await;
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(
            page.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(
            page.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY
        );
        let html = page.text().await.unwrap();
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
            "no other host: {html}"
        );
        assert!(!html.contains("<script>"), "no inline script under the CSP");
        let refs = references(&html);
        assert_eq!(refs.len(), 7, "{refs:?}");
        for reference in refs {
            assert!(
                reference.starts_with("graphiql/assets/"),
                "relative, same-origin: {reference}"
            );
            // Relative to /graphiql and to /graphql alike.
            let asset = get(&app, &format!("/{reference}")).await;
            assert_eq!(asset.status(), 200, "{reference}");
            let content_type = asset.headers()["content-type"].to_str().unwrap().to_owned();
            let expected = match reference.rsplit('.').next().unwrap() {
                "js" => "text/javascript; charset=utf-8",
                "css" => "text/css; charset=utf-8",
                "svg" => "image/svg+xml",
                other => panic!("unexpected file type {other}"),
            };
            assert_eq!(content_type, expected, "{reference}");
            assert!(!asset.bytes().await.unwrap().is_empty(), "{reference}");
        }
    }
    assert_eq!(get(&app, "/graphiql/assets/nope.js").await.status(), 404);
    assert_eq!(
        get(&app, "/graphiql/assets/..%2FCargo.toml").await.status(),
        404
    );
    assert_eq!(app.stripe_calls(), 0);
}

#[tokio::test]
async fn vendor_files_are_cached_for_a_year_and_compressed_on_request() {
    let app = spawn_app().await;
    let bundle = app
        .http
        .get(format!(
            "{}/graphiql/assets/graphiql-4.1.2.min.js",
            app.base
        ))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert_eq!(
        bundle.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(bundle.headers()["content-encoding"], "gzip");
    let init = get(&app, "/graphiql/assets/init.js").await;
    assert_eq!(init.headers()["cache-control"], "no-cache");
}

#[tokio::test]
async fn with_a_token_the_page_opens_without_it_and_asks_for_the_header() {
    let app = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;
    let page = get(&app, "/graphiql").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-auth-required=\"true\""), "{html}");
    assert!(!html.contains(TOKEN));
    for reference in references(&html) {
        assert_eq!(
            get(&app, &format!("/{reference}")).await.status(),
            200,
            "{reference} needs no token"
        );
    }
    assert_eq!(get(&app, "/graphql").await.status(), 401);

    let open = spawn_app().await;
    let html = get(&open, "/graphiql").await.text().await.unwrap();
    assert!(html.contains("data-auth-required=\"false\""), "{html}");
}
