//! A shop's history as a CSV file, one row per day, into an `Audit`.
//!
//! Columns (a header line first, in any order, each exactly once):
//! `date` (YYYY-MM-DD, increasing), `mountings` (billable, remakes included), `trace_only`
//! (frames traced for remote-edged orders), `remakes` (≤ mountings), mountings by frame
//! `full_rim`, `semi_rimless`, `rimless` (summing to `mountings`) and by lens material
//! `index_150`, `index_160`, `index_167`, `polycarbonate`, `mineral` (summing to
//! `mountings`). Dates missing between the first and the last row are days without activity
//! (closed). Blank lines and lines starting with `#` are ignored. Every error names the
//! file, line and column and says what is allowed.

use super::audit::Audit;
use chrono::NaiveDate;
use std::fmt;
use std::path::{Path, PathBuf};

pub const COLUMNS: [&str; 12] = [
    "date",
    "mountings",
    "trace_only",
    "remakes",
    "full_rim",
    "semi_rimless",
    "rimless",
    "index_150",
    "index_160",
    "index_167",
    "polycarbonate",
    "mineral",
];

/// Most cycles of one kind a shop can do in one day (a bound against typos).
const MAX_PER_DAY: u32 = 10_000;
/// Longest history accepted.
const MAX_DAYS: i64 = 3_660;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no place in the file.
    pub line: usize,
    pub column: usize,
    /// The CSV column concerned, if any.
    pub field: String,
    pub message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": column `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for HistoryError {}

/// Reads and checks a history file.
pub fn load(path: &Path) -> Result<Audit, HistoryError> {
    let text = std::fs::read_to_string(path).map_err(|e| HistoryError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        field: String::new(),
        message: format!("cannot read the file: {e}"),
    })?;
    parse(path, &text)
}

/// A field of a line: its text and 1-based column.
struct Field<'a> {
    text: &'a str,
    column: usize,
}

fn fields(line: &str) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    let mut column = 1;
    for text in line.split(',') {
        out.push(Field {
            text: text.trim(),
            column: column + (text.len() - text.trim_start().len()),
        });
        column += text.chars().count() + 1;
    }
    out
}

