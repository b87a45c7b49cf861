//! The plan catalogue: `fleetsim catalogue check` on the shipped default (consistent), on a
//! fixture with every kind of inconsistency (each finding names its pair and quantity), and on
//! broken files, as data: every `tests/data/catalogue/bad/NAME.toml` carries `# expect: TEXT`
//! lines, substrings its error must contain (file:line:column, field path, what is allowed).

mod common;

use common::*;
use fleetsim::billing::catalogue_file;
use fleetsim::billing::consistency::{self, Finding};
use std::path::Path;

const DEFAULT: &str = "scenarios/catalogue/default.toml";
const INCONSISTENT: &str = "tests/data/catalogue/inconsistent.toml";
const BAD_DIR: &str = "tests/data/catalogue/bad";

fn check(args: &[&str]) -> (i32, String, String) {
    let out = fleetsim()
        .arg("catalogue")
        .arg("check")
        .args(args)
        .output()
        .expect("the fleetsim binary starts");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn the_default_catalogue_is_consistent() {
    let (code, stdout, stderr) = check(&[DEFAULT]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("ok: scenarios/catalogue/default.toml (5 plans, 3 service tiers, 4 options, 1 ladders): consistent"),
        "{stdout}"
    );
}

fn findings(file: &str) -> Vec<Finding> {
    let cat = catalogue_file::load(&root().join(file)).unwrap();
    consistency::check(&cat)
}

#[test]
fn every_inconsistency_is_flagged_with_its_pair_and_quantity() {
    let f: Vec<(&str, String, String, Option<u64>)> = findings(INCONSISTENT)
        .iter()
        .map(|f| (f.rule, f.subject.clone(), f.other.clone(), f.quantity))
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        f,
        vec![
            // 50 × 4.00 = 200.00, then 51 × 3.50 = 178.50.
            (
                "plan_not_monotone",
                s("volume_no_fees"),
                s("volume_no_fees"),
                Some(51)
            ),
            // 99 × 4.00 = 396.00 per mounting, then 300.00 for 100 on the subscription.
            (
                "ladder_not_monotone",
                s("per_mounting"),
                s("subscription_100"),
                Some(100)
            ),
            // basic answers in 24 h and repairs in 48 h with a loaner; premium: 48 h, 72 h.
            ("service_more_for_less", s("basic"), s("premium"), None),
            // premium: 6,000.00 / 4 = 1,500.00 a year; basic: 12 × 160.00 = 1,920.00.
            ("service_cheaper_above", s("premium"), s("basic"), None),
        ]
    );
    let messages: Vec<String> = findings(INCONSISTENT)
        .into_iter()
        .map(|f| f.message)
        .collect();
    assert_eq!(
        messages[0],
        "plan `volume_no_fees`: 51 mountings cost 178.50 but 50 cost 200.00: buying more costs less"
    );
    assert_eq!(
        messages[1],
        "ladder `small_shops`: 99 mountings on `per_mounting` cost 396.00 but 100 on `subscription_100` cost 300.00: buying more costs less"
    );
    assert_eq!(
        messages[2],
        "service tier `basic` (level 1, 1920.00 a year) gives more than higher tier `premium` (level 2, 1500.00 a year): a faster response (24 h against 48 h), a faster repair (48 h against 72 h), options the higher tier lacks (loaner)"
    );
}

#[test]
fn the_check_command_prints_findings_and_exits_4() {
    let (code, stdout, stderr) = check(&[INCONSISTENT]);
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(stdout.contains(
        "tests/data/catalogue/inconsistent.toml: plan_not_monotone: plan `volume_no_fees`: 51 mountings cost 178.50"
    ));
    assert!(stderr.contains("4 inconsistencies"), "{stderr}");

    let (code, stdout, _) = check(&[INCONSISTENT, "--json"]);
    assert_eq!(code, 4);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["consistent"], false);
    assert_eq!(v["findings"][1]["rule"], "ladder_not_monotone");
    assert_eq!(v["findings"][1]["subject"], "per_mounting");
    assert_eq!(v["findings"][1]["other"], "subscription_100");
    assert_eq!(v["findings"][1]["quantity"], 100);

    let (code, stdout, _) = check(&[DEFAULT, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["consistent"], true);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn a_missing_file_is_bad_input() {
    let (code, _, stderr) = check(&["tests/data/catalogue/nope.toml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("nope.toml: cannot read the file"),
        "{stderr}"
    );
}

#[test]
fn bad_catalogues_say_where_and_what_is_allowed() {
    let dir = root().join(BAD_DIR);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 12, "the corpus is there");
    let mut failures = Vec::new();
    for path in &paths {
        let name = path.file_name().unwrap().to_str().unwrap();
        let rel = format!("{BAD_DIR}/{name}");
        let expects: Vec<String> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("# expect:"))
            .map(|s| s.trim().to_string())
            .collect();
        assert!(!expects.is_empty(), "{rel}: no `# expect:` line");
        let (code, _, stderr) = check(&[&rel]);
        if code != 2 {
            failures.push(format!("{rel}: exit {code}, not 2: {stderr}"));
        }
        for e in &expects {
            if !stderr.contains(e.as_str()) {
                failures.push(format!("{rel}: message lacks {e:?}: {stderr}"));
            }
        }
        // The library gives the same error the CLI prints.
        let lib = catalogue_file::load(Path::new(&root().join(&rel))).unwrap_err();
        assert!(stderr.contains(&lib.message), "{rel}");
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_readme_example_is_a_working_consistent_catalogue() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("## Plans and the catalogue").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let cat = catalogue_file::parse(Path::new("README.md"), example).unwrap();
    assert_eq!(cat.plans.len(), 4);
    assert_eq!(consistency::check(&cat), vec![]);
}
