//! index.html as a person sees it: rendered by Chromium (headless), every chart drawn with
//! its title and axis text, none unavailable, the facts shown equal to summary.json's, and a
//! screenshot that is not blank. Without Chromium this fails: `.ci/run` installs it.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/page.rs"]
mod page;
#[path = "common/pixels.rs"]
mod pixels;

use common::*;
use page::{check_charts, reads_rounded};

const FIELD: &str = "tests/data/field_plans.toml";

#[test]
fn the_report_reads_right_in_a_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    assert_exit(&run_quiet(FIELD, &out, &[]), 0, FIELD);
    let summary = read_json(&out.join("summary.json"));
    let page = out.join("index.html");

    let dom = browser::dump_dom(&page);
    assert!(dom.contains("id=\"service\""), "the field's section");
    let slugs = check_charts(&dom);
    assert_eq!(
        slugs.len(),
        dom.matches("<svg").count(),
        "every SVG is in a chart's wrapper"
    );
    assert_eq!(slugs.len(), 10, "{slugs:?}");
    assert!(!dom.contains("chart unavailable"));
    let checked = page::check_facts(&dom, &summary, reads_rounded);
    // 20 values in the run's facts, 15 in the field's.
    assert_eq!(checked, 35, "facts checked against summary.json");

    let shot = tmp.path().join("page.png");
    browser::screenshot(&page, &shot, (1100, 9000));
    let image = pixels::decode(&std::fs::read(&shot).unwrap(), "the screenshot");
    assert_eq!((image.width, image.height), (1100, 9000));
    let pixels = image.rgb.len();
    let inked = image.inked();
    assert!(inked * 20 > pixels, "{inked} of {pixels} pixels drawn");
    // The charts' series, not only text: blue links alone are a few thousand pixels.
    let coloured = image.coloured();
    assert!(coloured > 100_000, "{coloured} coloured pixels");
}

const ALTERNATIVES: &str = "scenarios/alternatives.toml";

/// The shipped alternatives scenario: every chart drawn (each sweep's three among them), and
/// every figure of the pricings side by side equal to summary.json's `/alternatives`.
#[test]
fn the_alternatives_report_reads_right_in_a_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    assert_exit(&run_quiet(ALTERNATIVES, &out, &[]), 0, ALTERNATIVES);
    let summary = read_json(&out.join("summary.json"));
    let pricings = summary["alternatives"].as_array().expect("/alternatives");
    assert!(pricings.len() > 5, "the scenario compares pricings");
    let page = out.join("index.html");

    let dom = browser::dump_dom(&page);
    assert!(
        dom.contains("id=\"alternatives\""),
        "the alternatives' section"
    );
    let slugs = check_charts(&dom);
    assert_eq!(
        slugs.len(),
        dom.matches("<svg").count(),
        "every SVG in a wrapper"
    );
    let mut expected: Vec<String> = [
        "alternatives_monthly_revenue",
        "alternatives_price_spread",
        "alternatives_lorenz",
        "alternatives_margin_vs_volume",
        "subsidy_segments",
        "subsidy_regions",
    ]
    .map(String::from)
    .to_vec();
    let mut sweeps: Vec<&str> = pricings
        .iter()
        .filter_map(|p| p.pointer("/sweep/sweep")?.as_str())
        .collect();
    sweeps.dedup();
    assert!(!sweeps.is_empty(), "the scenario sweeps a price");
    for sweep in sweeps {
        for what in ["money", "losses", "gini"] {
            expected.push(format!("sweep_{}_{what}", sweep.replace(['-', '.'], "_")));
        }
    }
    for slug in &expected {
        assert!(slugs.contains(slug), "{slug} is not drawn: {slugs:?}");
    }

    let checked = page::check_facts(&dom, &summary, reads_rounded);
    let per_pricing = dom.matches("data-summary=\"/alternatives/0/").count();
    assert!(
        per_pricing >= 15,
        "{per_pricing} cells show the base's figures"
    );
    assert!(
        checked >= per_pricing * pricings.len(),
        "{checked} values checked for {} pricings",
        pricings.len()
    );
}
