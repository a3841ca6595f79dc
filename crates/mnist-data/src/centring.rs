//! Steps 5 to 7 of [`prepare`](crate::prepare::prepare): the ink's bounding box cropped, scaled
//! so that its longer side fits the box and stretched to full strength, then placed in the field
//! with its centre of mass in the middle.

use image::imageops::{self, FilterType};
use image::{ImageBuffer, Luma};

use crate::grey::{Grey, Rect};

/// The side of the network's input field.
pub const FIELD: usize = 28;
/// The side of the box the ink is scaled to fit.
pub const BOX: usize = 20;
/// Ink weaker than this fraction of the strongest ink does not count for the bounding box.
pub const BOX_THRESHOLD: f32 = 0.25;

/// The smallest rectangle holding every pixel of at least [`BOX_THRESHOLD`] of the strongest
/// ink; `None` when there is no ink.
pub fn bounding_box(ink: &Grey) -> Option<Rect> {
    let max = ink.max();
    if max <= 0.0 {
        return None;
    }
    let threshold = max * BOX_THRESHOLD;
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..ink.height {
        for x in 0..ink.width {
            if ink.at(x, y) >= threshold {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    Some(Rect { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 })
}

/// The part of `grey` inside `rect` (what of `rect` lies outside the image is left out).
pub fn crop(grey: &Grey, rect: Rect) -> Grey {
    let x = rect.x.min(grey.width);
    let y = rect.y.min(grey.height);
    let width = rect.width.min(grey.width - x);
    let height = rect.height.min(grey.height - y);
    let rect = Rect { x, y, width, height };
    let mut pixels = Vec::with_capacity(rect.width * rect.height);
    for y in rect.y..rect.y + rect.height {
        let row = y * grey.width;
        pixels.extend_from_slice(&grey.pixels[row + rect.x..row + rect.x + rect.width]);
    }
    Grey::sized(rect.width, rect.height, pixels)
}

/// Resizes so the longer side is `side` pixels, keeping the aspect ratio (Lanczos3, whose
/// kernel widens when shrinking, so a large image is averaged rather than sampled).
pub fn scale_to_fit(grey: &Grey, side: usize) -> Grey {
    let long = grey.width.max(grey.height).max(1);
    let fit = |n: usize| ((n * side) as f32 / long as f32).round().clamp(1.0, side as f32) as usize;
    let (w, h) = (fit(grey.width), fit(grey.height));
    let (Ok(width), Ok(height)) = (u32::try_from(grey.width), u32::try_from(grey.height)) else {
        return grey.clone();
    };
    let Some(buffer) =
        ImageBuffer::<Luma<f32>, Vec<f32>>::from_raw(width, height, grey.pixels.iter().map(|v| v / 255.0).collect())
            .filter(|_| !grey.pixels.is_empty())
    else {
        // Nothing to scale: an empty image stays empty.
        return grey.clone();
    };
    // `resize` works on floats in 0..=1 (it clamps to that range).
    let resized = imageops::resize(&buffer, w as u32, h as u32, FilterType::Lanczos3);
    Grey::sized(w, h, resized.into_raw().into_iter().map(|v| (v * 255.0).clamp(0.0, 255.0)).collect())
}

/// Scales the values so the strongest ink is 255, as in MNIST.
pub fn stretch(grey: &Grey) -> Grey {
    let max = grey.max();
    let factor = if max > 0.0 { 255.0 / max } else { 0.0 };
    Grey::sized(grey.width, grey.height, grey.pixels.iter().map(|v| (v * factor).clamp(0.0, 255.0)).collect())
}

/// The intensity-weighted centre of mass `(x, y)`, in pixel indices; `None` without ink.
pub fn centre_of_mass(grey: &Grey) -> Option<(f32, f32)> {
    let (mut total, mut sx, mut sy) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..grey.height {
        for x in 0..grey.width {
            let v = f64::from(grey.at(x, y));
            total += v;
            sx += v * x as f64;
            sy += v * y as f64;
        }
    }
    (total > 0.0).then(|| ((sx / total) as f32, (sy / total) as f32))
}

/// Places `grey` in a `side`x`side` field, shifted by whole pixels so its centre of mass lands
/// within half a pixel of (`side / 2`, `side / 2`); what falls outside is clipped. Pixels are
/// rounded to 0..=255. `None` without ink.
pub fn place_centred(grey: &Grey, side: usize) -> Option<Vec<u8>> {
    let (cx, cy) = centre_of_mass(grey)?;
    let centre = (side / 2) as f32;
    let (dx, dy) = ((centre - cx).round() as isize, (centre - cy).round() as isize);
    let mut out = vec![0u8; side * side];
    for y in 0..grey.height {
        for x in 0..grey.width {
            let (tx, ty) = (x as isize + dx, y as isize + dy);
            if (0..side as isize).contains(&tx) && (0..side as isize).contains(&ty) {
                out[ty as usize * side + tx as usize] = grey.at(x, y).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Some(out)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::grey::test_images::{block, grey_u8};

    #[test]
    fn crop_takes_the_rectangle() {
        let g = Grey::sized(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(crop(&g, Rect { x: 1, y: 0, width: 2, height: 2 }).pixels, vec![2.0, 3.0, 5.0, 6.0]);
    }

    #[test]
    fn scaling_keeps_the_aspect_ratio_and_range() {
        let tall = block(60, 150, 255.0, 255.0, Rect { x: 0, y: 0, width: 1, height: 1 });
        let s = scale_to_fit(&tall, BOX);
        assert_eq!((s.width, s.height), (8, 20));
        let wide = Grey::sized(300, 100, (0..30_000).map(|i| if i % 7 == 0 { 255.0 } else { 0.0 }).collect());
        let s = scale_to_fit(&wide, BOX);
        assert_eq!((s.width, s.height), (20, 7));
        assert!(s.pixels.iter().all(|v| (0.0..=255.0).contains(v)));
        // A thin stroke still gets one pixel; a small image is enlarged.
        assert_eq!(scale_to_fit(&Grey::sized(1, 100, vec![255.0; 100]), BOX).width, 1);
        let small = scale_to_fit(&Grey::sized(5, 10, vec![255.0; 50]), BOX);
        assert_eq!((small.width, small.height), (10, 20));
    }

    #[test]
    fn centring_puts_the_centre_of_mass_in_the_middle() {
        // A lopsided shape: a bar with a heavy blob at one end.
        let mut g = block(12, 20, 0.0, 100.0, Rect { x: 2, y: 0, width: 2, height: 20 });
        for y in 14..20 {
            for x in 0..12 {
                g.pixels[y * 12 + x] = 255.0;
            }
        }
        let out = place_centred(&g, FIELD).unwrap();
        assert_eq!(out.len(), FIELD * FIELD);
        let (cx, cy) = centre_of_mass(&grey_u8(&out, FIELD)).unwrap();
        assert!((cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5, "({cx}, {cy})");
        assert_eq!(place_centred(&Grey::sized(2, 2, vec![0.0; 4]), FIELD), None);
    }
}
