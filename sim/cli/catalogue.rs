//! `fleetsim catalogue check FILE [--json]`: validate a plan catalogue and check that no price
//! path makes buying more cost less (`billing::consistency`).

use crate::billing::{catalogue_file, consistency};
use crate::exit;
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum CatalogueCommand {
    /// Check a plan catalogue: valid file, and no plan, ladder or service tier that gives more
    /// for less. Prints each finding with the offending pair and the quantity where it happens.
    ///
    /// Exit codes: 0 consistent, 2 bad input (the message names file, line, column, field),
    /// 4 inconsistent.
    Check {
        /// Catalogue file (TOML), e.g. scenarios/catalogue/default.toml.
        file: PathBuf,
        /// Machine output: one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: &CatalogueCommand) -> i32 {
    match cmd {
        CatalogueCommand::Check { file, json } => check(file, *json),
    }
}

fn check(file: &Path, json: bool) -> i32 {
    let cat = match catalogue_file::load(file) {
        Ok(c) => c,
        Err(e) => {
            if json {
                let out = serde_json::json!({
                    "file": file.display().to_string(),
                    "error": {
                        "line": e.line,
                        "column": e.column,
                        "field": e.field,
                        "message": e.message,
                    },
                });
                println!("{out}");
            }
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let findings = consistency::check(&cat);
    if json {
        let out = serde_json::json!({
            "file": file.display().to_string(),
            "consistent": findings.is_empty(),
            "plans": cat.plans.len(),
            "services": cat.services.len(),
            "ladders": cat.ladders.len(),
            "findings": findings,
        });
        println!("{out}");
    } else {
        for f in &findings {
            println!("{}: {}: {}", file.display(), f.rule, f.message);
        }
        if findings.is_empty() {
            println!(
                "ok: {} ({} plans, {} service tiers, {} options, {} ladders): consistent",
                file.display(),
                cat.plans.len(),
                cat.services.len(),
                cat.options.len(),
                cat.ladders.len()
            );
        } else {
            eprintln!(
                "{}: {} inconsistencies: buying more must never cost less",
                file.display(),
                findings.len()
            );
        }
    }
    if findings.is_empty() {
        exit::OK
    } else {
        exit::INCONSISTENT
    }
}
