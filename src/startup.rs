//! Wiring: builds the Stripe client, cache, schema and HTTP server from a [`Config`].
//!
//! [`Application::build`] binds the listener before returning, so callers (and tests, with
//! port 0) can read the real address from [`Application::local_addr`] before serving.

use std::{
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

use actix_web::{dev::Server, web, App, HttpServer};
use stripe_sandbox::Sandbox;

use crate::{
    cache::StripeCache,
    config::{Config, Upstream},
    hasura::{HasuraClient, HasuraError},
    http::{self, AppState},
    metrics::Metrics,
    profile::ProfileSync,
    secret::SecretString,
    stripe::{ClientError, Endpoint, StripeClient},
    webhook::{WebhookSettings, DEFAULT_TOLERANCE},
};

/// A built server, listening, not yet serving.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    sandbox: Option<Sandbox>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// the address
        addr: SocketAddr,
        /// the cause
        source: std::io::Error,
    },
    /// The embedded sandbox could not start.
    #[error("cannot start the demo sandbox: {0}")]
    Sandbox(std::io::Error),
    /// The Stripe client could not be built.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The Hasura client could not be built (a secret that cannot be a header value).
    #[error("cannot build the Hasura client: {0}")]
    Hasura(HasuraError),
}

impl Application {
    /// Builds everything and binds `config.listen_addr`. In demo mode, starts the embedded
    /// sandbox first, points the Stripe client at it, and has it send its webhooks to this
    /// server's `/webhooks/stripe`, signed with `STRIPE_WEBHOOK_SECRET` or, when that is unset,
    /// a secret generated now (so `--demo` exercises the real webhook path).
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let (endpoint, sandbox) = match &config.upstream {
            Upstream::Stripe(endpoint) => (endpoint.clone(), None),
            Upstream::DemoSandbox => {
                let sandbox = Sandbox::start_demo().await.map_err(StartupError::Sandbox)?;
                let endpoint = Endpoint {
                    api_base: sandbox.base_url().parse().expect("sandbox URL is valid"),
                    secret_key: SecretString::new(stripe_sandbox::DEMO_KEY),
                };
                (endpoint, Some(sandbox))
            }
        };
        let listener =
            TcpListener::bind(config.listen_addr).map_err(|source| StartupError::Bind {
                addr: config.listen_addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.listen_addr,
            source,
        })?;
        let mut webhook = config.webhook.clone();
        if let Some(sandbox) = &sandbox {
            let settings = webhook.get_or_insert_with(|| WebhookSettings {
                secret: SecretString::new(format!(
                    "whsec_demo{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                )),
                tolerance: DEFAULT_TOLERANCE,
            });
            sandbox.send_webhooks_to(
                &format!("http://{}/webhooks/stripe", browsable(addr)),
                settings.secret.expose(),
            );
        }
        let metrics = Metrics::new();
        let client = StripeClient::new(endpoint, &config.client, metrics.clone())?;
        let cache = StripeCache::new(client.clone(), config.cache, metrics.clone());
        let profile = match &config.hasura {
            None => None,
            Some(settings) => Some(ProfileSync::new(
                HasuraClient::new(settings).map_err(StartupError::Hasura)?,
                cache.clone(),
                config.http.scoping.metadata_key.clone(),
            )),
        };
        let state = web::Data::new(
            AppState::new(cache, client, metrics, &config.http)
                .with_webhook(webhook)
                .with_profile(profile)
                .with_limits(config.limits),
        );
        let server = HttpServer::new(move || App::new().configure(http::configure(state.clone())))
            .listen(listener)
            .map_err(|source| StartupError::Bind { addr, source })?
            .shutdown_timeout(10)
            .run();
        let app = Application {
            server,
            addr,
            sandbox,
        };
        app.log_startup(&config);
        Ok(app)
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The embedded sandbox, in demo mode.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// Serves until the process receives SIGINT/SIGTERM (graceful, up to 10 s).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _sandbox = self.sandbox;
        self.server.await
    }

    fn log_startup(&self, config: &Config) {
        let auth = config.http.auth_token.is_some();
        tracing::info!(addr = %self.addr, api_version = %config.client.api_version,
            auth, cache_ttl_s = config.cache.ttl.as_secs(), "listening");
        let base = format!("http://{}", browsable(self.addr));
        // `/graphiql` is the page a browser can open whether or not a token is required
        // (`GET /graphql` answers 401 to a browser when one is).
        let how = if auth {
            " ; GRAPHQL_AUTH_TOKEN is set: in GraphiQL's Headers tab, send {\"Authorization\": \"Bearer <GRAPHQL_AUTH_TOKEN>\"}"
        } else {
            ""
        };
        tracing::info!("GraphQL endpoint: {base}/graphql");
        if let Some(sandbox) = &self.sandbox {
            tracing::info!(
                sandbox = %sandbox.base_url(),
                "DEMO MODE: serving embedded sandbox data, not Stripe. GraphiQL: {base}/graphiql{how} ; sample customer id: {}",
                stripe_sandbox::demo::AVA
            );
            tracing::info!(
                "DEMO webhooks: the sandbox sends signed events to {base}/webhooks/stripe when its data changes. Try: curl {}/v1/customers/{} -H 'Authorization: Bearer {}' -d name='Ava M.' -d 'metadata[tier]=gold' , then query the customer again: it is fresh at once",
                sandbox.base_url(),
                stripe_sandbox::demo::AVA,
                stripe_sandbox::DEMO_KEY
            );
        } else {
            tracing::info!("GraphiQL: {base}/graphiql{how}");
        }
        match &config.webhook {
            Some(webhook) => {
                tracing::info!(
                    tolerance_s = webhook.tolerance.as_secs(),
                    "Stripe webhooks: POST {base}/webhooks/stripe (signed with STRIPE_WEBHOOK_SECRET; no bearer token)"
                );
                if !webhook.secret.expose().starts_with("whsec_") {
                    tracing::warn!(
                        "STRIPE_WEBHOOK_SECRET does not start with `whsec_`: Stripe's signing secrets do (Dashboard → Developers → Webhooks → the endpoint → Signing secret, or what `stripe listen` prints); deliveries signed with another secret will be refused"
                    );
                }
            }
            None if self.sandbox.is_none() => tracing::info!(
                "Stripe webhooks: disabled (set STRIPE_WEBHOOK_SECRET to enable POST /webhooks/stripe; until then changes show after CACHE_TTL_SECONDS)"
            ),
            None => {}
        }
    }
}

/// The address a browser on this machine can reach (0.0.0.0 → 127.0.0.1).
fn browsable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// `stripe-graphql healthcheck`: `Ok` if `GET /healthz` on `listen_addr` (via loopback when
/// it is a wildcard address) answers 200 within 3 seconds; otherwise the reason, as one line
/// naming the URL. Plain std networking, so it works in an image without a shell or curl.
pub fn healthcheck(listen_addr: SocketAddr) -> Result<(), String> {
    let addr = browsable(listen_addr);
    let url = format!("http://{addr}/healthz");
    let fail = |why: String| format!("GET {url} failed: {why}");
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .map_err(|e| fail(format!("no HTTP answer ({e})")))?;
    if head.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(fail(format!(
            "answered `{}`",
            String::from_utf8_lossy(&head).trim()
        )))
    }
}
