//! A real `fleetsim serve` on a free loopback port, for tests and benches; killed (SIGKILL)
//! when dropped. Include with `#[path = ".../common/server.rs"] mod server;`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The server's clock for the tests' 2024 fixtures: after every event they send, so that
/// 2024's periods can be closed, and within --max-past-days (400) of all of them.
#[allow(dead_code)] // not every file that starts a server replays fixtures
pub const FIXTURES_NOW: &str = "2024-12-31T00:00:00Z";

pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts the server on `db` with `admin_token`, plus `extra` flags, and waits for its
    /// "listening on http://…" banner.
    pub fn start(db: &Path, admin_token: &str, extra: &[&str]) -> Server {
        Server::start_with_env(db, admin_token, extra, &[])
    }

    /// `start`, with environment variables for the server (e.g. `TOKIO_WORKER_THREADS`).
    #[allow(dead_code)] // not every test file sets any
    pub fn start_with_env(
        db: &Path,
        admin_token: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
            .args(["serve", "--addr", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(extra)
            .env("FLEETSIM_ADMIN_TOKEN", admin_token)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start fleetsim serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read banner");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        Server { child, url }
    }

    /// `start`, then pins the server's clock to `now` (RFC 3339) as a replay of dated data
    /// needs: events are accepted within its bounds around it, periods close once over by it.
    #[allow(dead_code)]
    pub fn start_at(db: &Path, admin_token: &str, extra: &[&str], now: &str) -> Server {
        let server = Server::start(db, admin_token, extra);
        server.pin_clock(admin_token, now);
        server
    }

    /// `PUT /v1/admin/clock {"now": now}` (a bounded call; panics unless 204).
    #[allow(dead_code)]
    pub fn pin_clock(&self, admin_token: &str, now: &str) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        let response = agent
            .put(format!("{}/v1/admin/clock", self.url))
            .header("Authorization", format!("Bearer {admin_token}"))
            .header("Content-Type", "application/json")
            .send(format!("{{\"now\":\"{now}\"}}"))
            .expect("PUT /v1/admin/clock sent");
        assert_eq!(
            response.status().as_u16(),
            204,
            "pinning the clock at {now}"
        );
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
