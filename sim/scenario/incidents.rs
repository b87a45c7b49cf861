//! `pricing.incidents`: service incidents as input data, a CSV file that several scenarios can
//! share (until a simulated field service produces them). The run records them in the engine
//! through `MeteringEngine::record_incidents`, as `POST /v1/admin/incidents` would, so the
//! closes bill labour, travel and parts and credit SLA breaches by each shop's service tier.
//!
//! Columns (a header line first, in any order, each exactly once): `shop` (`S000042` or `42`),
//! `period` (`YYYY-MM`, within the run), `response_hours` and `repair_hours` (decimals ≥ 0,
//! from the call), `labour_minutes` and `visits` (integers ≥ 0), `parts_cost` (decimal ≥ 0, at
//! cost, in the catalogue's currency). Blank lines and lines starting with `#` are ignored.
//! Every error names the file, line and column and says what is allowed. A shop's incidents in
//! a month its contract does not cover, or with no service tier, bill nothing.

use crate::billing::service::Incident;
use crate::calendar::Period;
use crate::input::ScenarioError;
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub const COLUMNS: [&str; 7] = [
    "shop",
    "period",
    "response_hours",
    "repair_hours",
    "labour_minutes",
    "visits",
    "parts_cost",
];

/// Bounds against typos: a year of hours, a week of labour, a visit a day, a machine's price.
const MAX_HOURS: i64 = 8_760;
const MAX_LABOUR_MINUTES: u32 = 10_080;
const MAX_VISITS: u32 = 31;
const MAX_PARTS_COST: i64 = 100_000;

/// One incident of one shop in one billing period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopIncident {
    pub shop: u32,
    pub period: Period,
    pub incident: Incident,
}

/// The file's incidents, in file order, or the first error.
pub fn load(
    path: &Path,
    shops: u32,
    periods: (Period, Period),
) -> Result<Vec<ShopIncident>, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| Place::file(path).error(
        "",
        format!("cannot read the incidents file (a CSV, path relative to the scenario's folder): {e}"),
    ))?;
    parse(path, &text, shops, periods)
}

pub fn parse(
    path: &Path,
    text: &str,
    shops: u32,
    periods: (Period, Period),
) -> Result<Vec<ShopIncident>, ScenarioError> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| csv_error(path, &e))?.clone();
    let index = columns(&header, &Place::file(path).at_line(1))?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let row = Row {
            record: &record,
            index: &index,
            place: Place::file(path).at_line(line),
        };
        out.push(row.incident(shops, periods)?);
    }
    Ok(out)
}

/// Where a problem is: the file and, once known, the line.
struct Place {
    file: PathBuf,
    line: usize,
}

impl Place {
    fn file(path: &Path) -> Place {
        Place {
            file: path.to_path_buf(),
            line: 0,
        }
    }

    fn at_line(self, line: usize) -> Place {
        Place { line, ..self }
    }

    fn error(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.clone(),
            line: self.line,
            column: usize::from(self.line > 0),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

fn csv_error(path: &Path, e: &csv::Error) -> ScenarioError {
    let line = e.position().map_or(0, |p| p.line() as usize);
    Place::file(path)
        .at_line(line)
        .error("", format!("not a CSV row: {e}"))
}

/// The position of each of `COLUMNS` in the header; every column once, no other.
fn columns(header: &csv::StringRecord, place: &Place) -> Result<[usize; 7], ScenarioError> {
    let mut index = [usize::MAX; 7];
    for (at, name) in header.iter().enumerate() {
        let Some(c) = COLUMNS.iter().position(|k| *k == name) else {
            return Err(place.error(
                name,
                format!("unknown column; the columns are {}", COLUMNS.join(", ")),
            ));
        };
        if index[c] != usize::MAX {
            return Err(place.error(name, "this column appears twice"));
        }
        index[c] = at;
    }
    if let Some(c) = index.iter().position(|&i| i == usize::MAX) {
        return Err(place.error(
            COLUMNS[c],
            format!(
                "missing column; the header must name {}",
                COLUMNS.join(", ")
            ),
        ));
    }
    Ok(index)
}

struct Row<'a> {
    record: &'a csv::StringRecord,
    index: &'a [usize; 7],
    place: Place,
}

impl Row<'_> {
    fn cell(&self, column: usize) -> &str {
        self.record.get(self.index[column]).unwrap_or("")
    }

    fn incident(
        &self,
        shops: u32,
        periods: (Period, Period),
    ) -> Result<ShopIncident, ScenarioError> {
        Ok(ShopIncident {
            shop: self.shop(shops)?,
            period: self.period(periods)?,
            incident: Incident {
                response_hours: self.decimal(2, MAX_HOURS)?,
                repair_hours: self.decimal(3, MAX_HOURS)?,
                labour_minutes: self.count(4, MAX_LABOUR_MINUTES)?,
                visits: self.count(5, MAX_VISITS)?,
                parts_cost: self.decimal(6, MAX_PARTS_COST)?,
            },
        })
    }

