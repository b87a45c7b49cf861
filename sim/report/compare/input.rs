//! What `compare` reads of a run folder: the part of `summary.json` it compares (serde, the
//! rest ignored), and `alternatives.csv`'s ids and revenues (csv + serde) to check that both
//! files come from the same run.

use super::CompareError;
use crate::report::alternatives::ALTERNATIVES_CSV;
use crate::report::SUMMARY_JSON;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `summary.json`, as far as a comparison needs it.
#[derive(Debug, Deserialize)]
pub struct RunFile {
    pub scenario: String,
    #[serde(default)]
    pub description: String,
    pub seed: u64,
    pub start: String,
    pub months: u32,
    pub shops: u64,
    pub machines: u64,
    pub truth: Truth,
    pub billed: Billed,
    pub reconciliation: Reconciled,
    #[serde(default)]
    pub service: Option<Service>,
    #[serde(default)]
    pub alternatives: Option<Vec<Alternative>>,
}

#[derive(Debug, Deserialize)]
pub struct Truth {
    pub billable_mountings: u64,
}

#[derive(Debug, Deserialize)]
pub struct Billed {
    pub invoices: u64,
    pub total_cents: i64,
    pub currency: String,
    /// Cents per line group; `vat` is the part not earned.
    pub by_group: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize)]
pub struct Reconciled {
    pub ok: bool,
}

#[derive(Debug, Deserialize)]
pub struct Service {
    pub cost_cents: i64,
}

/// `/alternatives/N`.
#[derive(Debug, Deserialize)]
pub struct Alternative {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub reconciled: bool,
    pub invoices: u64,
    pub revenue_cents: i64,
    pub mountings: u64,
    pub price_per_mounting_cents: Option<f64>,
    pub gini: f64,
    pub p10_cents: Option<f64>,
    pub p50_cents: Option<f64>,
    pub p90_cents: Option<f64>,
    pub regret_cents: i64,
    #[serde(default)]
    pub costs: Option<Costs>,
}

#[derive(Debug, Deserialize)]
pub struct Costs {
    pub cost_cents: i64,
    pub margin_cents: i64,
    pub shops_at_loss: usize,
    pub at_loss_mountings_share: f64,
    pub shops_failing_stand_alone: usize,
    pub shops_failing_incremental: usize,
}

/// A row of `alternatives.csv`: the columns checked against `summary.json`.
#[derive(Debug, Deserialize)]
struct CsvRow {
    alternative: String,
    revenue_cents: i64,
}

/// One run folder as given, its canonical path (to tell two arguments naming one folder
/// apart from two folders), and its summary.
pub struct Read {
    pub given: PathBuf,
    pub canonical: PathBuf,
    pub file: RunFile,
}

/// Reads `dir`'s summary.json, and its alternatives.csv when the summary has alternatives.
pub fn read(dir: &Path) -> Result<Read, CompareError> {
    if !dir.is_dir() {
        return Err(CompareError::NotARunFolder {
            path: dir.to_path_buf(),
            why: "no such folder".into(),
        });
    }
    let canonical = dir
        .canonicalize()
        .map_err(|e| CompareError::Read(dir.to_path_buf(), e))?;
    let path = dir.join(SUMMARY_JSON);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CompareError::NotARunFolder {
                path: dir.to_path_buf(),
                why: format!("it has no {SUMMARY_JSON}"),
            })
        }
        Err(e) => return Err(CompareError::Read(path, e)),
    };
    let file: RunFile = serde_json::from_str(&text).map_err(|e| CompareError::Unreadable {
        path: path.clone(),
        why: e.to_string(),
    })?;
    if let Some(alternatives) = &file.alternatives {
        check_csv(&dir.join(ALTERNATIVES_CSV), alternatives)?;
    }
    Ok(Read {
        given: dir.to_path_buf(),
        canonical,
        file,
    })
}

/// alternatives.csv lists the summary's pricings, in its order, with its revenues: else the
/// folder mixes two runs' files and neither can be trusted.
fn check_csv(path: &Path, alternatives: &[Alternative]) -> Result<(), CompareError> {
    let bad = |why: String| CompareError::Unreadable {
        path: path.to_path_buf(),
        why,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let mut rows = Vec::new();
    for row in reader.deserialize::<CsvRow>() {
        rows.push(row.map_err(|e| bad(e.to_string()))?);
    }
    let csv: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| (r.alternative.as_str(), r.revenue_cents))
        .collect();
    let json: Vec<(&str, i64)> = alternatives
        .iter()
        .map(|a| (a.id.as_str(), a.revenue_cents))
        .collect();
    if csv != json {
        return Err(bad(format!(
            "its pricings and revenues {csv:?} are not summary.json's /alternatives {json:?}: \
             the folder holds files of different runs; run the scenario again"
        )));
    }
    Ok(())
}
