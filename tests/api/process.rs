//! The server binary as a child process, for what only a real process shows: signals, exit
//! codes, and every log line it writes.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;
use stripe_sandbox::Sandbox;

const BIN: &str = env!("CARGO_BIN_EXE_stripe-graphql");

/// The server binary, its log lines (JSON) on a channel. Killed if dropped while still
/// running.
pub struct Server {
    child: Child,
    log: Option<mpsc::Receiver<String>>,
    /// Every line read so far.
    seen: Vec<String>,
    /// A value no log line may contain (checked on every line read).
    never_logged: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the binary with `args` and an environment of only `LISTEN_ADDR=127.0.0.1:0`,
    /// `LOG_FORMAT=json` and `env`.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .envs([("LISTEN_ADDR", "127.0.0.1:0"), ("LOG_FORMAT", "json")])
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
                    break; // drops the reader: the server's stderr becomes a closed pipe
                }
            }
        });
        Server {
            child,
            log: Some(log),
            seen: Vec::new(),
            never_logged: None,
        }
    }

    /// Starts the binary against `sandbox` with `key` and `env` on top; returns it with its
    /// GraphQL URL (read from its start-up log).
    pub fn start(sandbox: &Sandbox, key: &str, env: &[(&str, &str)]) -> (Server, String) {
        let base = sandbox.base_url();
        let mut all = vec![
            ("STRIPE_SECRET_KEY", key),
            ("STRIPE_API_BASE", base.as_str()),
        ];
        all.extend_from_slice(env);
        let mut server = Server::spawn(&[], &all);
        let url = server.graphql_url();
        (server, url)
    }

    /// Fails the test on any log line holding `secret` from now on.
    pub fn never_logs(mut self, secret: &str) -> Server {
        self.never_logged = Some(secret.to_owned());
        self
    }

    /// The GraphQL URL the start-up log advertises.
    pub fn graphql_url(&mut self) -> String {
        let line = self.wait_for("GraphQL endpoint: ");
        line["message"]
            .as_str()
            .unwrap()
            .trim_start_matches("GraphQL endpoint: ")
            .to_owned()
    }

    /// Reads log lines until one whose message starts with `prefix`.
    pub fn wait_for(&mut self, prefix: &str) -> Value {
        self.wait_until(prefix, |event| {
            event["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(prefix))
        })
    }

    /// Reads log lines until one `matches` accepts; every line must be JSON. Fails after 30 s
    /// without a line.
    pub fn wait_until(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let log = self.log.as_ref().expect("the log is still read");
        while let Ok(line) = log.recv_timeout(Duration::from_secs(30)) {
            if let Some(secret) = &self.never_logged {
                assert!(!line.contains(secret.as_str()), "logged a secret: {line}");
            }
            let event: Value =
                serde_json::from_str(&line).unwrap_or_else(|_| panic!("JSON log line: {line}"));
            self.seen.push(line);
            if matches(&event) {
                return event;
            }
        }
        panic!("no log line {what:?}; seen: {:?}", self.seen);
    }

    /// Stops reading the log: at the server's next log line its stderr becomes a closed pipe.
    pub fn close_log(&mut self) {
        self.log = None;
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
        if let Some(log) = self.log.take() {
            while let Ok(line) = log.recv_timeout(Duration::from_secs(10)) {
                self.seen.push(line);
            }
        }
        std::mem::take(&mut self.seen)
    }
}
