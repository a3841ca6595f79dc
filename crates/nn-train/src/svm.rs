//! The support vector machine Nielsen compares his networks with in chapter 1: scikit-learn's
//! `SVC()` with its defaults, an RBF kernel `K(x, y) = exp(-γ ‖x − y‖²)` with `C = 1` and
//! `γ = 'scale'`, one binary SVM for each pair of classes, solved by libsvm's SMO.
//!
//! ```
//! use nn_train::FloatSamples;
//! use nn_train::svm::{Svm, SvmConfig};
//!
//! // Three clusters on a line.
//! let inputs: Vec<f32> = (0..30).map(|i| (i / 10) as f32 + 0.01 * (i % 10) as f32).collect();
//! let labels: Vec<usize> = (0..30).map(|i| i / 10).collect();
//! let set = FloatSamples::new(inputs, labels, 1)?;
//! let svm = Svm::fit(&set, &SvmConfig::default())?;
//! assert_eq!(svm.problems(), 3);
//! assert_eq!(svm.evaluate(&set)?.correct, 30);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - Kernel values come from matrix products of blocks of points (`kernel.rs`) and are cached
//!   as `f32`, as libsvm caches them, within a budget (`kernel_cache.rs`, `memory.rs`).
//! - Each binary problem is solved by SMO with libsvm's second-order working-set selection and
//!   tolerance (`smo.rs`); the problems run in parallel on rayon's pool.
//! - Prediction: the decision value of each pair, `f(x) = Σ_t y_t α_t K(x_t, x) − ρ`, then a vote
//!   (`one_vs_one.rs`).
//!
//! # Determinism
//!
//! A kernel value is the same bits whichever block computed it, each problem's solver runs on
//! one thread, and each test point's sums run in a fixed order: the same data give the same
//! support vectors, decision values and predictions on any number of threads, with any cache.

use std::cmp::Reverse;
use std::ops::Range;

use rayon::prelude::*;

use crate::Samples;
use crate::baseline::BaselineAccuracy;

mod config;
mod error;
mod kernel;
mod kernel_cache;
mod memory;
mod one_vs_one;
mod smo;
mod training_set;

pub use config::{Gamma, SvmConfig};
pub use error::SvmError;
use kernel::{Columns, Points, rbf_block, scale_gamma, squared_norms};
use kernel_cache::KernelCache;
pub use memory::SvmMemory;
use memory::{BLOCK_ROWS, PREDICTION_BLOCK, SvmSizes, cache_rows, plan};
use smo::{SmoSettings, solve};
use training_set::{PairRows, TrainingSet, class_counts};

/// Nielsen's accuracy for scikit-learn's `SVC()` with its defaults on MNIST (ch. 1): 9,435 of
/// 10,000 test images, trained on his 50,000 images with the γ of its day, [`Gamma::Auto`].
pub const SVM_PUBLISHED: f32 = 0.9435;

/// What the training did, for reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvmFitReport {
    /// SMO iterations, over every binary problem.
    pub iterations: u64,
    /// Kernel rows computed (a row computed again after its cache let it go counts again).
    pub kernel_rows: u64,
    /// Problems that reached libsvm's iteration bound before the tolerance.
    pub unconverged: usize,
    /// The memory planned.
    pub memory: SvmMemory,
}

/// The decision function of one pair of classes over the support vectors.
#[derive(Debug, Clone, PartialEq)]
struct PairModel {
    /// The two classes (indices into the classes).
    pair: (usize, usize),
    /// Its support vectors (indices into the SVM's), increasing.
    vectors: Vec<usize>,
    /// `y_t α_t` of each.
    coefficients: Vec<f64>,
    /// `ρ`.
    rho: f64,
}

/// A trained one-against-one RBF SVM.
#[derive(Debug, Clone, PartialEq)]
pub struct Svm {
    features: usize,
    classes: Vec<usize>,
    gamma: f64,
    /// The support vectors, class after class, stored feature after feature, and their squared
    /// norms.
    vectors: Vec<f32>,
    vector_norms: Vec<f64>,
    pairs: Vec<PairModel>,
    report: SvmFitReport,
}

