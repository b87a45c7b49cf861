//! Bad input, as data: every `tests/data/bad/NAME.toml` is a broken scenario.
//!
//! - Its header comments carry hand-written expectations: each `# expect: TEXT` line is a
//!   substring the error must contain (file:line:col, field path, a word of what is allowed).
//! - `NAME.expected` is the exact stderr of `fleetsim check tests/data/bad/NAME.toml` (a golden
//!   file). Run with `UPDATE_EXPECT=1` to rewrite the golden files after an intended change,
//!   then review the diff by eye: a message must stay helpful and point at the right place.

mod common;

use common::*;
use std::path::{Path, PathBuf};

const BAD_DIR: &str = "tests/data/bad";

struct Case {
    name: String,
    /// Relative to the package root, as given on the command line.
    rel: String,
    expects: Vec<String>,
}

fn cases() -> Vec<Case> {
    let dir = root().join(BAD_DIR);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let cases: Vec<Case> = paths
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_str().unwrap().to_string();
            let text = std::fs::read_to_string(p).unwrap();
            let tagged = |tag: &str| -> Vec<String> {
                text.lines()
                    .filter_map(|l| l.strip_prefix(tag))
                    .map(|s| s.trim().to_string())
                    .collect()
            };
            let expects = tagged("# expect:");
            assert!(!expects.is_empty(), "{}: no `# expect:` line", p.display());
            Case {
                rel: format!("{BAD_DIR}/{name}.toml"),
                name,
                expects,
            }
        })
        .collect();
    assert!(
        cases.len() >= 11,
        "the bad-input corpus is there ({} files)",
        cases.len()
    );
    cases
}

fn update_mode() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v != "0" && !v.is_empty())
}

/// `tests/data/bad/x.toml:12:5: …` → Some((12, 5)).
fn line_col(stderr: &str, rel: &str) -> Option<(usize, usize)> {
    let rest = stderr
        .strip_prefix("error: ")?
        .strip_prefix(rel)?
        .strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    let line = parts.next()?.parse().ok()?;
    let col = parts.next()?.parse().ok()?;
    Some((line, col))
}

/// Whether the message contains `expected`; outside the file's own path unless the expectation
/// names the path (so that `integer` is not found in `shops_not_integer.toml`).
fn mentions(stderr: &str, rel: &str, expected: &str) -> bool {
    if expected.contains(rel) {
        stderr.contains(expected)
    } else {
        stderr.replace(rel, "").contains(expected)
    }
}

/// Problems with one error output, as sentences (empty = fine).
fn judge(case: &Case, code: Option<i32>, stdout: &str, stderr: &str, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |msg: String| {
        problems.push(format!(
            "{}: {what}: {msg}\n    stderr: {stderr:?}",
            case.name
        ))
    };
    if code != Some(2) {
        fail(format!("exit code {code:?}, expected 2 (bad input)"));
    }
    if stderr.contains("panicked") {
        fail("panicked".into());
    }
    if !stdout.is_empty() {
        fail(format!("printed to stdout: {stdout:?}"));
    }
    if stderr.lines().count() != 1 || !stderr.starts_with("error: ") {
        fail("expected exactly one line starting with `error: `".into());
    }
    match line_col(stderr, &case.rel) {
        Some((line, col)) if line >= 1 && col >= 1 => {}
        _ => fail(format!(
            "does not start with `error: {}:LINE:COL:`",
            case.rel
        )),
    }
    for e in &case.expects {
        if !mentions(stderr, &case.rel, e) {
            fail(format!("does not contain {e:?}"));
        }
    }
    problems
}

fn check(rel: &str) -> std::process::Output {
    fleetsim().arg("check").arg(rel).output().unwrap()
}

#[test]
fn check_rejects_every_bad_scenario_with_a_located_helpful_message() {
    let mut problems = Vec::new();
    for case in cases() {
        let out = check(&case.rel);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        problems.extend(judge(&case, out.status.code(), &stdout, &stderr, "check"));

        let golden = root().join(BAD_DIR).join(format!("{}.expected", case.name));
        if update_mode() {
            std::fs::write(&golden, &stderr).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == stderr => {}
            Ok(expected) => problems.push(format!(
                "{}: stderr differs from {} (UPDATE_EXPECT=1 rewrites it)\n    expected: {expected:?}\n    actual:   {stderr:?}",
                case.name,
                golden.display()
            )),
            Err(e) => problems.push(format!("{}: {}: {e} (UPDATE_EXPECT=1 writes it)", case.name, golden.display())),
        }
    }
    assert_no_problems(&problems);
}

