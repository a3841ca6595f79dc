//! Turning a real image into an MNIST-like input, the way MNIST itself was prepared.
//!
//! MNIST digits are bright ink on a black background, size-normalised so the longer side of
//! the ink fits 20 pixels (aspect ratio kept, anti-aliased), then placed in a 28x28 field so the
//! intensity-weighted centre of mass lands on the middle. A photo or scan of a digit is
//! usually dark ink on light paper, of any size, with some noise; [`prepare`] runs these steps
//! in order, each a small pure function:
//!
//! 1. [`luminance`]: grey scale (transparency is composited over white paper);
//! 2. [`is_light_background`] on the [`border_median`]: dark ink on light paper is inverted;
//! 3. [`to_ink`]: the background level is subtracted and the contrast stretched to 0..=255;
//! 4. [`remove_specks`]: faint noise and small isolated specks are cleared;
//! 5. [`bounding_box`] and [`crop`]: the ink's bounding box;
//! 6. [`scale_to_fit`]: the longer side becomes 20 pixels (Lanczos, aspect ratio kept), and
//!    [`stretch`] makes the strongest ink 255;
//! 7. [`place_centred`]: into 28x28 with the centre of mass at (14, 14).
//!
//! [`crate::image_file`] reads the image first, bounded in size and memory. Both need the
//! feature `images`.

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, Luma};

/// The side of the network's input field.
pub const FIELD: usize = 28;
/// The side of the box the ink is scaled to fit.
pub const BOX: usize = 20;
/// Ink weaker than this fraction of the strongest ink does not count for the bounding box.
pub const BOX_THRESHOLD: f32 = 0.25;
/// Ink weaker than this fraction of the strongest ink is noise and cleared.
pub const NOISE_FLOOR: f32 = 0.10;
/// A connected piece of ink smaller than this fraction of the largest piece is a speck.
pub const SPECK_FRACTION: f32 = 0.05;
/// An image whose ink differs from its background by fewer grey levels has no ink.
pub const MIN_CONTRAST: f32 = 24.0;

/// A grey image with one float per pixel, row-major, in 0.0..=255.0.
#[derive(Debug, Clone, PartialEq)]
pub struct Grey {
    width: usize,
    height: usize,
    pixels: Vec<f32>,
}

impl Grey {
    /// A `width` x `height` image of `pixels` (row-major); `None` unless there are exactly
    /// `width * height` of them.
    pub fn new(width: usize, height: usize, pixels: Vec<f32>) -> Option<Self> {
        (width.checked_mul(height) == Some(pixels.len())).then_some(Grey { width, height, pixels })
    }

    /// Within this module every image is made from its own size.
    fn sized(width: usize, height: usize, pixels: Vec<f32>) -> Self {
        debug_assert_eq!(pixels.len(), width * height, "pixel count matches the size");
        Grey { width, height, pixels }
    }

    /// Pixels per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, row-major.
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        self.pixels[y * self.width + x]
    }

    fn max(&self) -> f32 {
        self.pixels.iter().copied().fold(0.0, f32::max)
    }
}

/// A rectangle of pixels: `x..x + width`, `y..y + height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// First column.
    pub x: usize,
    /// First row.
    pub y: usize,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// Why an image could not be prepared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PrepError {
    /// The image is empty (zero pixels).
    #[error("the image has no pixels")]
    Empty,
    /// Nothing stands out from the background: a blank or uniform image.
    #[error(
        "no digit found: the image is blank or uniform (ink differs from the background by {contrast:.0} grey \
         levels, at least {MIN_CONTRAST:.0} needed)"
    )]
    NoInk {
        /// Grey levels between the strongest ink and the background.
        contrast: f32,
    },
}

/// A prepared input and what was done to get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// 28x28 grey pixels, row-major, 0 = background, 255 = ink.
    pub pixels: Vec<u8>,
    /// Whether the image was dark ink on light paper and so inverted.
    pub inverted: bool,
}

impl Prepared {
    /// The network input: each pixel / 255.
    pub fn input(&self) -> Vec<f32> {
        self.pixels.iter().map(|&p| f32::from(p) / 255.0).collect()
    }
}

/// Images with a longer side above this are first shrunk to it (area averaging), which keeps a
/// phone photo fast and small in memory; a digit still spans far more than 20 pixels.
pub const MAX_WORKING_SIDE: u32 = 1024;

