//! Drawing grey images as text and as image grids.

/// Shades from background to full ink; each pixel is drawn two characters wide so a digit keeps
/// its proportions in a terminal.
const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

/// A grey image (0 = background, 255 = ink) as lines of shade characters.
pub fn shade_text(pixels: &[u8], cols: usize) -> String {
    let mut out = String::with_capacity(pixels.len() * 2 * 3 + pixels.len() / cols.max(1));
    for row in pixels.chunks(cols.max(1)) {
        for &p in row {
            let shade = SHADES[(usize::from(p) * SHADES.len()) / 256];
            out.push(shade);
            out.push(shade);
        }
        out.push('\n');
    }
    out
}

/// Lays images of `rows x cols` out in a grid of `columns`, each scaled by `scale`, separated
/// by `gap` pixels of a mid grey. Returns (width, height, pixels).
pub fn grid(
    images: &[&[u8]],
    rows: usize,
    cols: usize,
    columns: usize,
    scale: usize,
    gap: usize,
) -> (u32, u32, Vec<u8>) {
    let columns = columns.clamp(1, images.len().max(1));
    let grid_rows = images.len().div_ceil(columns).max(1);
    let cell_w = cols * scale + gap;
    let cell_h = rows * scale + gap;
    let width = columns * cell_w + gap;
    let height = grid_rows * cell_h + gap;
    let mut out = vec![96u8; width * height];
    for (n, image) in images.iter().enumerate() {
        let (x0, y0) = (gap + (n % columns) * cell_w, gap + (n / columns) * cell_h);
        for y in 0..rows * scale {
            for x in 0..cols * scale {
                out[(y0 + y) * width + x0 + x] = image[(y / scale) * cols + x / scale];
            }
        }
    }
    (width as u32, height as u32, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shades_span_background_to_ink() {
        assert_eq!(shade_text(&[0, 255, 128, 60], 2), "  ██\n▒▒░░\n");
    }

    #[test]
    fn grid_places_scaled_images() {
        let a = [255u8; 4];
        let b = [0u8; 4];
        let (w, h, pixels) = grid(&[&a, &b, &a], 2, 2, 2, 2, 1);
        assert_eq!((w, h), (11, 11));
        assert_eq!(pixels[w as usize + 1], 255);
        assert_eq!(pixels[w as usize + 6], 0);
        assert_eq!(pixels[0], 96);
    }
}