#[test]
fn run_rejects_every_bad_scenario_exactly_like_check() {
    let tmp = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    for case in cases() {
        let out_dir = tmp.path().join(&case.name);
        let out = run_quiet(&case.rel, &out_dir, &[]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        problems.extend(judge(&case, out.status.code(), &stdout, &stderr, "run"));
        let checked = text(&check(&case.rel).stderr);
        if stderr != checked {
            problems.push(format!(
                "{}: run and check disagree:\n    run:   {stderr:?}\n    check: {checked:?}",
                case.name
            ));
        }
        if out_dir.exists() {
            problems.push(format!(
                "{}: a rejected scenario still created its output folder",
                case.name
            ));
        }
    }
    assert_no_problems(&problems);
}

#[test]
fn the_library_reports_the_same_place_as_the_cli() {
    // `scenario::load` gives the error as data; its Display is the CLI message.
    for case in cases() {
        let err = match fleetsim::scenario::load(Path::new(&root().join(&case.rel))) {
            Ok(_) => panic!("{}: loads without error", case.name),
            Err(e) => e,
        };
        let stderr = text(&check(&case.rel).stderr);
        let (line, col) =
            line_col(&stderr, &case.rel).unwrap_or_else(|| panic!("{}: {stderr}", case.name));
        assert_eq!((err.line, err.column), (line, col), "{}", case.name);
        assert!(
            stderr.contains(&err.message),
            "{}: {stderr} lacks {:?}",
            case.name,
            err.message
        );
        if !err.field.is_empty() {
            assert!(
                stderr.contains(&format!("field `{}`", err.field)),
                "{}",
                case.name
            );
        }
    }
}

#[test]
fn every_golden_file_belongs_to_a_bad_scenario() {
    let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    for entry in std::fs::read_dir(root().join(BAD_DIR)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expected") {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            assert!(
                names.contains(&stem),
                "{} has no {stem}.toml",
                path.display()
            );
        }
    }
}

#[test]
fn a_missing_file_is_bad_input() {
    let rel = "tests/data/bad/there-is-no-such-file.toml";
    for args in [vec!["check", rel], vec!["run", rel, "--quiet", "--out"]] {
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = fleetsim();
        cmd.args(&args);
        if args[0] == "run" {
            cmd.arg(tmp.path().join("out"));
        }
        let out = cmd.output().unwrap();
        let stderr = text(&out.stderr);
        assert_exit(&out, 2, &format!("{args:?}"));
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.starts_with(&format!("error: {rel}: ")), "{stderr}");
        assert!(stderr.contains("cannot read the file"), "{stderr}");
    }
}

#[test]
fn bad_command_line_arguments_are_bad_input() {
    let good = "scenarios/quickstart.toml";
    let cases: &[&[&str]] = &[
        &["run", good, "--threads", "0"],
        &["run", good, "--threads", "many"],
        &["run", good, "--threads", "257"],
        &["run", good, "--seed", "-1"],
        &["run", good, "--frobnicate"],
        &["run"],
        &["check"],
        &["simulate", good],
        &[],
    ];
    for args in cases {
        let out = fleetsim().args(*args).output().unwrap();
        assert_exit(&out, 2, &format!("fleetsim {args:?}"));
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.trim().is_empty(), "{args:?}: says what is wrong");
    }
    // The message for --threads 0 says what is allowed.
    let out = fleetsim()
        .args(["run", good, "--threads", "0"])
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("1..=256"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_and_version_are_not_errors() {
    for args in [["--help"], ["--version"]] {
        let out = fleetsim().args(args).output().unwrap();
        assert_exit(&out, 0, &format!("{args:?}"));
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn the_shipped_scenarios_are_valid() {
    let out = fleetsim()
        .args([
            "check",
            "scenarios/quickstart.toml",
            "scenarios/france.toml",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0, "check the shipped scenarios");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ok: scenarios/quickstart.toml (quickstart: 500 shops, 12 months from 2024-01-01, seed 42)"), "{stdout}");
    assert!(
        stdout.contains(
            "ok: scenarios/france.toml (france: 13144 shops, 48 months from 2023-01-01, seed 2021)"
        ),
        "{stdout}"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn check_reports_each_bad_file_and_still_checks_the_others() {
    let bad = "tests/data/bad/negative_sigma.toml";
    let out = fleetsim()
        .args([
            "check",
            "scenarios/quickstart.toml",
            bad,
            "tests/data/e2e_small.toml",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 2, "check good bad good");
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok: ")).count(),
        2,
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(bad), "{stderr}");
}

/// `demand.frame_mix` (and `material_mix`) shares are finite each, but their sum can overflow
/// to infinity: validation (sim/scenario/validate.rs, `mix`) then renormalises every share to 0
/// and `DemandModel::new` panics on `expect("mixes validated")` (sim/demand.rs:39). `check`
/// accepts the file; `run` panics inside the coordinator and exits 1.
#[test]
fn overflowing_mix_shares_are_bad_input_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("huge_mix.toml");
    std::fs::write(&file, "[calendar]\nmonths = 1\n[fleet]\nshops = 2\n[demand.frame_mix]\nfull_rim = 1.7e308\ngrooved = 1.7e308\n").unwrap();
    let out = fleetsim().arg("check").arg(&file).output().unwrap();
    assert_exit(&out, 2, "check huge_mix.toml");
    let out = run_quiet(file.to_str().unwrap(), &tmp.path().join("out"), &[]);
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    assert_exit(&out, 2, "run huge_mix.toml");
}

#[track_caller]
fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
