//! The GraphiQL page and its assets: served from the binary, same-origin only, under a strict
//! Content-Security-Policy, without the token. (tests/browser/ runs the page in Chromium.)

use std::collections::HashMap;

use stripe_graphql::secret::SecretString;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const TOKEN: &str = "graphiql-page-token-7f3a";

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("server answers")
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("a {name} header"))
        .to_str()
        .unwrap()
}

/// The directives of a Content-Security-Policy, by name.
fn directives(policy: &str) -> HashMap<String, Vec<String>> {
    policy
        .split(';')
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let mut words = d.split_whitespace().map(str::to_owned);
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

/// The values of every `name="…"` attribute in `html`, in order.
fn attribute_values<'h>(html: &'h str, name: &str) -> Vec<&'h str> {
    let needle = format!(" {name}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            &rest[..rest.find('"').expect("a closing quote")]
        })
        .collect()
}

/// The `<tag …>` openings in `html`.
fn tags<'h>(html: &'h str, tag: &str) -> Vec<&'h str> {
    let needle = format!("<{tag}");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &html[at..];
            &rest[..=rest.find('>').expect("a closing >")]
        })
        .collect()
}

/// The bytes of the file under assets/graphiql/ that an asset path serves: the vendored files
/// under their own names, ours from page/ under a digested name; `None` for the licences, which
/// are assembled from several files.
fn source_of(path: &str) -> Option<Vec<u8>> {
    let name = path
        .strip_prefix("/graphiql/assets/")
        .expect("an asset path");
    let file = match name {
        n if n.starts_with("licenses-") => return None,
        n if n.starts_with("graphiql-init-") => "page/init.js",
        n if n.starts_with("graphiql-page-") => "page/page.css",
        n if n.starts_with("favicon-") => "page/favicon.svg",
        n => n,
    };
    let file = format!("{}/assets/graphiql/{file}", env!("CARGO_MANIFEST_DIR"));
    Some(std::fs::read(&file).unwrap_or_else(|e| panic!("read {file}: {e}")))
}

#[tokio::test]
async fn the_graphiql_page_is_html_with_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let page = get(&app, "/graphiql").await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-store");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    let policy = header(&page, "content-security-policy").to_owned();
    let html = page.text().await.unwrap();

    let csp = directives(&policy);
    let d = |name: &str| {
        csp.get(name)
            .unwrap_or_else(|| panic!("{name} in {policy}"))
    };
    assert_eq!(d("default-src"), &["'none'"]);
    assert_eq!(d("script-src"), &["'self'"], "no inline script, no eval");
    assert_eq!(d("connect-src"), &["'self'"]);
    assert_eq!(d("img-src"), &["'self'", "data:"]);
    assert_eq!(d("font-src"), &["data:"]);
    assert_eq!(d("style-src-attr"), &["'unsafe-inline'"]);
    assert_eq!(d("base-uri"), &["'none'"]);
    assert_eq!(d("form-action"), &["'none'"]);
    assert_eq!(d("frame-ancestors"), &["'none'"]);
    let style = d("style-src");
    assert_eq!(style.len(), 2, "{style:?}");
    assert_eq!(style[0], "'self'");
    let nonce = style[1]
        .strip_prefix("'nonce-")
        .and_then(|n| n.strip_suffix('\''))
        .expect("a nonce for <style> elements");
    assert!(nonce.len() >= 32, "at least 128 bits: {nonce}");
    assert!(!policy.contains("unsafe-eval") && !policy.contains('*') && !policy.contains("http"));

    // The nonce is handed to the start-up script only; no inline script or style element.
    let scripts = tags(&html, "script");
    assert_eq!(scripts.len(), 4, "{scripts:?}");
    for script in &scripts {
        assert!(script.starts_with("<script src=\"/"), "{script}");
        assert!(
            html.contains(&format!("{script}</script>")),
            "empty: {script}"
        );
    }
    assert!(scripts[3].contains(&format!("nonce=\"{nonce}\"")));
    assert_eq!(html.matches(nonce).count(), 1);
    assert!(tags(&html, "style").is_empty());
    assert!(attribute_values(&html, "style").is_empty());

    let again = get(&app, "/graphiql").await;
    assert_ne!(
        header(&again, "content-security-policy"),
        policy,
        "a new nonce for every page"
    );
}

