//! The architectures that the books and tutorials name, looked up by their names.

use crate::{Architecture, ParseArchitectureError};

/// The architectures the books and tutorials name: `(name, text, where it comes from)`.
pub const NAMED_ARCHITECTURES: [(&str, &str, &str); 5] = [
    (
        "saito-simple",
        "conv(30,5) relu maxpool(2) flatten dense(100) relu dense(10)",
        "Saitō, Deep Learning from Scratch, ch. 7: SimpleConvNet",
    ),
    (
        "saito-deep",
        "conv(16,3,pad=1) relu conv(16,3,pad=1) relu maxpool(2) conv(32,3,pad=1) relu conv(32,3,pad=2) relu maxpool(2) \
         conv(64,3,pad=1) relu conv(64,3,pad=1) relu maxpool(2) flatten dense(50) relu dropout(0.5) dense(10) dropout(0.5)",
        "Saitō, Deep Learning from Scratch, ch. 8: DeepConvNet",
    ),
    (
        "pytorch-example",
        "conv(32,3) relu conv(64,3) relu maxpool(2) dropout(0.25) flatten dense(128) relu dropout(0.5) dense(10)",
        "PyTorch's examples/mnist",
    ),
    (
        "cnn",
        "conv(16,3,pad=1) relu conv(32,3,pad=1) relu maxpool(2) conv(64,3,pad=1) relu maxpool(2) flatten dense(128) relu \
         dropout(0.5) dense(10)",
        "ours: three small convolutions and two pools, the best accuracy for the time on two cores",
    ),
    (
        "cnn-bn",
        "conv(16,3,pad=1) batchnorm relu conv(32,3,pad=1) batchnorm relu maxpool(2) conv(64,3,pad=1) batchnorm relu \
         maxpool(2) flatten dense(128) batchnorm relu dropout(0.5) dense(10)",
        "ours: cnn with a batch normalisation before each ReLU (Ioffe and Szegedy 2015; Saitō ch. 6.3)",
    ),
];

impl Architecture {
    /// One of the [`NAMED_ARCHITECTURES`] (for a `1x28x28` input), or `None`.
    ///
    /// ```
    /// let deep = nn_core::Architecture::named("saito-deep").unwrap();
    /// let net = deep.build(nn_core::Loss::SoftmaxCrossEntropy, nn_core::Init::HE, 0)?;
    /// assert_eq!(net.layers()[4].output_shape().to_string(), "32x16x16"); // the padding of 2
    /// # Ok::<(), nn_core::NnError>(())
    /// ```
    #[expect(clippy::missing_panics_doc, reason = "the named architectures are constants that parse (tested)")]
    pub fn named(name: &str) -> Option<Architecture> {
        let (_, text, _) = NAMED_ARCHITECTURES.iter().find(|(n, _, _)| *n == name)?;
        Some(text.parse().expect("the named architectures parse"))
    }

    /// A name of [`NAMED_ARCHITECTURES`] or an architecture's text.
    pub fn named_or_parsed(text: &str) -> Result<Architecture, ParseArchitectureError> {
        match Architecture::named(text.trim()) {
            Some(architecture) => Ok(architecture),
            None => text.parse(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Architecture, Init, Loss};

    #[test]
    fn named_architectures_build_with_the_published_shapes() {
        let count = |name: &str| {
            Architecture::named(name).unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 0).unwrap().parameter_count()
        };
        // PyTorch's counts for the same modules.
        assert_eq!(count("pytorch-example"), 1_199_882);
        assert_eq!(count("saito-simple"), 780 + 432_100 + 1010);
        assert_eq!(count("saito-deep"), 160 + 2320 + 4640 + 9248 + 18_496 + 36_928 + 51_250 + 510);
        assert!(Architecture::named("cnn").is_some() && Architecture::named("nope").is_none());
    }
}
