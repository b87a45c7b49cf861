//! The charts' SVG rasterised to PNG (resvg), at twice their size: crisp on a slide.
//! Text is set in the system's fonts; with none installed the PNG still renders, without
//! its text. The same SVG and fonts give the same bytes.

use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg::{fontdb, Options, Tree};
use std::sync::{Arc, OnceLock};

/// Pixels per SVG unit.
pub const SCALE: u32 = 2;

/// Sans-serif families, the first installed one sets the charts' text (plotters asks for
/// "sans-serif", which fontdb would otherwise take to mean Arial).
const SANS: [&str; 5] = [
    "DejaVu Sans",
    "Liberation Sans",
    "Arial",
    "Noto Sans",
    "Helvetica",
];

/// `svg` as a PNG at [`SCALE`] × its size.
pub fn png(svg: &str) -> Result<Vec<u8>, String> {
    let options = Options {
        fontdb: fonts(),
        ..Options::default()
    };
    let tree = Tree::from_str(svg, &options).map_err(|e| format!("SVG not read: {e}"))?;
    let size = tree.size().to_int_size();
    let (w, h) = (size.width() * SCALE, size.height() * SCALE);
    let mut pixmap = Pixmap::new(w, h).ok_or_else(|| format!("no {w} × {h} canvas"))?;
    let scale = SCALE as f32;
    resvg::render(
        &tree,
        Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| format!("PNG not encoded: {e}"))
}

/// The system's fonts, loaded once per process.
fn fonts() -> Arc<fontdb::Database> {
    static FONTS: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    FONTS.get_or_init(|| Arc::new(system_fonts())).clone()
}

/// The system's fonts in the order of their paths, not of the directories' listing: a
/// character missing from the chosen family falls back to the first face that has it.
fn system_fonts() -> fontdb::Database {
    let mut found = fontdb::Database::new();
    found.load_system_fonts();
    let mut paths: Vec<_> = found
        .faces()
        .filter_map(|f| match &f.source {
            fontdb::Source::File(p) | fontdb::Source::SharedFile(p, _) => Some(p.clone()),
            fontdb::Source::Binary(_) => None,
        })
        .collect();
    paths.sort();
    paths.dedup();
    let mut db = fontdb::Database::new();
    for path in paths {
        // A file that fails now was read a moment ago: it only loses its faces.
        let _ = db.load_font_file(path);
    }
    let family = sans_family(&db);
    if let Some(family) = family {
        db.set_sans_serif_family(family.clone());
        // usvg falls back to serif when a family is missing.
        db.set_serif_family(family);
    }
    db
}

/// The first of [`SANS`] installed, else the first family by name (None: no fonts).
fn sans_family(db: &fontdb::Database) -> Option<String> {
    let mut families: Vec<&str> = db
        .faces()
        .flat_map(|f| f.families.iter().map(|(name, _)| name.as_str()))
        .collect();
    families.sort_unstable();
    SANS.iter()
        .find(|s| families.binary_search(s).is_ok())
        .map(|s| s.to_string())
        .or_else(|| families.first().map(|s| s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"30\" height=\"20\">\
        <rect width=\"30\" height=\"20\" fill=\"#ffffff\"/>\
        <rect x=\"10\" y=\"5\" width=\"10\" height=\"10\" fill=\"#0072b2\"/></svg>";

    /// PNG's signature, then IHDR's width and height (big-endian u32s at bytes 16 and 20).
    fn size_of(png: &[u8]) -> (u32, u32) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        (be(16), be(20))
    }

    #[test]
    fn a_chart_is_rasterised_at_twice_its_size() {
        let bytes = png(SQUARE).unwrap();
        assert_eq!(size_of(&bytes), (60, 40));
        assert_eq!(bytes, png(SQUARE).unwrap(), "same SVG, same bytes");
    }

    #[test]
    fn what_is_not_svg_is_an_error_not_a_blank_image() {
        let e = png("<html>no chart</html>").unwrap_err();
        assert!(e.starts_with("SVG not read"), "{e}");
    }
}
