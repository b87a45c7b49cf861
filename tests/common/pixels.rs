//! PNG images decoded (the `png` crate) and judged by their pixels.

use std::io::Cursor;

/// A decoded image: RGB(A) pixels, 8 bits a channel.
pub struct Image {
    pub width: u32,
    pub height: u32,
    /// Per pixel, its red, green and blue.
    pub rgb: Vec<[u8; 3]>,
}

/// Decodes PNG bytes; panics (naming `what`) unless they are a PNG.
pub fn decode(bytes: &[u8], what: &str) -> Image {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{what}: not a PNG: {e}"));
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane image size")];
    let frame = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{what}: PNG not decoded: {e}"));
    let channels = frame.color_type.samples();
    assert!(
        channels >= 3,
        "{what}: not a colour image ({:?})",
        frame.color_type
    );
    let rgb = buf[..frame.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Image {
        width: frame.width,
        height: frame.height,
        rgb,
    }
}

impl Image {
    /// Pixels that are not (near) white: anything drawn.
    pub fn inked(&self) -> usize {
        self.rgb
            .iter()
            .filter(|p| p.iter().any(|c| *c < 240))
            .count()
    }

    /// Pixels of a clear colour (channels far apart): series, not text or greys.
    pub fn coloured(&self) -> usize {
        let spread = |p: &[u8; 3]| p.iter().max().unwrap() - p.iter().min().unwrap();
        self.rgb.iter().filter(|p| spread(p) > 80).count()
    }
}
