//! `fleetsim quote`: price the shop, print the explanation (text, or JSON with `--json`),
//! and map a failure to its exit code.

use crate::exit;
use crate::quote::command::{quote_shop, QuoteArgs, QuoteError};
use crate::quote::explain;

/// Runs `fleetsim quote` and returns the process exit code.
pub fn command(args: &QuoteArgs) -> i32 {
    let priced = match quote_shop(args) {
        Ok(priced) => priced,
        Err(e) => {
            eprintln!("error: {e}");
            return error_code(&e);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&explain::report(&priced.quote, &priced.model)) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::RUNTIME;
            }
        }
    } else {
        print!("{}", explain::text(&priced.quote, &priced.model));
    }
    exit::OK
}

fn error_code(e: &QuoteError) -> i32 {
    match e {
        QuoteError::Run(_) => exit::RUNTIME,
        QuoteError::Terms { .. }
        | QuoteError::History(_)
        | QuoteError::Scenario(_)
        | QuoteError::Shop { .. }
        | QuoteError::AuditMonths { .. } => exit::BAD_INPUT,
    }
}
