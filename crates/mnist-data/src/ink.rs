//! Steps 1 to 4 of [`prepare`](crate::prepare::prepare): from an image to its ink as MNIST has
//! it, bright on black. Grey scale, the paper told from the ink by the border, the background
//! subtracted and the contrast stretched, then faint noise and small specks cleared.

use image::DynamicImage;

use crate::centring::BOX_THRESHOLD;
use crate::grey::Grey;
use crate::prepare_error::{MIN_CONTRAST, PrepError};

/// Ink weaker than this fraction of the strongest ink is noise and cleared.
pub const NOISE_FLOOR: f32 = 0.10;
/// A connected piece of ink smaller than this fraction of the largest piece is a speck.
pub const SPECK_FRACTION: f32 = 0.05;

/// Grey scale (Rec. 601 luma), 0.0..=255.0; transparent parts count as white paper.
pub fn luminance(image: &DynamicImage) -> Grey {
    let rgba = image.to_rgba32f();
    let pixels = rgba
        .pixels()
        .map(|p| {
            let [r, g, b, a] = p.0;
            let luma = 0.299 * r + 0.587 * g + 0.114 * b;
            ((a * luma + (1.0 - a)) * 255.0).clamp(0.0, 255.0)
        })
        .collect();
    Grey::sized(rgba.width() as usize, rgba.height() as usize, pixels)
}

/// The median of the pixels on the image's outer edge: the paper's (background's) brightness.
pub fn border_median(grey: &Grey) -> f32 {
    let (w, h) = (grey.width, grey.height);
    let mut border: Vec<f32> = Vec::with_capacity(2 * (w + h));
    for y in 0..h {
        for x in 0..w {
            if y == 0 || y + 1 == h || x == 0 || x + 1 == w {
                border.push(grey.at(x, y));
            }
        }
    }
    median(&mut border)
}

fn median(values: &mut [f32]) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// Light paper (and so dark ink, to be inverted) when the background is brighter than mid grey.
pub fn is_light_background(background: f32) -> bool {
    background > 127.5
}

/// Ink as MNIST has it: inverted if asked, the background level (border median) subtracted and
/// the contrast stretched so the strongest ink is 255. Fails when there is too little contrast.
pub fn to_ink(grey: &Grey, invert: bool) -> Result<Grey, PrepError> {
    let flipped: Vec<f32> = grey.pixels.iter().map(|&v| if invert { 255.0 - v } else { v }).collect();
    let flipped = Grey::sized(grey.width, grey.height, flipped);
    let background = border_median(&flipped);
    let contrast = flipped.max() - background;
    if contrast < MIN_CONTRAST {
        return Err(PrepError::NoInk { contrast: contrast.max(0.0) });
    }
    let pixels = flipped.pixels.iter().map(|&v| ((v - background) / contrast * 255.0).clamp(0.0, 255.0)).collect();
    Ok(Grey::sized(grey.width, grey.height, pixels))
}

/// Clears specks and faint noise: connected pieces of ink (8-neighbours, above
/// [`BOX_THRESHOLD`] of the strongest ink) smaller than [`SPECK_FRACTION`] of the largest piece
/// are removed, and then everything below [`NOISE_FLOOR`] of the strongest remaining ink. A
/// speck stronger than the digit would set the thresholds, so removal repeats (a few times at
/// most) while the strongest ink changes.
pub fn remove_specks(ink: &Grey) -> Grey {
    let mut out = ink.clone();
    for _ in 0..3 {
        let max = out.max();
        if max <= 0.0 {
            break;
        }
        clear_small_pieces(&mut out, max * BOX_THRESHOLD);
        if out.max() == max {
            break;
        }
    }
    let floor = out.max() * NOISE_FLOOR;
    out.pixels.iter_mut().filter(|v| **v < floor).for_each(|v| *v = 0.0);
    out
}