/// All steps: any image to a 28x28 MNIST-like input.
pub fn prepare(image: &DynamicImage) -> Result<Prepared, PrepError> {
    let grey = if image.width().max(image.height()) > MAX_WORKING_SIDE {
        luminance(&image.thumbnail(MAX_WORKING_SIDE, MAX_WORKING_SIDE))
    } else {
        luminance(image)
    };
    if grey.pixels.is_empty() {
        return Err(PrepError::Empty);
    }
    let inverted = is_light_background(border_median(&grey));
    let ink = remove_specks(&to_ink(&grey, inverted)?);
    let rect = bounding_box(&ink).ok_or(PrepError::NoInk { contrast: 0.0 })?;
    let scaled = stretch(&scale_to_fit(&crop(&ink, rect), BOX));
    let pixels = place_centred(&scaled, FIELD).ok_or(PrepError::NoInk { contrast: 0.0 })?;
    Ok(Prepared { pixels, inverted })
}

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
    use image::{GrayImage, RgbImage};

    /// A `w`x`h` image of `background` with a filled rectangle of `ink`.
    fn block(w: usize, h: usize, background: f32, ink: f32, rect: Rect) -> Grey {
        let mut g = Grey::sized(w, h, vec![background; w * h]);
        for y in rect.y..rect.y + rect.height {
            for x in rect.x..rect.x + rect.width {
                g.pixels[y * w + x] = ink;
            }
        }
        g
    }

    fn grey_u8(pixels: &[u8], cols: usize) -> Grey {
        Grey::sized(cols, pixels.len() / cols, pixels.iter().map(|&p| f32::from(p)).collect())
    }

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
    fn a_uniform_or_faint_image_has_no_ink() {
        let blank = Grey::sized(8, 8, vec![200.0; 64]);
        assert!(matches!(to_ink(&blank, true), Err(PrepError::NoInk { .. })));
        let faint = block(8, 8, 200.0, 190.0, Rect { x: 2, y: 2, width: 3, height: 3 });
        assert!(matches!(to_ink(&faint, true), Err(PrepError::NoInk { .. })));
        let white = DynamicImage::ImageLuma8(GrayImage::from_pixel(40, 30, image::Luma([255])));
        assert!(matches!(prepare(&white), Err(PrepError::NoInk { .. })));
        let black = DynamicImage::ImageLuma8(GrayImage::from_pixel(40, 30, image::Luma([0])));
        assert!(matches!(prepare(&black), Err(PrepError::NoInk { .. })));
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

    #[test]
    fn a_photo_of_a_shape_becomes_an_mnist_like_input() {
        // Dark ink on off-white paper, an L shape 90 wide and 150 high at an odd place, with specks.
        let (w, h) = (320usize, 240usize);
        let mut paper = vec![230u8; w * h];
        for y in 40..190 {
            for x in 200..290 {
                if x < 220 || y >= 170 {
                    paper[y * w + x] = 30;
                }
            }
        }
        paper[5 * w + 5] = 0;
        paper[220 * w + 30] = 0;
        let rgb = DynamicImage::ImageLuma8(GrayImage::from_raw(w as u32, h as u32, paper).unwrap()).to_rgb8();
        let prepared = prepare(&DynamicImage::ImageRgb8(rgb)).unwrap();
        assert!(prepared.inverted);
        assert_eq!(prepared.pixels.len(), 784);
        assert_eq!(prepared.pixels.iter().copied().max(), Some(255));
        let grey = grey_u8(&prepared.pixels, FIELD);
        let rect = bounding_box(&grey).unwrap();
        assert!((19..=21).contains(&rect.height), "{rect:?}");
        assert!((11..=13).contains(&rect.width), "{rect:?}");
        let (cx, cy) = centre_of_mass(&grey).unwrap();
        assert!((cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5, "({cx}, {cy})");
        let input = prepared.input();
        assert!(input.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn a_large_photo_is_shrunk_first_and_still_prepared() {
        // 2400x1600 white with a dark bar 200x1000: a "1".
        let mut photo = GrayImage::from_pixel(2400, 1600, image::Luma([250]));
        for y in 300..1300 {
            for x in 1000..1200 {
                photo.put_pixel(x, y, image::Luma([20]));
            }
        }
        let prepared = prepare(&DynamicImage::ImageLuma8(photo)).unwrap();
        let rect = bounding_box(&grey_u8(&prepared.pixels, FIELD)).unwrap();
        assert_eq!((rect.width, rect.height), (4, 20));
    }

    #[test]
    fn an_mnist_digit_comes_through_almost_unchanged() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mnist-100");
        if !dir.is_dir() {
            // A published copy of this crate: the workspace's fixtures are not shipped with it.
            eprintln!("skipped: {} is absent (it is part of the workspace, not of the crate)", dir.display());
            return;
        }
        let test = crate::Mnist::load(dir).unwrap().test;
        let mut correlations = Vec::new();
        for image in test.iter().take(30) {
            let original = image.pixels;
            let gray = GrayImage::from_raw(28, 28, original.to_vec()).unwrap();
            let prepared = prepare(&DynamicImage::ImageLuma8(gray)).unwrap();
            assert!(!prepared.inverted);
            correlations.push(correlation(original, &prepared.pixels));
        }
        let mean = correlations.iter().sum::<f64>() / correlations.len() as f64;
        assert!(mean > 0.9, "{correlations:?}");
    }

    fn correlation(a: &[u8], b: &[u8]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) =
            (a.iter().map(|&v| f64::from(v)).sum::<f64>() / n, b.iter().map(|&v| f64::from(v)).sum::<f64>() / n);
        let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
            cov += dx * dy;
            va += dx * dx;
            vb += dy * dy;
        }
        cov / (va * vb).sqrt()
    }
}
