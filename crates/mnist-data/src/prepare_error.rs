//! Why an image could not be prepared ([`PrepError`]), and the contrast below which an image
//! has no ink.

/// An image whose ink differs from its background by fewer grey levels has no ink.
pub const MIN_CONTRAST: f32 = 24.0;

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
