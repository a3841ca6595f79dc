//! How an SVM is trained: scikit-learn's `SVC()` by default.

/// The RBF kernel's `γ`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gamma {
    /// scikit-learn's `'scale'`: `1 / (features · Var(X))`, the variance of every value of the
    /// training points (its default since version 0.22, 2019).
    Scale,
    /// scikit-learn's `'auto'`: `1 / features`, its default before 0.22, when Nielsen measured
    /// his 94.35%.
    Auto,
    /// This value.
    Value(f64),
}

/// How an SVM is trained: scikit-learn's `SVC()` by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvmConfig {
    /// The bound of the multipliers (the soft margin's cost): 1.
    pub c: f64,
    /// The kernel's `γ`: [`Gamma::Scale`].
    pub gamma: Gamma,
    /// SMO stops when the largest violation of optimality, `m(α) − M(α)`, is below it: 1e-3.
    pub tolerance: f64,
    /// Bytes of kernel rows cached by the problems solved at once, together: 1 GiB. It changes
    /// the time, never the result.
    pub cache_bytes: u64,
    /// The memory the whole may take (for example what the machine has available): training is
    /// refused when even the smallest cache would not fit, and the cache takes no more than
    /// what is left. `None`: no limit but the cache's budget.
    pub memory_limit: Option<u64>,
}

impl Default for SvmConfig {
    fn default() -> Self {
        SvmConfig { c: 1.0, gamma: Gamma::Scale, tolerance: 1e-3, cache_bytes: 1 << 30, memory_limit: None }
    }
}