impl Svm {
    /// Trains on `train` with `config`: a binary SVM for each pair of the labels present.
    pub fn fit(train: &dyn Samples, config: &SvmConfig) -> Result<Svm, SvmError> {
        let gamma = match config.gamma {
            Gamma::Value(gamma) => Some(("gamma", gamma)),
            Gamma::Scale | Gamma::Auto => None,
        };
        for (name, value) in [("C", config.c), ("tolerance", config.tolerance)].into_iter().chain(gamma) {
            if !(value.is_finite() && value > 0.0) {
                return Err(SvmError::Setting { name, value });
            }
        }
        if train.is_empty() {
            return Err(SvmError::Empty);
        }
        let features = train.input_size();
        if features == 0 {
            return Err(SvmError::ZeroInputSize);
        }
        let counts = class_counts(train);
        if counts.len() < 2 {
            return Err(SvmError::OneClass { class: train.label(0) });
        }
        let sizes: Vec<usize> = counts.values().copied().collect();
        let mut largest = sizes.clone();
        largest.sort_unstable_by(|a, b| b.cmp(a));
        let classes = sizes.len();
        let shape = SvmSizes { points: train.len(), features, classes, largest_pair: largest[0] + largest[1] };
        let problems = classes.saturating_mul(classes - 1) / 2;
        let workers = rayon::current_num_threads().clamp(1, problems);
        // Checked before the problems are listed: a label per sample would make billions.
        let (memory, cache_per_worker) = plan(shape, workers, config.cache_bytes, config.memory_limit)?;
        let pairs = one_vs_one::pairs(classes);
        let pair_len = |(a, b): (usize, usize)| sizes[a] + sizes[b];

        let set = TrainingSet::gather(train, &counts)?;
        let gamma = match config.gamma {
            Gamma::Scale => scale_gamma(&set.columns, features),
            // γ = 1 / features.
            Gamma::Auto => 1.0 / features as f64,
            Gamma::Value(gamma) => gamma,
        };
        let settings = SmoSettings { c: config.c, tolerance: config.tolerance };
        // The largest problems first, so that no thread is left with a large one at the end.
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by_key(|&p| Reverse(pair_len(pairs[p])));
        let solved: Vec<(usize, Vec<usize>, smo::BinarySolution, u64)> = order
            .par_iter()
            .with_max_len(1)
            .map(|&p| {
                let (a, b) = pairs[p];
                let rows = PairRows::new(&set, gamma, a, b);
                let y = rows.labels();
                let points: Vec<usize> = (0..y.len()).map(|t| rows.point(t)).collect();
                let mut cache = KernelCache::new(rows, cache_rows(cache_per_worker, y.len()), BLOCK_ROWS);
                let solution = solve(&mut cache, &y, settings);
                (p, points, solution, cache.computed)
            })
            .collect();
        Ok(Svm::from_solutions(set, gamma, pairs, solved, memory))
    }

    /// Keeps the points with a nonzero multiplier in some problem, and each problem's
    /// coefficients over them.
    fn from_solutions(
        set: TrainingSet<'_>,
        gamma: f64,
        pairs: Vec<(usize, usize)>,
        mut solved: Vec<(usize, Vec<usize>, smo::BinarySolution, u64)>,
        memory: SvmMemory,
    ) -> Svm {
        solved.sort_by_key(|(p, ..)| *p);
        let mut vector_of: Vec<Option<usize>> = vec![None; set.norms.len()];
        for (_, points, solution, _) in &solved {
            for (&point, &alpha) in points.iter().zip(&solution.alpha) {
                if alpha > 0.0 {
                    vector_of[point] = Some(0);
                }
            }
        }
        let features = set.features;
        let mut vector_norms = Vec::new();
        for (point, slot) in vector_of.iter_mut().enumerate() {
            if slot.is_some() {
                *slot = Some(vector_norms.len());
                vector_norms.push(set.norms[point]);
            }
        }
        // Feature after feature, as the training points.
        let count = vector_norms.len();
        let mut vectors = vec![0.0; features * count];
        let mut values = vec![0.0; features];
        for (point, slot) in vector_of.iter().enumerate() {
            if let Some(j) = *slot {
                set.write_point(point, &mut values);
                for (k, &value) in values.iter().enumerate() {
                    vectors[k * count + j] = value;
                }
            }
        }
        let mut report = SvmFitReport { iterations: 0, kernel_rows: 0, unconverged: 0, memory };
        let pairs = solved
            .into_iter()
            .map(|(p, points, solution, rows)| {
                report.iterations += solution.iterations;
                report.kernel_rows += rows;
                report.unconverged += usize::from(!solution.converged);
                let first = set.class_ranges[pairs[p].0].len();
                let (mut indices, mut coefficients) = (Vec::new(), Vec::new());
                for (t, (&point, &alpha)) in points.iter().zip(&solution.alpha).enumerate() {
                    if alpha > 0.0 {
                        indices.push(vector_of[point].expect("a support vector"));
                        coefficients.push(if t < first { alpha } else { -alpha });
                    }
                }
                PairModel { pair: pairs[p], vectors: indices, coefficients, rho: solution.rho }
            })
            .collect();
        Svm { features, classes: set.classes, gamma, vectors, vector_norms, pairs, report }
    }

    /// The labels it tells apart, increasing.
    pub fn classes(&self) -> &[usize] {
        &self.classes
    }

