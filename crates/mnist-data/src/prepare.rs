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

use image::DynamicImage;

pub use crate::centring::{
    BOX, BOX_THRESHOLD, FIELD, bounding_box, centre_of_mass, crop, place_centred, scale_to_fit, stretch,
};
pub use crate::grey::{Grey, Rect};
pub use crate::ink::{
    NOISE_FLOOR, SPECK_FRACTION, border_median, is_light_background, luminance, remove_specks, to_ink,
};
pub use crate::prepare_error::{MIN_CONTRAST, PrepError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grey::test_images::{block, grey_u8};
    use image::GrayImage;

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
