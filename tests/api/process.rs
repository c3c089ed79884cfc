//! The server binary as a child process, for what only a real process shows: signals, exit
//! codes, and every log line it writes.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;
use stripe_graphql::sandbox::Sandbox;

const BIN: &str = env!("CARGO_BIN_EXE_stripe-graphql");

/// The server binary against `sandbox`, its log lines (JSON) on a channel. Killed if dropped
/// while still running.
pub struct Server {
    child: Child,
    log: mpsc::Receiver<String>,
    /// Every line read so far.
    seen: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the binary on `127.0.0.1:0` with JSON logs, Stripe at `sandbox` with `key`, and
    /// `env` on top; returns it with its GraphQL URL (read from its start-up log).
    pub fn start(sandbox: &Sandbox, key: &str, env: &[(&str, &str)]) -> (Server, String) {
        let mut child = Command::new(BIN)
            .env_clear()
            .envs([
                ("LISTEN_ADDR", "127.0.0.1:0"),
                ("LOG_FORMAT", "json"),
                ("STRIPE_SECRET_KEY", key),
                ("STRIPE_API_BASE", sandbox.base_url().as_str()),
            ])
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("server starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            log,
            seen: Vec::new(),
        };
        let line = server.wait_for("GraphQL endpoint: ");
        let url = line["message"]
            .as_str()
            .unwrap()
            .trim_start_matches("GraphQL endpoint: ")
            .to_owned();
        (server, url)
    }

    /// Reads log lines until one whose message starts with `prefix` (30 s at most).
    pub fn wait_for(&mut self, prefix: &str) -> Value {
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(30)) {
            self.seen.push(line.clone());
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if event["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(prefix))
            {
                return event;
            }
        }
        panic!("no log line starting with {prefix:?}");
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// The exit code, waiting at most `limit`.
    pub async fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server did not exit within {limit:?}");
    }

    /// After the process exited: every line it wrote.
    pub fn all_lines(mut self) -> Vec<String> {
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }
}