    fn shop(&self, shops: u32) -> Result<u32, ScenarioError> {
        let text = self.cell(0);
        let number = text.strip_prefix('S').unwrap_or(text);
        match number.parse::<u32>() {
            Ok(n) if n < shops => Ok(n),
            Ok(n) => Err(self.place.error(
                "shop",
                format!(
                    "shop {n} does not exist: the fleet has {shops} shops, numbered 0 to {}",
                    shops - 1
                ),
            )),
            Err(_) => Err(self.place.error(
                "shop",
                format!("`{text}` is not a shop: write its id, e.g. S000042 (or 42)"),
            )),
        }
    }

    fn period(&self, (first, last): (Period, Period)) -> Result<Period, ScenarioError> {
        let text = self.cell(1);
        let period = Period::parse(text).ok_or_else(|| {
            self.place.error(
                "period",
                format!("`{text}` is not a month: write YYYY-MM, e.g. 2024-03"),
            )
        })?;
        if period < first || period > last {
            return Err(self.place.error(
                "period",
                format!("{period} is not allowed: the run's months are {first} to {last}"),
            ));
        }
        Ok(period)
    }

    fn decimal(&self, column: usize, max: i64) -> Result<Decimal, ScenarioError> {
        let text = self.cell(column);
        Decimal::from_str(text)
            .ok()
            .filter(|d| !d.is_sign_negative() && *d <= Decimal::from(max))
            .ok_or_else(|| {
                self.place.error(
                    COLUMNS[column],
                    format!("`{text}` is not allowed: a decimal from 0 to {max}, e.g. 2.5"),
                )
            })
    }

    fn count(&self, column: usize, max: u32) -> Result<u32, ScenarioError> {
        let text = self.cell(column);
        text.parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| {
                self.place.error(
                    COLUMNS[column],
                    format!("`{text}` is not allowed: a whole number from 0 to {max}"),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "shop,period,response_hours,repair_hours,labour_minutes,visits,parts_cost\n";

    fn run() -> (Period, Period) {
        (
            Period {
                year: 2024,
                month: 1,
            },
            Period {
                year: 2024,
                month: 12,
            },
        )
    }

    fn parse_text(text: &str) -> Result<Vec<ShopIncident>, ScenarioError> {
        parse(Path::new("i.csv"), text, 10, run())
    }

    #[test]
    fn rows_become_incidents_whatever_the_column_order() {
        let text = "# a comment\nperiod,shop,visits,labour_minutes,parts_cost,repair_hours,response_hours\n2024-03, S000004 ,1,90,120.00,50,30\n\n2024-04,7,0,15,0,2.5,0.5\n";
        let got = parse_text(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].shop, got[0].period.to_string()),
            (4, "2024-03".to_string())
        );
        assert_eq!(
            got[0].incident,
            Incident {
                response_hours: Decimal::from(30),
                repair_hours: Decimal::from(50),
                labour_minutes: 90,
                visits: 1,
                parts_cost: Decimal::from_str("120.00").unwrap(),
            }
        );
        assert_eq!(
            got[1].incident.repair_hours,
            Decimal::from_str("2.5").unwrap()
        );
    }

    #[test]
    fn errors_name_the_line_the_column_and_what_is_allowed() {
        let cases = [
            ("S000004,2024-03,30,50,90,1,-1\n", "i.csv:2:1: field `parts_cost`: `-1` is not allowed: a decimal from 0 to 100000"),
            ("S000010,2024-03,30,50,90,1,0\n", "i.csv:2:1: field `shop`: shop 10 does not exist: the fleet has 10 shops, numbered 0 to 9"),
            ("shop4,2024-03,30,50,90,1,0\n", "i.csv:2:1: field `shop`: `shop4` is not a shop"),
            ("S000004,2025-01,30,50,90,1,0\n", "i.csv:2:1: field `period`: 2025-01 is not allowed: the run's months are 2024-01 to 2024-12"),
            ("S000004,March,30,50,90,1,0\n", "i.csv:2:1: field `period`: `March` is not a month"),
            ("S000004,2024-03,30,50,1.5,1,0\n", "i.csv:2:1: field `labour_minutes`: `1.5` is not allowed: a whole number from 0 to 10080"),
            ("S000004,2024-03,30,50,90,1\n", "i.csv:2:1: not a CSV row"),
        ];
        for (row, expected) in cases {
            let e = parse_text(&format!("{HEADER}{row}"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(expected), "{row}: {e}");
        }
    }

    #[test]
    fn a_header_must_name_every_column_once() {
        let e = parse_text("shop,period,response_hours,repair_hours,labour_minutes,visits\n")
            .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "parts_cost"));
        let e = parse_text(&HEADER.replace("visits", "trips")).unwrap_err();
        assert!(
            e.to_string().contains("field `trips`: unknown column"),
            "{e}"
        );
        let e = parse_text(&HEADER.replace("visits", "shop")).unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
    }
}
