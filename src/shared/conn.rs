//! The one connection to Redis: a single server (a reconnecting multiplexed connection) or a
//! Redis Cluster, both in RESP3 so that pub/sub messages arrive on the same connection. Its
//! driver tasks live on the I/O runtime ([`crate::runtime::io`]).

use std::time::Duration;

use tokio::sync::watch;

use ::redis::{
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
    Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, PushInfo, RedisError, RedisFuture,
    RedisResult, Value,
};

use super::RedisSettings;

/// A connection, or the cluster connection still being made.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    /// Filled once the cluster answered (retried in the background until then).
    Cluster(watch::Receiver<Option<ClusterConnection>>),
    /// A URL that cannot be used: nothing is ever sent.
    Broken,
}

/// What is wrong with `settings.url`, without the URL (it may hold a password).
pub fn url_problem(settings: &RedisSettings) -> String {
    for url in settings.url.expose().split(',') {
        if let Err(e) = url.trim().into_connection_info() {
            return e.to_string();
        }
    }
    "it names no server".to_owned()
}

fn refused() -> RedisError {
    RedisError::from((::redis::ErrorKind::Io, "not connected to Redis (yet)"))
}

impl Conn {
    /// The connection for `settings`, its pushed messages handed to `on_push`.
    pub fn open(
        settings: &RedisSettings,
        on_push: impl Fn(PushInfo) + Send + Sync + Clone + 'static,
    ) -> Option<Conn> {
        let io = crate::runtime::io().ok()?;
        let _in_io = io.enter();
        let urls: Vec<String> = settings
            .url
            .expose()
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        let infos = urls
            .iter()
            .map(|u| u.as_str().into_connection_info().ok())
            .collect::<Option<Vec<_>>>()?;
        let push = move |info: PushInfo| -> Result<(), std::convert::Infallible> {
            on_push(info);
            Ok(())
        };
        if !settings.cluster {
            let [info] = infos.as_slice() else {
                return None;
            };
            let redis = info
                .redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3);
            let client = ::redis::Client::open(info.clone().set_redis_settings(redis)).ok()?;
            let config = ConnectionManagerConfig::new()
                .set_response_timeout(Some(settings.timeout))
                .set_connection_timeout(Some(settings.timeout))
                .set_push_sender(push)
                .set_automatic_resubscription();
            let manager = ConnectionManager::new_lazy_with_config(client, config).ok()?;
            return Some(Conn::Single(manager));
        }
        let client = ClusterClientBuilder::new(infos)
            .use_protocol(ProtocolVersion::RESP3)
            .push_sender(push)
            .response_timeout(settings.timeout)
            .connection_timeout(settings.timeout)
            .build()
            .ok()?;
        let (filled, slot) = watch::channel(None);
        io.spawn(async move {
            // Until the cluster answers once; it then reconnects by itself.
            loop {
                match client.get_async_connection().await {
                    Ok(connection) => {
                        filled.send_replace(Some(connection));
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "redis cluster not reachable yet");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Some(Conn::Cluster(slot))
    }

    /// Waits, at most `within`, until a cluster's connection is made (its slots known);
    /// whether it is. A single server's connection is made by its first command: `true`.
    pub async fn connected(&self, within: Duration) -> bool {
        match self {
            Conn::Single(_) => true,
            Conn::Cluster(slot) => {
                let mut slot = slot.clone();
                let made = tokio::time::timeout(within, slot.wait_for(Option::is_some))
                    .await
                    .is_ok_and(|made| made.is_ok());
                made
            }
            Conn::Broken => false,
        }
    }

    /// The connection that sends nothing.
    pub fn broken() -> Conn {
        Conn::Broken
    }

    /// Whether it is [`Conn::Broken`].
    pub fn is_broken(&self) -> bool {
        matches!(self, Conn::Broken)
    }

    /// A handle to send commands on (cheap: the connections are multiplexed).
    fn link(&self) -> Result<Link, RedisError> {
        match self {
            Conn::Single(manager) => Ok(Link::Single(manager.clone())),
            Conn::Cluster(slot) => slot.borrow().clone().map(Link::Cluster).ok_or_else(refused),
            Conn::Broken => Err(refused()),
        }
    }

    /// Sends `cmd`.
    pub async fn query(&self, cmd: &Cmd) -> RedisResult<Value> {
        let mut link = self.link()?;
        cmd.query_async(&mut link).await
    }

    /// Runs `invocation` (EVALSHA, then the script itself if Redis does not know it).
    pub async fn invoke(&self, invocation: &::redis::ScriptInvocation<'_>) -> RedisResult<Value> {
        let mut link = self.link()?;
        invocation.invoke_async(&mut link).await
    }

    /// `PUBLISH`, or `SPUBLISH` in a cluster (the channel's slot is the namespace's).
    pub fn publish_cmd(&self, channel: &str, payload: &[u8]) -> Cmd {
        let mut cmd = ::redis::cmd(match self {
            Conn::Cluster(_) => "SPUBLISH",
            _ => "PUBLISH",
        });
        cmd.arg(channel).arg(payload);
        cmd
    }

    /// Subscribes to `channel` (sharded in a cluster).
    pub async fn subscribe(&self, channel: &str) -> RedisResult<()> {
        match self.link()? {
            Link::Single(mut manager) => manager.subscribe(channel).await,
            Link::Cluster(mut cluster) => cluster.ssubscribe(channel).await,
        }
    }
}

/// One of the two kinds of connection, as [`ConnectionLike`].
enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}
