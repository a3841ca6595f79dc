//! A tiny bitmap font (3x5 cells) for captions and labels in the PNG images the tool writes:
//! digits, an arrow, `%`, a space, the capitals (lower case is drawn as capitals) and a little
//! punctuation. No font file,
//! no anti-aliasing, the same pixels on every machine.

/// Height of every glyph, in font pixels.
pub const GLYPH_HEIGHT: usize = 5;

/// Font pixels between two glyphs.
const SPACING: usize = 1;

/// The rows of a glyph, `#` for ink; `None` for a character the font lacks.
fn glyph(c: char) -> Option<&'static [&'static str; GLYPH_HEIGHT]> {
    Some(match c {
        '0' => &["###", "#.#", "#.#", "#.#", "###"],
        '1' => &[".#.", "##.", ".#.", ".#.", "###"],
        '2' => &["###", "..#", "###", "#..", "###"],
        '3' => &["###", "..#", "###", "..#", "###"],
        '4' => &["#.#", "#.#", "###", "..#", "..#"],
        '5' => &["###", "#..", "###", "..#", "###"],
        '6' => &["###", "#..", "###", "#.#", "###"],
        '7' => &["###", "..#", "..#", "..#", "..#"],
        '8' => &["###", "#.#", "###", "#.#", "###"],
        '9' => &["###", "#.#", "###", "..#", "###"],
        '%' => &["#.#", "..#", ".#.", "#..", "#.#"],
        '→' => &["..#..", "...#.", "#####", "...#.", "..#.."],
        ' ' => &["..", "..", "..", "..", ".."],
        'A' => &[".#.", "#.#", "###", "#.#", "#.#"],
        'B' => &["##.", "#.#", "##.", "#.#", "##."],
        'C' => &["###", "#..", "#..", "#..", "###"],
        'D' => &["##.", "#.#", "#.#", "#.#", "##."],
        'E' => &["###", "#..", "##.", "#..", "###"],
        'F' => &["###", "#..", "##.", "#..", "#.."],
        'G' => &["###", "#..", "#.#", "#.#", "###"],
        'H' => &["#.#", "#.#", "###", "#.#", "#.#"],
        'I' => &["###", ".#.", ".#.", ".#.", "###"],
        'J' => &["..#", "..#", "..#", "#.#", "###"],
        'K' => &["#.#", "#.#", "##.", "#.#", "#.#"],
        'L' => &["#..", "#..", "#..", "#..", "###"],
        'M' => &["#...#", "##.##", "#.#.#", "#...#", "#...#"],
        'N' => &["#..#", "##.#", "#.##", "#..#", "#..#"],
        'O' => &["###", "#.#", "#.#", "#.#", "###"],
        'P' => &["##.", "#.#", "##.", "#..", "#.."],
        'Q' => &["###", "#.#", "#.#", "###", "..#"],
        'R' => &["##.", "#.#", "##.", "#.#", "#.#"],
        'S' => &["###", "#..", "###", "..#", "###"],
        'T' => &["###", ".#.", ".#.", ".#.", ".#."],
        'U' => &["#.#", "#.#", "#.#", "#.#", "###"],
        'V' => &["#.#", "#.#", "#.#", "#.#", ".#."],
        'W' => &["#...#", "#...#", "#.#.#", "##.##", "#...#"],
        'X' => &["#.#", "#.#", ".#.", "#.#", "#.#"],
        'Y' => &["#.#", "#.#", ".#.", ".#.", ".#."],
        'Z' => &["###", "..#", ".#.", "#..", "###"],
        '-' => &["...", "...", "###", "...", "..."],
        '.' => &[".", ".", ".", ".", "#"],
        ',' => &[".", ".", ".", "#", "#"],
        '=' => &["...", "###", "...", "###", "..."],
        ':' => &[".", "#", ".", "#", "."],
        '(' => &[".#", "#.", "#.", "#.", ".#"],
        ')' => &["#.", ".#", ".#", ".#", "#."],
        '/' => &["..#", "..#", ".#.", "#..", "#.."],
        _ => return None,
    })
}

/// The glyph drawn for `c`: its own, or a blank box for a character the font lacks.
fn glyph_or_blank(c: char) -> &'static [&'static str; GLYPH_HEIGHT] {
    glyph(c.to_ascii_uppercase()).unwrap_or(&["...", "...", "...", "...", "..."])
}

/// Width and height in image pixels of `text` drawn at `scale`.
pub fn text_size(text: &str, scale: usize) -> (usize, usize) {
    let glyphs: usize = text.chars().map(|c| glyph_or_blank(c)[0].len()).sum();
    let gaps = text.chars().count().saturating_sub(1) * SPACING;
    ((glyphs + gaps) * scale, GLYPH_HEIGHT * scale)
}

/// Draws `text` with its top left corner at (`x`, `y`) into `canvas`, an image `width` pixels
/// wide of any pixel type (grey `u8`, RGB `[u8; 3]`). Ink falling outside is clipped.
pub fn draw<P: Copy>(canvas: &mut [P], width: usize, x: usize, y: usize, text: &str, scale: usize, ink: P) {
    let height = canvas.len().checked_div(width).unwrap_or(0);
    let mut left = x;
    for c in text.chars() {
        let rows = glyph_or_blank(c);
        for (gy, row) in rows.iter().enumerate() {
            for (gx, bit) in row.bytes().enumerate() {
                if bit != b'#' {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (left + gx * scale + dx, y + gy * scale + dy);
                        if px < width && py < height {
                            canvas[py * width + px] = ink;
                        }
                    }
                }
            }
        }
        left += (rows[0].len() + SPACING) * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_glyph_is_a_rectangle() {
        for c in "0123456789%→ ABCDEFGHIJKLMNOPQRSTUVWXYZ-.,=:()/".chars() {
            let rows = glyph(c).unwrap();
            assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{c}");
        }
    }

    #[test]
    fn sizes_count_glyphs_and_spacing() {
        assert_eq!(text_size("7", 1), (3, 5));
        assert_eq!(text_size("7→2", 2), ((3 + 5 + 3 + 2) * 2, 10));
        assert_eq!(text_size("", 3), (0, 15));
    }

    #[test]
    fn draws_ink_where_the_glyph_has_it_and_clips() {
        let mut canvas = vec![0u8; 4 * 5];
        draw(&mut canvas, 4, 0, 0, "1", 1, 255);
        let expected = [0, 255, 0, 0, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 255, 255, 255, 0];
        assert_eq!(canvas, expected);
        // Off the canvas: nothing drawn, no panic.
        draw(&mut canvas, 4, 3, 3, "88", 2, 7);
        assert_eq!(canvas.iter().filter(|&&p| p == 7).count(), 2);
    }
}
