//! Golden scenarios (tests as data): each `tests/data/golden/NAME.toml` runs through the real
//! binary and its `invoices.csv` and `shops.csv` must equal `NAME.invoices.csv` and
//! `NAME.shops.csv`. `UPDATE_EXPECT=1` rewrites the expected files after an intended change.

use std::path::{Path, PathBuf};
use std::process::Command;

const OUTPUTS: [&str; 2] = ["invoices.csv", "shops.csv"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

fn scenarios() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn golden_scenarios_reproduce_their_outputs() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let files = scenarios();
    assert!(!files.is_empty(), "no golden scenario found");
    let mut failures = Vec::new();
    for scenario in files {
        let out = tempfile::tempdir().expect("temp dir");
        let status = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
            .args(["run", "--quiet", "--threads", "2", "--out"])
            .arg(out.path())
            .arg(&scenario)
            .status()
            .expect("run fleetsim");
        assert!(
            status.success(),
            "{} exited with {status}",
            scenario.display()
        );
        let stem = scenario
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("file stem");
        for output in OUTPUTS {
            let actual = std::fs::read_to_string(out.path().join(output)).expect("output written");
            let expected_path = golden_dir().join(format!("{stem}.{output}"));
            if update {
                std::fs::write(&expected_path, &actual).expect("write expected");
                continue;
            }
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
            if expected != actual {
                failures.push(format!(
                    "{}: differs from {} (first differing line: {:?}); rerun with UPDATE_EXPECT=1 if intended",
                    output,
                    expected_path.display(),
                    first_difference(&expected, &actual)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn first_difference(expected: &str, actual: &str) -> Option<(usize, String, String)> {
    let mut e = expected.lines();
    let mut a = actual.lines();
    for line in 1.. {
        match (e.next(), a.next()) {
            (None, None) => return None,
            (x, y) if x != y => {
                return Some((
                    line,
                    x.unwrap_or("<end>").to_string(),
                    y.unwrap_or("<end>").to_string(),
                ))
            }
            _ => {}
        }
    }
    None
}
