//! Why an SVM could not be trained or used.

use nn_core::human_bytes;
use thiserror::Error;

/// Why an SVM could not be trained or used.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SvmError {
    /// No training point.
    #[error("the training set is empty")]
    Empty,
    /// Points of no value.
    #[error("the samples have no value (input size 0)")]
    ZeroInputSize,
    /// Every training point has the same label.
    #[error("every training sample is of class {class}: an SVM separates two classes at least")]
    OneClass {
        /// The one label.
        class: usize,
    },
    /// A setting out of its range.
    #[error("{name} must be a positive finite number, not {value}")]
    Setting {
        /// `"C"`, `"gamma"` or `"tolerance"`.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A value that is NaN or infinite.
    #[error("value {index} of sample {sample} is {value}: an SVM needs finite numbers")]
    NonFinite {
        /// The sample, from 0.
        sample: usize,
        /// The value within the sample, from 0.
        index: usize,
        /// The value.
        value: f32,
    },
    /// Samples of another size than the training points.
    #[error("the samples have {found} values each, but the SVM was trained on {expected}")]
    InputSize {
        /// The training points' size.
        expected: usize,
        /// The samples' size.
        found: usize,
    },
    /// Not even the smallest kernel cache fits the memory limit.
    #[error("this SVM needs at least {} ({detail}), and the limit is {}: train on fewer samples or classes", human_bytes(*needed), human_bytes(*limit))]
    Memory {
        /// Bytes needed at least.
        needed: u64,
        /// The limit.
        limit: u64,
        /// What needs them.
        detail: String,
    },
}
