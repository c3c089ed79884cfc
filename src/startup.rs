//! Wiring: builds the Stripe client, cache, schema and HTTP server from a [`Config`].
//!
//! [`Application::build`] binds the listener before returning, so callers (and tests, with
//! port 0) can read the real address from [`Application::local_addr`] before serving.

use std::{
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

use actix_web::{dev::Server, App, HttpServer};
#[cfg(feature = "demo")]
use stripe_sandbox::Sandbox;

use crate::{
    cache::{SharedSource, StripeCache, StripeSource},
    config::{Config, Upstream},
    events::stale::stale_tags,
    http::{AppState, Services},
    metrics::Metrics,
    mirror::Mirror,
    profile::{
        hasura::{HasuraClient, HasuraError},
        ProfileSync,
    },
    shared::{Shared, SharedError},
    stripe::{ClientError, StripeClient},
};
#[cfg(feature = "demo")]
use crate::{
    events::{WebhookSettings, DEFAULT_TOLERANCE},
    secret::SecretString,
    stripe::Endpoint,
};

/// How long a starting server waits for a Redis Cluster's first answer (its slots) before it
/// starts serving without it (it keeps trying in the background).
const REDIS_STARTUP_WAIT: Duration = Duration::from_secs(2);

/// A built server, listening, not yet serving.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    #[cfg(feature = "demo")]
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
    /// Demo mode (`--demo`, or `DEMO=auto` without a key) in a server built without the
    /// `demo` feature, which has no sandbox inside.
    #[error("this build has no embedded sandbox (built without the `demo` feature), so it cannot serve the demo (--demo, or DEMO=auto without a key): set STRIPE_SECRET_KEY to serve Stripe, or build with default features (cargo build --release) for the demo")]
    NoSandbox,
    /// The Stripe client could not be built.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The Hasura client could not be built (a secret that cannot be a header value).
    #[error("cannot build the Hasura client: {0}")]
    Hasura(HasuraError),
    /// `REDIS_URL` cannot be used.
    #[error("{0}")]
    Redis(SharedError),
}

impl Application {
    /// Builds everything and binds `config.listen_addr`. In demo mode, starts the embedded
    /// sandbox first, points the Stripe client at it, and has it send its webhooks to this
    /// server's `/webhooks/stripe`, signed with `STRIPE_WEBHOOK_SECRET` or, when that is unset,
    /// a secret generated now (so `--demo` exercises the real webhook path). A server built
    /// without the `demo` feature refuses demo mode ([`StartupError::NoSandbox`]).
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        #[cfg(feature = "demo")]
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
        #[cfg(not(feature = "demo"))]
        let endpoint = match &config.upstream {
            Upstream::Stripe(endpoint) => endpoint.clone(),
            Upstream::DemoSandbox => return Err(StartupError::NoSandbox),
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
        #[cfg_attr(not(feature = "demo"), allow(unused_mut))]
        let mut webhook = config.webhook.clone();
        #[cfg(feature = "demo")]
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
        let stripe_key = endpoint.secret_key.clone();
        let mut client = StripeClient::new(endpoint, &config.client, metrics.clone())?;
        let shared = match &config.redis {
            None => None,
            Some(redis) => {
                let shared = Shared::connect(redis, &stripe_key, metrics.clone())
                    .map_err(StartupError::Redis)?;
                if !shared.connected(REDIS_STARTUP_WAIT).await {
                    tracing::warn!(
                        "redis cluster not reachable at startup: serving without it until it answers"
                    );
                }
                client = client.sharing_limits(shared.clone(), redis.expected_replicas);
                Some(shared)
            }
        };
        let mut source = StripeSource::shared(client.clone());
        if let Some(shared) = shared {
            source = SharedSource::over(
                shared,
                source,
                config.cache,
                config.client.deadline,
                metrics.clone(),
            )
            .await;
        }
        let mirror = config
            .mirror
            .map(|settings| Mirror::new(source.clone(), client.clone(), settings, metrics.clone()));
        if let Some(mirror) = &mirror {
            source = mirror.source();
        }
        let cache = StripeCache::over(source, client.clone(), config.cache, metrics.clone());
        if let Some(mirror) = &mirror {
            mirror.start(cache.clone(), |event| stale_tags(event).ok().flatten());
        }
        let profile = match &config.hasura {
            None => None,
            Some(settings) => Some(ProfileSync::new(
                HasuraClient::new(settings).map_err(StartupError::Hasura)?,
                cache.clone(),
                config.http.scoping.metadata_key.clone(),
                settings.phone_default_region,
            )),
        };
        let services = Services {
            cache,
            stripe: client,
            metrics,
            webhook,
            profile,
            mirror,
            limits: config.limits,
        };
        let state = AppState::new(services, &config.http);
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().configure(move |cfg| state.configure(cfg))
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind { addr, source })?
        .shutdown_timeout(10)
        .run();
        let app = Application {
            server,
            addr,
            #[cfg(feature = "demo")]
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
    #[cfg(feature = "demo")]
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// Serves until the process receives SIGINT/SIGTERM (graceful, up to 10 s).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        #[cfg(feature = "demo")]
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
        let demo = self.log_demo(&base, how);
        if !demo {
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
            None if !demo => tracing::info!(
                "Stripe webhooks: disabled (set STRIPE_WEBHOOK_SECRET to enable POST /webhooks/stripe; until then changes show after CACHE_TTL_SECONDS)"
            ),
            None => {}
        }
    }

    /// In demo mode, logs where the sandbox is and how to try it; returns whether it did.
    #[cfg(feature = "demo")]
    fn log_demo(&self, base: &str, how: &str) -> bool {
        let Some(sandbox) = &self.sandbox else {
            return false;
        };
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
        true
    }

    /// A server built without the `demo` feature is never in demo mode.
    #[cfg(not(feature = "demo"))]
    fn log_demo(&self, _base: &str, _how: &str) -> bool {
        false
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