pub fn parse(path: &Path, text: &str) -> Result<Audit, HistoryError> {
    let err = |line: usize, column: usize, field: &str, message: String| HistoryError {
        file: path.to_path_buf(),
        line,
        column,
        field: field.to_string(),
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(err(
            0,
            0,
            "",
            format!(
                "no header: the first line names the columns: {}",
                COLUMNS.join(",")
            ),
        ));
    };
    // position of each known column in a row
    let mut index = [usize::MAX; COLUMNS.len()];
    let header_fields = fields(header);
    for (i, f) in header_fields.iter().enumerate() {
        let Some(c) = COLUMNS.iter().position(|c| *c == f.text) else {
            return Err(err(
                header_line,
                f.column,
                f.text,
                format!(
                    "unknown column `{}`: the columns are {}",
                    f.text,
                    COLUMNS.join(",")
                ),
            ));
        };
        if index[c] != usize::MAX {
            return Err(err(
                header_line,
                f.column,
                f.text,
                "this column appears twice".into(),
            ));
        }
        index[c] = i;
    }
    if let Some(missing) = COLUMNS.iter().zip(index).find(|(_, i)| *i == usize::MAX) {
        return Err(err(
            header_line,
            1,
            "",
            format!(
                "the header lacks column `{}`: every column is required ({})",
                missing.0,
                COLUMNS.join(",")
            ),
        ));
    }
    let mut previous: Option<(NaiveDate, usize)> = None;
    let mut rows: Vec<(NaiveDate, [u32; 11])> = Vec::new();
    for (n, line) in lines {
        let row = fields(line);
        if row.len() != header_fields.len() {
            return Err(err(
                n,
                1,
                "",
                format!(
                    "{} fields, but the header has {}: one value per column, separated by commas",
                    row.len(),
                    header_fields.len()
                ),
            ));
        }
        let field = |c: usize| &row[index[c]];
        let date_field = field(0);
        let date = NaiveDate::parse_from_str(date_field.text, "%Y-%m-%d").map_err(|_| {
            err(
                n,
                date_field.column,
                "date",
                format!(
                    "`{}` is not a date: write YYYY-MM-DD, e.g. 2024-01-31",
                    date_field.text
                ),
            )
        })?;
        if let Some((before, before_line)) = previous {
            if date <= before {
                return Err(err(
                    n,
                    date_field.column,
                    "date",
                    format!(
                        "{date} is not after {before} (line {before_line}): one row per day, in date order"
                    ),
                ));
            }
        }
        if let Some(&(first, _)) = rows.first() {
            if (date - first).num_days() >= MAX_DAYS {
                return Err(err(
                    n,
                    date_field.column,
                    "date",
                    format!("{date}: a history covers at most {MAX_DAYS} days (10 years)"),
                ));
            }
        }
        previous = Some((date, n));
        let mut counts = [0_u32; 11];
        for (c, count) in counts.iter_mut().enumerate() {
            let f = field(c + 1);
            *count = f
                .text
                .parse::<u32>()
                .ok()
                .filter(|v| *v <= MAX_PER_DAY)
                .ok_or_else(|| {
                    err(
                        n,
                        f.column,
                        COLUMNS[c + 1],
                        format!(
                            "`{}` is not allowed: a count is a whole number from 0 to {MAX_PER_DAY}",
                            f.text
                        ),
                    )
                })?;
        }
        let [mountings, _trace, remakes, ..] = counts;
        if remakes > mountings {
            let f = field(3);
            return Err(err(
                n,
                f.column,
                "remakes",
                format!("{remakes} remakes but {mountings} mountings: a remake is a mounting (remakes ≤ mountings)"),
            ));
        }
        let frames: u32 = counts[3..6].iter().sum();
        if frames != mountings {
            let f = field(4);
            return Err(err(
                n,
                f.column,
                "full_rim",
                format!(
                    "full_rim + semi_rimless + rimless = {frames}, but mountings = {mountings}: each mounting has one frame type"
                ),
            ));
        }
        let materials: u32 = counts[6..11].iter().sum();
        if materials != mountings {
            let f = field(7);
            return Err(err(
                n,
                f.column,
                "index_150",
                format!(
                    "index_150 + index_160 + index_167 + polycarbonate + mineral = {materials}, but mountings = {mountings}: each mounting has one lens material"
                ),
            ));
        }
        rows.push((date, counts));
    }
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Err(err(
            header_line + 1,
            1,
            "",
            "no rows: a history has at least one day after the header".into(),
        ));
    };
    let mut a = Audit::empty(path.display().to_string(), first.0, last.0);
    for (_, c) in &rows {
        let [m, t, r, f0, f1, f2, m0, m1, m2, m3, m4] = c.map(u64::from);
        a.mountings += m;
        a.trace_only += t;
        a.remakes += r;
        for (acc, v) in a.frames.iter_mut().zip([f0, f1, f2]) {
            *acc += v;
        }
        for (acc, v) in a.materials.iter_mut().zip([m0, m1, m2, m3, m4]) {
            *acc += v;
        }
        if m + t > 0 {
            a.open_days += 1;
            a.daily.push([c[0], c[1]]);
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "date,mountings,trace_only,remakes,full_rim,semi_rimless,rimless,index_150,index_160,index_167,polycarbonate,mineral\n";

    fn parse_text(body: &str) -> Result<Audit, HistoryError> {
        parse(Path::new("h.csv"), &format!("{HEADER}{body}"))
    }

    #[test]
    fn reads_a_history() {
        let a = parse_text(
            "# a comment\n2024-01-02,3,1,1,2,1,0,1,1,0,1,0\n\n2024-01-04,2,0,0,2,0,0,2,0,0,0,0\n",
        )
        .unwrap();
        assert_eq!(
            (a.days, a.open_days, a.mountings, a.trace_only, a.remakes),
            (3, 2, 5, 1, 1)
        );
        assert_eq!(a.frames, [4, 1, 0]);
        assert_eq!(a.materials, [3, 1, 0, 1, 0]);
        assert_eq!(a.daily, vec![[3, 1], [2, 0]]);
        assert_eq!(a.days_by_month[0], 3);
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = parse_text("2024-01-02,3,1,1,2,1,0,1,1,0,1,x\n").unwrap_err();
        assert_eq!((e.line, e.column, e.field.as_str()), (2, 32, "mineral"));
        assert_eq!(
            e.to_string(),
            "h.csv:2:32: column `mineral`: `x` is not allowed: a count is a whole number from 0 to 10000"
        );
        let e = parse_text("2024-01-02,3,1,1,2,0,0,1,1,0,1,0\n").unwrap_err();
        assert_eq!((e.line, e.column, e.field.as_str()), (2, 18, "full_rim"));
        let e = parse_text("2024-01-02,3,1,4,2,1,0,1,1,0,1,0\n").unwrap_err();
        assert_eq!(e.field, "remakes");
        let e = parse_text("2024-01-02,1,0,0,1,0,0,1,0,0,0,0\n2024-01-02,1,0,0,1,0,0,1,0,0,0,0\n")
            .unwrap_err();
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.message.contains("line 2"), "{e}");
        let e = parse_text("2024-13-02,1,0,0,1,0,0,1,0,0,0,0\n").unwrap_err();
        assert!(e.message.contains("YYYY-MM-DD"), "{e}");
        let e = parse_text("2024-01-02,1,0,0\n").unwrap_err();
        assert!(e.message.contains("4 fields, but the header has 12"), "{e}");
        let e = parse_text("").unwrap_err();
        assert!(e.message.contains("no rows"), "{e}");
        let e = parse(Path::new("h.csv"), "date,mountings\n").unwrap_err();
        assert!(e.message.contains("lacks column `trace_only`"), "{e}");
        let e = parse(Path::new("h.csv"), "date,mountings,color\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 16));
    }
}
