//! A real browser for the report's tests: Chromium, headless, bounded in time. Missing, it
//! fails the test that asks for it (CI installs it: `.ci/run`), never skips silently.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than a cold start on a loaded 2-core machine; past it the browser is killed.
const LIMIT: Duration = Duration::from_secs(60);

const CANDIDATES: [&str; 3] = ["/usr/bin/chromium", "chromium-browser", "google-chrome"];

/// `FLEETSIM_CHROMIUM`, else the first of /usr/bin/chromium, chromium-browser, google-chrome
/// that starts; panics saying how to install one.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("FLEETSIM_CHROMIUM") {
        let path = PathBuf::from(path);
        assert!(
            starts(&path),
            "FLEETSIM_CHROMIUM={} does not run `--version`: point it at a Chromium or Chrome, \
             or unset it to use /usr/bin/chromium (`apt-get install chromium`, or .ci/run)",
            path.display()
        );
        return path;
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|c| starts(c))
        .unwrap_or_else(|| {
            panic!(
                "no Chromium found (tried $FLEETSIM_CHROMIUM, {}): this test renders the report \
                 in a real browser. Run .ci/run (it installs it) or `apt-get install chromium`.",
                CANDIDATES.join(", ")
            )
        })
}

fn starts(binary: &Path) -> bool {
    Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The page's DOM after Chromium loaded and laid it out, serialised.
pub fn dump_dom(page: &Path) -> String {
    let out = tempfile::tempdir().unwrap();
    let dom = out.path().join("dom.html");
    run(page, &["--dump-dom"], Some(&dom), out.path());
    std::fs::read_to_string(&dom).unwrap()
}

/// A screenshot of the page's top `size` (width, height) in CSS pixels, as PNG at `png`.
pub fn screenshot(page: &Path, png: &Path, size: (u32, u32)) {
    let out = tempfile::tempdir().unwrap();
    let shot = format!("--screenshot={}", png.display());
    let window = format!("--window-size={},{}", size.0, size.1);
    run(
        page,
        &[&shot, &window, "--hide-scrollbars"],
        None,
        out.path(),
    );
    assert!(
        png.exists(),
        "Chromium wrote no screenshot at {}",
        png.display()
    );
}

/// Runs Chromium headless on `page` with `args`, stdout to `stdout` (else discarded), its
/// profile in `scratch`; panics with its stderr unless it exits 0 within [`LIMIT`].
fn run(page: &Path, args: &[&str], stdout: Option<&Path>, scratch: &Path) {
    let binary = chromium();
    let log = scratch.join("stderr.txt");
    let mut cmd = Command::new(&binary);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
    ])
    .arg(format!(
        "--user-data-dir={}",
        scratch.join("profile").display()
    ))
    .args(args)
    .arg(format!("file://{}", page.canonicalize().unwrap().display()))
    .stdin(Stdio::null())
    .stderr(File::create(&log).unwrap());
    // Files, not pipes: a page's DOM fills a pipe while this thread only waits.
    match stdout {
        Some(path) => cmd.stdout(File::create(path).unwrap()),
        None => cmd.stdout(Stdio::null()),
    };
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Chromium still running after {LIMIT:?}, killed; its stderr:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "{} {args:?} failed ({status}); its stderr:\n{}",
        binary.display(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
