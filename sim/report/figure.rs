//! A named chart of the page: its title, its SVG (or why there is none), and whether it is
//! one of the main charts copied to `charts/<slug>.png` for slides. Every section hands its
//! figures up so that `write_all` writes their PNGs.

use super::html::escape;

/// The folder of the main charts' PNGs, next to index.html.
pub const CHARTS_DIR: &str = "charts";

pub struct Figure {
    /// The PNG's file name without `.png`: lowercase words joined by `_`, unique in a run.
    pub slug: String,
    pub title: String,
    pub svg: Result<String, String>,
    /// Copied to PNG.
    pub main: bool,
}

impl Figure {
    pub fn main(
        slug: impl Into<String>,
        title: impl Into<String>,
        svg: Result<String, String>,
    ) -> Self {
        Figure {
            slug: slug.into(),
            title: title.into(),
            svg,
            main: true,
        }
    }

    /// Shown on the page only.
    pub fn page_only(
        slug: impl Into<String>,
        title: impl Into<String>,
        svg: Result<String, String>,
    ) -> Self {
        Figure {
            main: false,
            ..Figure::main(slug, title, svg)
        }
    }

    /// `charts/<slug>.png`, relative to index.html; None when no PNG is written.
    pub fn png_path(&self) -> Option<String> {
        (self.main && self.svg.is_ok()).then(|| format!("{CHARTS_DIR}/{}.png", self.slug))
    }

    /// The title in an `<h3>`, the chart (or "chart unavailable: why") and its PNG's link.
    pub fn html(&self) -> String {
        self.html_under("h3")
    }

    /// The same under a heading of the given tag (`h2` for the run's own charts).
    pub fn html_under(&self, heading: &str) -> String {
        self.html_with_png(heading, self.png_path().as_deref())
    }

    /// The same, linking the PNG at `png` (relative to the page) if any: for pages whose
    /// charts are not in `charts/` (the load report's).
    pub fn html_with_png(&self, heading: &str, png: Option<&str>) -> String {
        let body = match &self.svg {
            Ok(svg) => svg.clone(),
            Err(e) => format!("<p>chart unavailable: {}</p>", escape(e)),
        };
        let link = png
            .map(|p| format!("<p class=\"png\"><a href=\"{}\">PNG</a></p>", escape(p)))
            .unwrap_or_default();
        format!(
            "<div class=\"chart\" data-chart=\"{slug}\"><{heading}>{title}</{heading}>{body}{link}</div>",
            slug = self.slug,
            title = escape(&self.title),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_main_chart_links_its_png_and_a_missing_one_says_why() {
        let ok = Figure::main("downtime", "Downtime <per month>", Ok("<svg></svg>".into()));
        assert_eq!(ok.png_path().as_deref(), Some("charts/downtime.png"));
        let html = ok.html();
        assert!(
            html.contains("<h3>Downtime &lt;per month&gt;</h3><svg></svg>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"charts/downtime.png\">PNG</a>"),
            "{html}"
        );

        let missing = Figure::main("downtime", "Downtime", Err("no months".into()));
        assert_eq!(missing.png_path(), None);
        let html = missing.html_under("h2");
        assert!(
            html.contains("<h2>Downtime</h2><p>chart unavailable: no months</p>"),
            "{html}"
        );
        assert!(!html.contains("PNG"), "{html}");

        let page = Figure::page_only("levels", "Levels", Ok("<svg></svg>".into()));
        assert_eq!(page.png_path(), None);
        assert!(!page.html().contains("PNG"));
    }
}
