//! Redis servers of a test's own: one `redis-server` ([`RedisServer`]) or a three-primary
//! Redis Cluster ([`RedisCluster`]), on free loopback ports, without persistence, stopped
//! (SIGKILL) when dropped. They need Debian's `redis-server` and `redis-cli` (`REDIS_SERVER`
//! names another server binary); `.ci/run` installs them.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// What the replicas of a test share: its URL for `REDIS_URL`, and whether it is a cluster.
pub trait RedisUnderTest {
    fn url(&self) -> String;
    fn cluster(&self) -> bool;
    /// SIGKILL, as a crash (every node of a cluster).
    fn stop(&mut self);
}

impl RedisUnderTest for RedisServer {
    fn url(&self) -> String {
        RedisServer::url(self)
    }
    fn cluster(&self) -> bool {
        false
    }
    fn stop(&mut self) {
        self.kill();
    }
}

impl RedisUnderTest for RedisCluster {
    fn url(&self) -> String {
        RedisCluster::url(self)
    }
    fn cluster(&self) -> bool {
        true
    }
    fn stop(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::kill);
    }
}

/// A `redis-server` of this test's own, stopped (SIGKILL) when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    /// Further arguments (a cluster node's).
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts one on a free loopback port and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        let port = free_port();
        let mut server = RedisServer {
            child: None,
            port,
            extra: Vec::new(),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e} (install redis-server)"));
        self.child = Some(child);
        for _ in 0..500 {
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} never answered PING", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: it kept nothing).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Runs one command through `redis-cli`; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether a Redis on `port` answers `PING` (a raw RESP exchange, no client needed).
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}

/// A Redis Cluster of three primaries (no replicas), each a `redis-server` with
/// `cluster-enabled yes`, joined by `redis-cli --cluster create`; ready (every node says
/// `cluster_state:ok`) when [`RedisCluster::start`] returns.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    dir: PathBuf,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let dir = std::env::temp_dir().join(format!(
            "stripe-graphql-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                // The cluster bus listens on the port + 10000.
                let port = loop {
                    let port = free_port();
                    if port < 55_000
                        && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
                    {
                        break port;
                    }
                };
                let conf = dir.join(format!("nodes-{port}.conf"));
                let mut node = RedisServer {
                    child: None,
                    port,
                    extra: vec![
                        "--cluster-enabled".into(),
                        "yes".into(),
                        "--cluster-config-file".into(),
                        conf.display().to_string(),
                        "--dir".into(),
                        dir.display().to_string(),
                    ],
                };
                node.launch();
                node
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let output = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli runs (install redis-tools)");
        assert!(
            output.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = RedisCluster { nodes, dir };
        for _ in 0..500 {
            if cluster
                .nodes
                .iter()
                .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
            {
                return cluster;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the cluster never reached cluster_state:ok");
    }

    /// Every node, as seed nodes separated by commas.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
