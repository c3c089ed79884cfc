//! A `redis-server` of the benchmark's own: started on 127.0.0.1 on a free port without
//! persistence (`--save "" --appendonly no`), as the replica tests start theirs, and killed
//! when dropped. The binary is `$REDIS_SERVER`, else `redis-server` on `PATH`.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The binary to start: `$REDIS_SERVER` or `redis-server`.
pub fn binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// `redis-server --version`'s line, or why there is none (not installed, not runnable).
pub fn version() -> Result<String, String> {
    let binary = binary();
    let output = Command::new(&binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `{binary}` ({e}): install redis-server (Debian: `apt-get install redis-server`) or set REDIS_SERVER"))?;
    if !output.status.success() {
        return Err(format!("`{binary} --version` failed ({})", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A running `redis-server`, killed (SIGKILL) when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free loopback port and waits (at most 5 s) until it answers `PING`.
    pub fn start() -> Result<RedisServer, String> {
        let binary = binary();
        let port = crate::procs::free_port();
        let child = Command::new(&binary)
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {binary}: {e}"))?;
        let mut server = RedisServer { child, port };
        for _ in 0..500 {
            if server.command("PING").as_deref() == Some("+PONG") {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("{binary} exited at start ({status})"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!("{binary} on port {port} never answered PING"))
    }

    /// `redis://127.0.0.1:<port>`, for `REDIS_URL`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `total_commands_processed` from `INFO stats` (this `INFO` is not counted in it: Redis
    /// counts a command after running it).
    pub fn commands_processed(&self) -> Option<u64> {
        let info = self.command("INFO stats")?;
        info.lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse().ok())
    }

    /// Sends one inline command and returns the reply: a simple reply as its line (`+PONG`),
    /// a bulk reply as its content. A raw RESP exchange, so the benchmark needs no client.
    fn command(&self, line: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(format!("{line}\r\n").as_bytes()).ok()?;
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            reply.extend_from_slice(&chunk[..n]);
            let Some(end) = reply.windows(2).position(|w| w == b"\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&reply[..end]).into_owned();
            let Some(len) = head.strip_prefix('$') else {
                return Some(head);
            };
            let len: usize = len.parse().ok()?;
            let body = &reply[end + 2..];
            if body.len() >= len {
                return Some(String::from_utf8_lossy(&body[..len]).into_owned());
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
