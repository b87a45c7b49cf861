//! A real `fleetsim serve` on a free loopback port, for tests and benches; killed (SIGKILL)
//! when dropped. Include with `#[path = ".../common/server.rs"] mod server;`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
