//! Helpers shared by the integration tests (each test file uses a subset).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The package root: CLI runs start here so that paths in messages are short and stable.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a file under tests/data, relative to the package root.
pub fn data(name: &str) -> String {
    format!("tests/data/{name}")
}

/// The real binary, started in the package root.
pub fn fleetsim() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleetsim"));
    cmd.current_dir(root());
    cmd
}

/// `fleetsim run SCENARIO --out OUT --quiet [extra…]`.
pub fn run_quiet(scenario: &str, out: &Path, extra: &[&str]) -> Output {
    let mut cmd = fleetsim();
    cmd.arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra);
    cmd.output().expect("the fleetsim binary starts")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Panics with the process's output unless it exited with `code`.
pub fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit code {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A CSV written by fleetsim (no quoting): header names → values, one map per data row.
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<BTreeMap<String, String>>,
}

pub fn read_csv(path: &Path) -> Csv {
    let content =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_csv(&content)
}

pub fn parse_csv(content: &str) -> Csv {
    let mut lines = content.lines();
    let header: Vec<String> = lines
        .next()
        .expect("a header line")
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|line| {
            let fields = split_csv_line(line);
            assert_eq!(
                fields.len(),
                header.len(),
                "row has as many fields as the header: {line}"
            );
            header.iter().cloned().zip(fields).collect()
        })
        .collect();
    Csv { header, rows }
}

/// One CSV line's fields (RFC 4180 quoting: `"a, b"` is one field, `""` a quote inside it).
/// fleetsim writes no line breaks inside fields, so a line is a row.
fn split_csv_line(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let content =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&content).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// shops.csv's revenue split, in column order: every group before VAT.
pub const SPLIT_GROUPS: [&str; 8] = [
    "usage_cents",
    "minimum_cents",
    "subscription_cents",
    "service_cents",
    "options_cents",
    "credits_cents",
    "termination_cents",
    "other_cents",
];

/// An integer cell of a CSV row.
pub fn cell_i64(row: &BTreeMap<String, String>, column: &str) -> i64 {
    row.get(column)
        .unwrap_or_else(|| panic!("no column {column}: {row:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{column} is not an integer ({e}): {row:?}"))
}

/// The invariant of shops.csv's revenue split, shop by shop: the groups sum to `net_cents`,
/// and net + VAT is what the shop was invoiced. The split is appended after the older columns.
pub fn assert_split_adds_up(shops: &Csv) {
    let first = shops
        .header
        .iter()
        .position(|c| c == "net_cents")
        .expect("a net_cents column");
    let mut split = vec!["net_cents", "vat_cents"];
    split.extend(SPLIT_GROUPS);
    split.extend(["plan", "service", "start", "last_day", "terminated_on"]);
    assert_eq!(
        shops.header[first..],
        split,
        "the split, then the contract, end the header"
    );
    for row in &shops.rows {
        let groups: i64 = SPLIT_GROUPS.iter().map(|g| cell_i64(row, g)).sum();
        assert_eq!(groups, cell_i64(row, "net_cents"), "groups vs net: {row:?}");
        assert_eq!(
            cell_i64(row, "net_cents") + cell_i64(row, "vat_cents"),
            cell_i64(row, "invoiced_cents"),
            "net + VAT vs invoiced: {row:?}"
        );
    }
}
