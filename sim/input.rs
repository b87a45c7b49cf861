//! Errors in input files (scenarios and plan catalogues), each pointing at file, line, column
//! and field, saying what is allowed. The CLI maps every one of them to exit code 2. Its own
//! module, below both readers, so that neither imports the other for it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no place in the file (e.g. it cannot be read).
    pub line: usize,
    pub column: usize,
    /// Dotted path of the offending field, e.g. `demand.sigma`; empty if unknown.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Knows the source text, so that errors can be placed in it.
pub struct Locator<'a> {
    pub file: &'a Path,
    pub source: &'a str,
    table: Option<Spanned<DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Locator<'a> {
        Locator {
            file,
            source,
            table: DeTable::parse(source).ok(),
        }
    }

    /// An error at a byte span (from the TOML parser), naming the innermost field there.
    pub fn at_span(&self, span: Option<Range<usize>>, message: &str) -> ScenarioError {
        let (line, column) = span.as_ref().map_or((0, 0), |s| self.line_col(s.start));
        let field = match (&self.table, span) {
            (Some(table), Some(span)) => field_at(table, &span).unwrap_or_default(),
            _ => String::new(),
        };
        let message = humanize(&field, message);
        self.error(line, column, field, &message)
    }

    /// An error about a field named by its dotted path (`pricing.shop.2.price`); if the field
    /// is absent from the file (a default was used), the error points at its table or line 1.
    pub fn at_field(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        let offset = self
            .table
            .as_ref()
            .and_then(|t| offset_of(t, field))
            .unwrap_or(0);
        let (line, column) = self.line_col(offset);
        self.error(line, column, field.to_string(), &message.into())
    }

    fn error(&self, line: usize, column: usize, field: String, message: &str) -> ScenarioError {
        ScenarioError {
            file: self.file.to_path_buf(),
            line,
            column,
            field,
            message: message.trim().to_string(),
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }
}

/// Rewrites serde's type names for people ("expected i64" → "expected an integer") and adds
/// the fix for the most common mistake: a price written as a float.
fn humanize(field: &str, message: &str) -> String {
    let mut text = message
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a boolean", "expected true or false");
    // `service.wear.tool_price.drilled` is a price too: any segment may name it.
    let is_price = field == "pricing.chain"
        || field == "pricing.independent"
        || field.split('.').any(|s| s.ends_with("price"));
    if is_price && text.contains("expected a string") {
        text.push_str(": write prices quoted, e.g. \"3.80\" (a float cannot hold cents exactly)");
    }
    if field == "quote.margin" && text.contains("expected a string") {
        text.push_str(": write the margin quoted, e.g. \"0.15\" for 15% (money is never a float)");
    }
    text
}

/// A file-level error (cannot be read, not UTF-8).
pub fn file_error(file: &Path, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        field: String::new(),
        message: message.into(),
    }
}

/// Byte offset of the value at a dotted path; the deepest existing ancestor otherwise.
fn offset_of(table: &Spanned<DeTable<'_>>, path: &str) -> Option<usize> {
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    let mut best = None;
    for segment in path.split('.') {
        let next = match value.map(|v| v.get_ref()) {
            None => find_key(table.get_ref(), segment),
            Some(DeValue::Table(t)) => find_key(t, segment),
            Some(DeValue::Array(items)) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            Some(_) => None,
        };
        match next {
            Some(v) => {
                best = Some(v.span().start);
                value = Some(v);
            }
            None => break,
        }
    }
    best
}

fn find_key<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

/// Dotted path of the innermost key whose key or value span contains `span`.
fn field_at(table: &Spanned<DeTable<'_>>, span: &Range<usize>) -> Option<String> {
    path_in_table(table.get_ref(), span).map(|mut path| {
        path.reverse();
        path.join(".")
    })
}

/// The path (innermost segment first) to `span` inside `table`. A `[table]`'s own span
/// covers only its header, so tables and arrays are searched whatever their span.
fn path_in_table(table: &DeTable<'_>, span: &Range<usize>) -> Option<Vec<String>> {
    table.iter().find_map(|(key, value)| {
        let mut path = path_in_value(value, span).or_else(|| {
            (contains(&key.span(), span) || contains(&value.span(), span)).then(Vec::new)
        })?;
        path.push(key.get_ref().to_string());
        Some(path)
    })
}

fn path_in_value(value: &Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<Vec<String>> {
    match value.get_ref() {
        DeValue::Table(t) => path_in_table(t, span),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let mut path = path_in_value(item, span)
                .or_else(|| contains(&item.span(), span).then(Vec::new))?;
            path.push(i.to_string());
            Some(path)
        }),
        _ => None,
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end.max(outer.start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[demand]\nsigma = -1.0\n\n[[pricing.shop]]\nshop = 1\nprice = \"x\"\n";

    #[test]
    fn locates_fields_by_path() {
        let loc = Locator::new(Path::new("s.toml"), DOC);
        let e = loc.at_field("demand.sigma", "must be > 0");
        assert_eq!((e.line, e.column), (2, 9));
        let e = loc.at_field("pricing.shop.0.price", "bad");
        assert_eq!((e.line, e.column), (6, 9));
        assert_eq!(
            e.to_string(),
            "s.toml:6:9: field `pricing.shop.0.price`: bad"
        );
    }

    #[test]
    fn names_the_field_under_a_span() {
        let loc = Locator::new(Path::new("s.toml"), DOC);
        let start = DOC.find("-1.0").unwrap();
        let e = loc.at_span(Some(start..start + 4), "oops");
        assert_eq!(e.field, "demand.sigma");
        assert_eq!(e.line, 2);
    }
}