/// Zeroes the pieces of pixels `>= strong` that are smaller than [`SPECK_FRACTION`] of the
/// largest one.
fn clear_small_pieces(ink: &mut Grey, strong: f32) {
    let (w, h) = (ink.width, ink.height);
    let mut label = vec![0u32; w * h];
    let mut sizes: Vec<usize> = vec![0];
    let mut stack = Vec::new();
    for start in 0..w * h {
        if label[start] != 0 || ink.pixels[start] < strong {
            continue;
        }
        let id = sizes.len() as u32;
        let mut size = 0;
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % w, i / w);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if label[j] == 0 && ink.pixels[j] >= strong {
                        label[j] = id;
                        stack.push(j);
                    }
                }
            }
        }
        sizes.push(size);
    }
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let min_size = (largest as f32 * SPECK_FRACTION).ceil() as usize;
    for (value, &id) in ink.pixels.iter_mut().zip(&label) {
        if id != 0 && sizes[id as usize] < min_size {
            *value = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use image::RgbImage;

    use super::*;
    use crate::centring::bounding_box;
    use crate::grey::Rect;
    use crate::grey::test_images::block;

    #[test]
    fn luminance_weighs_colours_and_puts_transparency_on_white() {
        let rgb = RgbImage::from_raw(3, 1, vec![255, 255, 255, 0, 0, 0, 255, 0, 0]).unwrap();
        let g = luminance(&DynamicImage::ImageRgb8(rgb));
        assert!((g.pixels[0] - 255.0).abs() < 0.5 && g.pixels[1].abs() < 0.5);
        assert!((g.pixels[2] - 0.299 * 255.0).abs() < 0.5, "{}", g.pixels[2]);
        let transparent = image::RgbaImage::from_raw(1, 1, vec![0, 0, 0, 0]).unwrap();
        assert_eq!(luminance(&DynamicImage::ImageRgba8(transparent)).pixels, vec![255.0]);
    }

    #[test]
    fn inversion_is_decided_by_the_border() {
        let rect = Rect { x: 2, y: 2, width: 6, height: 6 };
        // Dark ink on white paper, even when the ink covers most of the image.
        let paper = block(10, 10, 240.0, 10.0, rect);
        assert!(is_light_background(border_median(&paper)));
        // Bright ink on black, like MNIST.
        let mnist = block(10, 10, 0.0, 255.0, rect);
        assert!(!is_light_background(border_median(&mnist)));
        // A few dark pixels on the border do not flip the decision.
        let mut smudged = paper.clone();
        smudged.pixels[..4].fill(0.0);
        assert!(is_light_background(border_median(&smudged)));
        let ink = to_ink(&paper, true).unwrap();
        assert_eq!(ink.pixels[0], 0.0);
        assert_eq!(ink.pixels[5 * 10 + 5], 255.0);
    }

    #[test]
    fn grey_paper_is_subtracted_and_contrast_stretched() {
        let g = block(10, 10, 180.0, 80.0, Rect { x: 3, y: 3, width: 2, height: 2 });
        let ink = to_ink(&g, true).unwrap();
        assert_eq!(ink.pixels.iter().copied().fold(0.0, f32::max), 255.0);
        assert_eq!(ink.pixels[0], 0.0);
    }

    #[test]
    fn bounding_box_ignores_faint_noise_and_specks() {
        let rect = Rect { x: 10, y: 5, width: 8, height: 20 };
        let mut ink = block(40, 40, 0.0, 255.0, rect);
        // Faint noise everywhere (below the noise floor, or above it but below the box
        // threshold), and an isolated speck far away.
        for (i, p) in ink.pixels.iter_mut().enumerate() {
            if *p == 0.0 && i % 3 == 0 {
                *p = if i % 2 == 0 { 20.0 } else { 50.0 };
            }
        }
        ink.pixels[38 * 40 + 38] = 255.0;
        assert_eq!(bounding_box(&ink), Some(Rect { x: 10, y: 5, width: 29, height: 34 }), "speck counted before");
        let clean = remove_specks(&ink);
        assert_eq!(bounding_box(&clean), Some(rect));
        assert_eq!(clean.pixels[38 * 40 + 38], 0.0, "the speck is cleared");
        assert_eq!(clean.pixels[0], 0.0, "faint noise is cleared");
        assert_eq!(clean.pixels[3], 50.0, "weak ink that is not noise stays");
        assert_eq!(bounding_box(&Grey::sized(3, 3, vec![0.0; 9])), None);
    }

    #[test]
    fn a_second_large_piece_is_not_a_speck() {
        // A digit in two strokes (like a 5 whose bar is apart) keeps both.
        let mut ink = block(30, 30, 0.0, 255.0, Rect { x: 5, y: 10, width: 4, height: 15 });
        for x in 5..20 {
            ink.pixels[3 * 30 + x] = 255.0;
        }
        let clean = remove_specks(&ink);
        assert_eq!(bounding_box(&clean), Some(Rect { x: 5, y: 3, width: 15, height: 22 }));
    }

    #[test]
    fn a_speck_stronger_than_the_digit_does_not_set_the_thresholds() {
        // A faint digit (100) and a black speck (255): the digit is not taken for noise.
        let mut ink = block(30, 30, 0.0, 100.0, Rect { x: 8, y: 4, width: 6, height: 20 });
        ink.pixels[28 * 30 + 28] = 255.0;
        let clean = remove_specks(&ink);
        assert_eq!(clean.pixels[28 * 30 + 28], 0.0);
        assert_eq!(bounding_box(&clean), Some(Rect { x: 8, y: 4, width: 6, height: 20 }));
    }
}
