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

use crate::{
    cache::StripeCache,
    config::{Config, SecretString},
    graphql,
    http::{self, AppState, BearerToken},
    sandbox::{self, Sandbox},
    stripe::{ClientSettings, StripeClient},
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
    /// The HTTP client could not be built.
    #[error("cannot build the Stripe HTTP client: {0}")]
    Client(reqwest::Error),
}

impl Application {
    /// Builds everything and binds `config.listen_addr`. In demo mode, starts the embedded
    /// sandbox first and points the Stripe client at it.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let (stripe, sandbox) = match (&config.stripe, config.demo) {
            (Some(stripe), false) => (stripe.clone(), None),
            _ => {
                let sandbox = Sandbox::start_demo().await.map_err(StartupError::Sandbox)?;
                let settings = crate::config::StripeSettings {
                    api_base: sandbox.base_url().parse().expect("sandbox URL is valid"),
                    secret_key: SecretString::new(sandbox::DEMO_KEY),
                };
                (settings, Some(sandbox))
            }
        };
        let client = StripeClient::new(ClientSettings {
            api_base: stripe.api_base,
            secret_key: stripe.secret_key,
            api_version: config.api_version.clone(),
            timeout: config.stripe_timeout,
            max_concurrency: config.stripe_max_concurrency,
        })
        .map_err(StartupError::Client)?;
        let cache = StripeCache::new(client, config.cache);
        let state = web::Data::new(AppState::new(
            graphql::schema(cache.clone()),
            cache,
            config.auth_token.as_ref().map(BearerToken::new),
            config.max_body_bytes,
        ));
        let listener =
            TcpListener::bind(config.listen_addr).map_err(|source| StartupError::Bind {
                addr: config.listen_addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.listen_addr,
            source,
        })?;
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
        let url = format!("http://{}/graphql", browsable(self.addr));
        tracing::info!(addr = %self.addr, api_version = %config.api_version,
            auth = config.auth_token.is_some(), cache_ttl_s = config.cache.ttl.as_secs(), "listening");
        if let Some(sandbox) = &self.sandbox {
            tracing::info!(
                sandbox = %sandbox.base_url(),
                "DEMO MODE: serving embedded sandbox data, not Stripe. GraphiQL: {url} ; sample customer id: {}",
                sandbox::demo::AVA
            );
        } else {
            tracing::info!("GraphiQL: {url}");
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

/// `stripe-graphql healthcheck`: true if `GET /healthz` on `listen_addr` (via loopback when
/// it is a wildcard address) answers 200 within 3 seconds. Plain std networking, so it works
/// in an image without a shell or curl.
pub fn healthcheck(listen_addr: SocketAddr) -> bool {
    let addr = browsable(listen_addr);
    let timeout = Duration::from_secs(3);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