#[tokio::test]
async fn every_script_and_stylesheet_the_page_references_is_same_origin_and_served_with_its_content_type(
) {
    let app = spawn_app().await;
    let html = get(&app, "/graphiql").await.text().await.unwrap();
    let scripts = attribute_values(&html, "src");
    let links = attribute_values(&html, "href");
    assert_eq!(
        scripts.len(),
        4,
        "React, ReactDOM, GraphiQL, start-up: {scripts:?}"
    );
    assert!(scripts[0].contains("/react-18.3.1.") && scripts[1].contains("/react-dom-18.3.1."));
    assert!(scripts[2].ends_with("/graphiql-4.1.2.min.js"));
    assert!(links.iter().any(|l| l.ends_with("/graphiql-4.1.2.min.css")));
    assert_eq!(
        tags(&html, "link").len(),
        links.len(),
        "every <link> has an href"
    );

    for path in scripts.iter().chain(&links) {
        assert!(
            path.starts_with("/graphiql/assets/"),
            "a same-origin path: {path}"
        );
        let response = get(&app, path).await;
        assert_eq!(response.status(), 200, "{path}");
        let expected = match path.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            "txt" => "text/plain; charset=utf-8",
            other => panic!("unexpected asset type {other}: {path}"),
        };
        assert_eq!(header(&response, "content-type"), expected, "{path}");
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable",
            "{path}"
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert!(response.headers().get("content-encoding").is_none());
        let body = response.bytes().await.unwrap();
        match source_of(path) {
            Some(file) => assert!(body == file, "{path} is its file byte for byte"),
            None => {
                let text = std::str::from_utf8(&body).unwrap();
                for licensor in [
                    "GraphQL Contributors",
                    "Facebook, Inc. and its affiliates",
                    "Fira Code Project Authors",
                    "Google Inc.",
                ] {
                    assert!(text.contains(licensor), "the licences name {licensor}");
                }
            }
        }
    }
}

#[tokio::test]
async fn the_page_and_its_own_files_name_no_other_host() {
    let app = spawn_app().await;
    let html = get(&app, "/graphiql").await.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
        "{html}"
    );
    for value in attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
    {
        assert!(
            value.starts_with('/') && !value.starts_with("//"),
            "{value}"
        );
    }
    for own in attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
        .filter(|p| p.contains("/graphiql-init-") || p.contains("/graphiql-page-"))
    {
        let text = get(&app, own).await.text().await.unwrap();
        assert!(!text.contains("http:") && !text.contains("https:"), "{own}");
    }
}

#[tokio::test]
async fn with_a_token_configured_graphiql_and_its_assets_are_served_without_it_while_get_graphql_answers_401(
) {
    let app = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;
    let page = get(&app, "/graphiql").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let assets: Vec<&str> = attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
        .collect();
    assert_eq!(assets.len(), 8, "{assets:?}");
    for path in assets {
        assert_eq!(
            get(&app, path).await.status(),
            200,
            "{path} without a token"
        );
    }
    assert_eq!(get(&app, "/graphql").await.status(), 401);
    let with_token = app
        .http
        .get(format!("{}/graphql", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);
    assert!(header(&with_token, "content-security-policy").contains("script-src 'self'"));
    assert!(with_token
        .text()
        .await
        .unwrap()
        .contains(r#"data-auth-required="true""#));
}

#[tokio::test]
async fn the_page_never_contains_the_token_and_only_says_whether_one_is_required() {
    let app = spawn_app_with(|o| o.config.http.auth_token = Some(SecretString::new(TOKEN))).await;
    let html = get(&app, "/graphiql").await.text().await.unwrap();
    assert!(html.contains(r#"data-auth-required="true""#));
    let via_graphql = app
        .http
        .get(format!("{}/graphql", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut served = vec![html.clone(), via_graphql];
    for path in attribute_values(&html, "src") {
        served.push(get(&app, path).await.text().await.unwrap());
    }
    for body in &served {
        assert!(!body.contains(TOKEN));
    }
    let init = served.last().unwrap();
    assert!(
        init.contains("Bearer <paste GRAPHQL_AUTH_TOKEN here>"),
        "the start-up script prefills the headers editor"
    );

    let open = spawn_app().await;
    let html = get(&open, "/graphiql").await.text().await.unwrap();
    assert!(html.contains(r#"data-auth-required="false""#));
}

#[tokio::test]
async fn names_that_are_not_assets_answer_404() {
    let app = spawn_app().await;
    for path in [
        "/graphiql/assets/graphiql-4.1.1.min.js",
        "/graphiql/assets/init.js",
        "/graphiql/assets/..%2F..%2FCargo.toml",
        "/graphiql/assets/SHA256SUMS",
        "/graphiql/assets/",
    ] {
        assert_eq!(get(&app, path).await.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn assets_are_gzip_compressed_for_clients_that_accept_it() {
    let app = spawn_app().await;
    let html = get(&app, "/graphiql").await.text().await.unwrap();
    let bundle = attribute_values(&html, "src")[2];
    let compressed = app
        .http
        .get(format!("{}{bundle}", app.base))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(compressed.status(), 200);
    assert_eq!(header(&compressed, "content-encoding"), "gzip");
    let size = compressed.bytes().await.unwrap().len();
    assert!(
        size < source_of(bundle).unwrap().len() / 2,
        "{size} bytes compressed"
    );
}