    /// The kernel's `γ`.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// Training points with a nonzero multiplier in some binary problem.
    pub fn support_vectors(&self) -> usize {
        self.vector_norms.len()
    }

    /// Binary problems: one per pair of classes.
    pub fn problems(&self) -> usize {
        self.pairs.len()
    }

    /// What the training did.
    pub fn report(&self) -> &SvmFitReport {
        &self.report
    }

    /// The decision value of every pair of classes (in the order `(0, 1), (0, 2), …, (1, 2), …` of
    /// [`classes`](Self::classes)) for every sample of `set`: `problems()` values a sample,
    /// sample after sample (all held at once: [`predict`](Self::predict) keeps a block's only).
    /// Positive votes for the pair's first class.
    pub fn decision_values(&self, set: &dyn Samples) -> Result<Vec<f64>, SvmError> {
        self.check_input_size(set)?;
        let problems = self.pairs.len();
        let mut decisions = vec![0.0; set.len() * problems];
        let results: Vec<Result<(), SvmError>> = decisions
            .par_chunks_mut(PREDICTION_BLOCK * problems)
            .enumerate()
            .map(|(block, out)| {
                let start = block * PREDICTION_BLOCK;
                self.block_decisions(set, start..start + out.len() / problems, out)
            })
            .collect();
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(decisions)
    }

    fn check_input_size(&self, set: &dyn Samples) -> Result<(), SvmError> {
        if set.input_size() == self.features {
            Ok(())
        } else {
            Err(SvmError::InputSize { expected: self.features, found: set.input_size() })
        }
    }

    /// `f_p(x) = Σ_t y_t α_t K(x_t, x) − ρ_p` for each pair `p` and each sample of `range`.
    fn block_decisions(&self, set: &dyn Samples, range: Range<usize>, out: &mut [f64]) -> Result<(), SvmError> {
        let features = self.features;
        let mut values = vec![0.0; range.len() * features];
        for (sample, point) in range.clone().zip(values.chunks_exact_mut(features)) {
            set.write_input(sample, point);
            if let Some(at) = point.iter().position(|v| !v.is_finite()) {
                return Err(SvmError::NonFinite { sample, index: at, value: point[at] });
            }
        }
        let norms = squared_norms(&values, features);
        let width = self.vector_norms.len();
        let mut kernel = vec![0.0; range.len() * width];
        let vectors = Columns { values: &self.vectors, stride: width, start: 0, norms: &self.vector_norms, features };
        rbf_block(self.gamma, Points { values: &values, norms: &norms, features }, vectors, &mut kernel, width, 0);
        for (row, decisions) in kernel.chunks_exact(width.max(1)).zip(out.chunks_exact_mut(self.pairs.len())) {
            for (decision, pair) in decisions.iter_mut().zip(&self.pairs) {
                let sum: f64 = pair.vectors.iter().zip(&pair.coefficients).map(|(&v, &c)| c * f64::from(row[v])).sum();
                *decision = sum - pair.rho;
            }
        }
        if width == 0 {
            for (decisions, _) in out.chunks_exact_mut(self.pairs.len()).zip(range) {
                for (decision, pair) in decisions.iter_mut().zip(&self.pairs) {
                    *decision = -pair.rho;
                }
            }
        }
        Ok(())
    }

    /// The label of each sample of `set`: the winner of the vote of the pairs' decisions, the
    /// lowest class on ties.
    pub fn predict(&self, set: &dyn Samples) -> Result<Vec<usize>, SvmError> {
        self.check_input_size(set)?;
        let problems = self.pairs.len();
        let pairs: Vec<(usize, usize)> = self.pairs.iter().map(|p| p.pair).collect();
        let mut labels = vec![0; set.len()];
        let results: Vec<Result<(), SvmError>> = labels
            .par_chunks_mut(PREDICTION_BLOCK)
            .enumerate()
            .map(|(block, out)| {
                let start = block * PREDICTION_BLOCK;
                let mut decisions = vec![0.0; out.len() * problems];
                self.block_decisions(set, start..start + out.len(), &mut decisions)?;
                let mut votes = vec![0; self.classes.len()];
                for (label, decisions) in out.iter_mut().zip(decisions.chunks_exact(problems)) {
                    *label = self.classes[one_vs_one::vote(&pairs, decisions, &mut votes)];
                }
                Ok(())
            })
            .collect();
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(labels)
    }

    /// How many samples of `set` it classifies right.
    pub fn evaluate(&self, set: &dyn Samples) -> Result<BaselineAccuracy, SvmError> {
        let predictions = self.predict(set)?;
        let correct = predictions.iter().enumerate().filter(|&(i, &label)| set.label(i) == label).count();
        Ok(BaselineAccuracy { correct, total: set.len() })
    }
}
