//! Reading a report page as Chromium serialised it: chart wrappers and the `data-summary`
//! cells checked against the JSON file they name (summary.json for a run's page,
//! comparison.json for `compare`'s), each page read by its own rules of display.
#![allow(dead_code)]

use serde_json::Value;

/// The text between `from` and the next `to` after it, for each `from` in `html`.
pub fn between<'a>(html: &'a str, from: &str, to: &str) -> Vec<&'a str> {
    html.split(from)
        .skip(1)
        .map(|part| part.split_once(to).map_or(part, |(inside, _)| inside))
        .collect()
}

/// The text of an element's content: tags dropped, the entities the DOM writes decoded.
pub fn text_of(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    // Thousands are grouped by narrow spaces and negatives use the minus sign.
    text.replace("&nbsp;", " ")
        .replace('\u{a0}', " ")
        .replace('\u{202f}', "")
        .replace('\u{2212}', "-")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The numbers in a cell's text, in order ("1234.56 EUR over 7" → ["1234.56", "7"]).
pub fn numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let starts_negative = c == '-' && current.is_empty();
        if c.is_ascii_digit() || starts_negative || (c == '.' && !current.is_empty()) {
            current.push(c);
        } else if !current.is_empty() {
            found.push(std::mem::take(&mut current));
        }
    }
    found.push(current);
    found
        .into_iter()
        .map(|n| n.trim_end_matches('.').to_string())
        .filter(|n| n.chars().any(|c| c.is_ascii_digit()))
        .collect()
}

/// Whether `shown` reads as the JSON's integer `value` at `pointer`: cents as units with two
/// decimals, other integers exactly, floats to the decimals shown.
pub fn reads_two_decimals(shown: &str, pointer: &str, value: &Value) -> bool {
    if let (true, Some(cents)) = (pointer.ends_with("_cents"), value.as_i64()) {
        let sign = if cents < 0 { "-" } else { "" };
        let c = cents.unsigned_abs();
        return shown == format!("{sign}{}.{:02}", c / 100, c % 100);
    }
    if let Some(n) = value.as_i64() {
        return shown == n.to_string();
    }
    let (Some(v), Ok(s)) = (value.as_f64(), shown.parse::<f64>()) else {
        return false;
    };
    let decimals = shown.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    (v - s).abs() <= 0.5 * 10f64.powi(-decimals) + 1e-9
}

/// Whether `shown` reads as the JSON's `value` at `pointer`: cents as euros with two
/// decimals, or as whole euros (rounded half away from zero) where no decimals are shown;
/// shares as percentages; other integers exactly, other floats to the decimals shown.
pub fn reads_rounded(shown: &str, pointer: &str, value: &Value) -> bool {
    let decimals = shown.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    let near = |v: f64, scale: f64| {
        let Ok(s) = shown.parse::<f64>() else {
            return false;
        };
        (v * scale - s).abs() <= 0.5 * 10f64.powi(-decimals) + 1e-9
    };
    if let (true, Some(cents)) = (pointer.ends_with("_cents"), value.as_i64()) {
        let sign = if cents < 0 { "-" } else { "" };
        let c = cents.unsigned_abs();
        if decimals == 0 {
            let whole = (c + 50) / 100;
            let sign = if whole == 0 { "" } else { sign };
            return shown == format!("{sign}{whole}");
        }
        return shown == format!("{sign}{}.{:02}", c / 100, c % 100);
    }
    if let Some(n) = value.as_i64() {
        return shown == n.to_string();
    }
    let Some(v) = value.as_f64() else {
        return false;
    };
    if pointer.ends_with("_cents") {
        return near(v, 0.01);
    }
    if pointer.ends_with("_share") {
        return near(v, 100.0);
    }
    near(v, 1.0)
}

/// Every `<td data-summary="pointers">`: its text shows each value it names, strings as they
/// are, numbers in order. Returns how many values were checked.
pub fn check_facts(dom: &str, json: &Value, reads: fn(&str, &str, &Value) -> bool) -> usize {
    check_cells(dom, json, reads, "<td data-summary=\"", "</td>")
}

/// `check_facts` for the elements that start with `open` (up to their pointers) and end at
/// `close`, e.g. a card's `<b data-summary="` … `</b>`.
pub fn check_cells(
    dom: &str,
    json: &Value,
    reads: fn(&str, &str, &Value) -> bool,
    open: &str,
    close: &str,
) -> usize {
    let mut checked = 0;
    for cell in between(dom, open, close) {
        let (pointers, content) = cell.split_once("\">").expect("an attribute, then text");
        let mut text = text_of(content);
        let mut numeric = Vec::new();
        for pointer in pointers.split(' ') {
            let value = json
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{pointer} is not in the JSON file"));
            match value.as_str() {
                Some(s) => {
                    assert!(text.contains(s), "{text:?} does not show {pointer} = {s}");
                    text = text.replacen(s, " ", 1);
                }
                None => numeric.push((pointer, value)),
            }
            checked += 1;
        }
        let shown = numbers(&text);
        assert_eq!(
            shown.len(),
            numeric.len(),
            "{text:?}: numbers shown vs {pointers}"
        );
        for (s, (pointer, value)) in shown.iter().zip(numeric) {
            assert!(
                reads(s, pointer, value),
                "{pointer}: the page shows {s}, the JSON file has {value}"
            );
        }
    }
    checked
}

/// Every chart's wrapper: a heading, an SVG with marks and with text (axis descriptions and
/// labels), none unavailable. Returns the charts' slugs.
pub fn check_charts(dom: &str) -> Vec<String> {
    let mut slugs = Vec::new();
    for chart in between(dom, "<div class=\"chart\" data-chart=\"", "</div>") {
        let (slug, content) = chart.split_once('"').unwrap();
        let heading = text_of(&between(content, "<h", "</h")[0][2..]);
        assert!(heading.len() > 10, "{slug}: heading {heading:?}");
        assert!(
            !content.contains("chart unavailable"),
            "{slug}: {}",
            text_of(content)
        );
        let svg = between(content, "<svg", "</svg>");
        assert_eq!(svg.len(), 1, "{slug}: one SVG");
        let marks = ["<rect", "<path", "<polyline", "<circle", "<line"]
            .iter()
            .map(|m| svg[0].matches(m).count())
            .sum::<usize>();
        assert!(marks > 10, "{slug}: {marks} marks");
        let words: Vec<String> = between(svg[0], "<text", "</text>")
            .iter()
            .map(|t| text_of(t.split_once('>').map_or("", |(_, t)| t)))
            .filter(|t| t.chars().filter(|c| c.is_alphabetic()).count() >= 3)
            .collect();
        assert!(
            words.len() >= 3,
            "{slug}: axis descriptions and legend expected, found {words:?}"
        );
        slugs.push(slug.to_string());
    }
    slugs
}
