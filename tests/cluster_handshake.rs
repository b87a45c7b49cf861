//! The cluster handshake between real processes on loopback: a `cluster-check` coordinator
//! and `worker`s of the built binary, each killed if it outlives its bound.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// No process of these tests may live longer than this.
const BOUND: Duration = Duration::from_secs(30);

struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml")
}

/// A port free a moment ago (the coordinator binds it right after).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn cookie(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).expect("write cookie");
    path
}

fn spawn(args: &[&str]) -> (Child, Instant) {
    let child = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fleetsim");
    (child, Instant::now())
}

/// Waits for the process, killing it past `BOUND` (then `code` is `None`).
fn wait((mut child, started): (Child, Instant)) -> Ended {
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read");
    // Taken already when a test follows it line by line (`watch_stderr`).
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr).expect("read");
    }
    Ended {
        code,
        stdout,
        stderr,
        took: started.elapsed(),
    }
}

fn coordinator(port: u16, workers: u32, cookie: &Path, timeout: &str) -> (Child, Instant) {
    let listen = format!("127.0.0.1:{port}");
    let scenario = scenario();
    spawn(&[
        "cluster-check",
        scenario.to_str().expect("utf-8"),
        "--listen",
        &listen,
        "--workers",
        &workers.to_string(),
        "--cookie-file",
        cookie.to_str().expect("utf-8"),
        "--timeout",
        timeout,
        "--pings",
        "200",
    ])
}

fn worker(port: u16, name: &str, cookie: &Path, scenario: &Path) -> (Child, Instant) {
    let join = format!("127.0.0.1:{port}");
    spawn(&[
        "worker",
        "--join",
        &join,
        "--cookie-file",
        cookie.to_str().expect("utf-8"),
        "--scenario",
        scenario.to_str().expect("utf-8"),
        "--name",
        name,
        "--timeout",
        "20s",
    ])
}

/// Every process's exit, time and output, for an assertion's message.
fn show(ended: &[(&str, &Ended)]) -> String {
    ended
        .iter()
        .map(|(what, e)| {
            format!(
                "{what}: exit {:?} after {:?}\nstdout:\n{}\nstderr:\n{}",
                e.code, e.took, e.stdout, e.stderr
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn two_workers_join_and_are_numbered_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = cookie(dir.path(), "cookie", "s3cret-a");
    let port = free_port();
    let coord = coordinator(port, 2, &secret, "20s");
    // Started in the reverse order of their names: indices must follow the names.
    let b = worker(port, "node-b", &secret, &scenario());
    let a = worker(port, "node-a", &secret, &scenario());
    let (coord, a, b) = (wait(coord), wait(a), wait(b));
    let all = show(&[("coordinator", &coord), ("a", &a), ("b", &b)]);
    assert_eq!(coord.code, Some(0), "{all}");
    assert!(coord.stdout.contains("cluster ok: 2 worker(s)"), "{all}");
    for (index, name) in [(0, "node-a"), (1, "node-b")] {
        let line = coord
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("worker {index}: {name} from 127.0.0.1:")))
            .unwrap_or_else(|| panic!("no line for {name}\n{all}"));
        assert!(
            line.contains("200 pings through the gateways, round trip median"),
            "{all}"
        );
    }
    assert_eq!(a.code, Some(0), "{all}");
    assert_eq!(b.code, Some(0), "{all}");
    assert!(a.stdout.starts_with("worker 0 of 2 (node-a)"), "{all}");
    assert!(b.stdout.starts_with("worker 1 of 2 (node-b)"), "{all}");
}

#[test]
fn a_wrong_cookie_is_refused_quickly_with_a_message_saying_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let right = cookie(dir.path(), "right", "the-right-one");
    let wrong = cookie(dir.path(), "wrong", "another-one");
    let port = free_port();
    let coord = coordinator(port, 1, &right, "4s");
    let w = wait(worker(port, "node-a", &wrong, &scenario()));
    let coord = wait(coord);
    let all = show(&[("coordinator", &coord), ("worker", &w)]);
    assert_eq!(w.code, Some(5), "{all}");
    assert!(w.took < Duration::from_secs(10), "{all}");
    assert!(w.stderr.contains("the cookie does not match"), "{all}");
    assert_eq!(coord.code, Some(5), "{all}");
    assert!(
        coord
            .stderr
            .contains("only 0 of 1 workers joined within 4s"),
        "{all}"
    );
    assert!(
        coord.stderr.contains("failed ractor_cluster's handshake"),
        "{all}"
    );
}

