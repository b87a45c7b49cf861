//! The main charts as PNG (charts/<slug>.png): each one index.html links exists, decodes,
//! is twice its SVG's size, is drawn (not blank), and two runs give the same bytes.

mod common;
#[path = "common/pixels.rs"]
mod pixels;

use common::*;
use std::path::Path;

const FIELD: &str = "tests/data/field_plans.toml";

/// The PNGs index.html links to, with the size its chart's SVG declares.
fn linked(page: &str) -> Vec<(String, (u32, u32))> {
    page.split("<div class=\"chart\"")
        .skip(1)
        .filter_map(|chart| {
            let chart = chart.split_once("</div>").unwrap().0;
            let href = chart.split_once("<a href=\"")?.1.split_once('"')?.0;
            let svg = chart
                .split_once("<svg")
                .unwrap()
                .1
                .split_once('>')
                .unwrap()
                .0;
            let attr = |name: &str| -> u32 {
                let after = svg.split_once(&format!(" {name}=\"")).unwrap().1;
                after.split_once('"').unwrap().0.parse().unwrap()
            };
            Some((href.to_string(), (attr("width"), attr("height"))))
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| format!("charts/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    names.sort();
    names
}

#[test]
fn the_main_charts_are_pngs_twice_their_size_and_the_same_every_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("1"), tmp.path().join("2"));
    assert_exit(&run_quiet(FIELD, &one, &[]), 0, FIELD);
    assert_exit(&run_quiet(FIELD, &two, &["--threads", "1"]), 0, FIELD);

    let page = std::fs::read_to_string(one.join("index.html")).unwrap();
    let pngs = linked(&page);
    let mut names: Vec<String> = pngs.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(
        files_in(&one.join("charts")),
        names,
        "every PNG linked, no other"
    );
    assert!(names.contains(&"charts/billable_mountings.png".to_string()));
    assert!(names.contains(&"charts/incidents_by_cause.png".to_string()));

    for (name, (w, h)) in &pngs {
        let bytes = std::fs::read(one.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let image = pixels::decode(&bytes, name);
        assert_eq!((image.width, image.height), (2 * w, 2 * h), "{name}");
        let all = image.rgb.len();
        let inked = image.inked();
        assert!(inked * 50 > all, "{name}: {inked} of {all} pixels drawn");
        assert!(image.coloured() * 1000 > all, "{name}: no series drawn");
        let again = std::fs::read(two.join(name)).unwrap();
        assert!(bytes == again, "{name} differs between two runs");
    }
}