#[test]
fn a_different_scenario_is_refused_with_a_message_saying_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = cookie(dir.path(), "cookie", "s3cret-c");
    // The same scenario plus a comment: valid, the same run, but not the same bytes.
    let text = std::fs::read_to_string(scenario()).expect("read scenario");
    let other = dir.path().join("quickstart.toml");
    std::fs::write(&other, format!("{text}\n# edited on this worker\n")).expect("write");
    let port = free_port();
    let coord = coordinator(port, 1, &secret, "4s");
    let w = wait(worker(port, "node-a", &secret, &other));
    let coord = wait(coord);
    let all = show(&[("coordinator", &coord), ("worker", &w)]);
    assert_eq!(w.code, Some(5), "{all}");
    assert!(
        w.stderr
            .contains("refused by the coordinator: scenario mismatch: the coordinator's scenario file has SHA-256"),
        "{all}"
    );
    assert_eq!(coord.code, Some(5), "{all}");
    assert!(coord.stderr.contains("only 0 of 1 workers joined"), "{all}");
}

#[test]
fn a_coordinator_short_of_workers_times_out_naming_how_many_joined() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = cookie(dir.path(), "cookie", "s3cret-d");
    let port = free_port();
    let coord = coordinator(port, 2, &secret, "3s");
    let w = wait(worker(port, "node-a", &secret, &scenario()));
    let coord = wait(coord);
    let all = show(&[("coordinator", &coord), ("worker", &w)]);
    assert_eq!(coord.code, Some(5), "{all}");
    assert!(
        coord
            .stderr
            .contains("error: only 1 of 2 workers joined within 3s (joined: node-a)"),
        "{all}"
    );
    assert!(coord.took < Duration::from_secs(10), "{all}");
    // The one that came is told why it goes.
    assert_eq!(w.code, Some(5), "{all}");
    assert!(
        w.stderr.contains("only 1 of 2 workers joined in time"),
        "{all}"
    );
}

/// The child's stderr, line by line as it comes.
fn watch_stderr(child: &mut Child) -> mpsc::Receiver<String> {
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Waits (bounded) for a line containing `text`.
fn wait_for_line(lines: &mpsc::Receiver<String>, text: &str) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + BOUND;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(text) => return,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no line with {text:?}; saw {seen:?}");
}

#[test]
fn a_worker_that_dies_while_waiting_no_longer_counts_and_its_name_is_free_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = cookie(dir.path(), "cookie", "s3cret-e");
    let port = free_port();
    let (mut coord, started) = coordinator(port, 2, &secret, "20s");
    let lines = watch_stderr(&mut coord);
    let (mut first, _) = worker(port, "node-a", &secret, &scenario());
    wait_for_line(&lines, "joined: node-a (1 of 2)");
    first.kill().expect("kill");
    first.wait().expect("wait");
    wait_for_line(&lines, "left: node-a disconnected (0 of 2)");
    // Back to 0 of 2 once its session is gone: the same name joins again as the first.
    let a = worker(port, "node-a", &secret, &scenario());
    wait_for_line(&lines, "joined: node-a (1 of 2)");
    let b = worker(port, "node-b", &secret, &scenario());
    let (coord, a, b) = (wait((coord, started)), wait(a), wait(b));
    let all = show(&[("coordinator", &coord), ("a", &a), ("b", &b)]);
    assert_eq!(coord.code, Some(0), "{all}");
    assert!(coord.stdout.contains("cluster ok: 2 worker(s)"), "{all}");
    assert_eq!((a.code, b.code), (Some(0), Some(0)), "{all}");
}
