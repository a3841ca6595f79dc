//! The training points gathered class by class, and the kernel rows of one pair of classes.
//!
//! With the points of each class side by side, a binary problem's points are two runs of the
//! gathered set: its kernel rows are two products against points where they lie, no copy.

use std::collections::BTreeMap;
use std::ops::Range;

use super::SvmError;
use super::kernel::{Columns, Points, rbf_block, squared_norms};
use super::kernel_cache::RowSource;
use crate::Samples;

/// Points gathered and transposed at a time.
const GATHER_CHUNK: usize = 64;

/// The training points as `f32`, class after class (classes in increasing order, each class's
/// points in their order in the set), stored feature after feature, with their squared norms.
pub(crate) struct TrainingSet<'a> {
    samples: &'a dyn Samples,
    /// The sample of each point.
    sample_of: Vec<usize>,
    /// `features × len` values, feature after feature.
    pub columns: Vec<f32>,
    pub norms: Vec<f64>,
    pub features: usize,
    /// The labels present, increasing.
    pub classes: Vec<usize>,
    /// Where the points of each class lie.
    pub class_ranges: Vec<Range<usize>>,
}

/// How many points each label has, labels increasing.
pub(crate) fn class_counts(samples: &dyn Samples) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for index in 0..samples.len() {
        *counts.entry(samples.label(index)).or_insert(0) += 1;
    }
    counts
}

impl<'a> TrainingSet<'a> {
    /// Gathers `samples`, whose labels `counts` counts, class by class.
    pub fn gather(samples: &'a dyn Samples, counts: &BTreeMap<usize, usize>) -> Result<Self, SvmError> {
        let (len, features) = (samples.len(), samples.input_size());
        let classes: Vec<usize> = counts.keys().copied().collect();
        let mut class_ranges = Vec::with_capacity(classes.len());
        let mut next = BTreeMap::new();
        let mut start = 0;
        for (&class, &count) in counts {
            class_ranges.push(start..start + count);
            next.insert(class, start);
            start += count;
        }
        let mut sample_of = vec![0; len];
        for index in 0..len {
            let slot = next.get_mut(&samples.label(index)).expect("every label was counted");
            sample_of[*slot] = index;
            *slot += 1;
        }
        let mut columns = vec![0.0; len * features];
        let mut norms = Vec::with_capacity(len);
        let mut chunk = vec![0.0; GATHER_CHUNK * features];
        for first in (0..len).step_by(GATHER_CHUNK) {
            let count = GATHER_CHUNK.min(len - first);
            for (point, values) in (first..first + count).zip(chunk.chunks_exact_mut(features)) {
                let sample = sample_of[point];
                samples.write_input(sample, values);
                if let Some(at) = values.iter().position(|v| !v.is_finite()) {
                    return Err(SvmError::NonFinite { sample, index: at, value: values[at] });
                }
            }
            norms.extend(squared_norms(&chunk[..count * features], features));
            for k in 0..features {
                let run = &mut columns[k * len + first..][..count];
                for (i, value) in run.iter_mut().enumerate() {
                    *value = chunk[i * features + k];
                }
            }
        }
        Ok(TrainingSet { samples, sample_of, columns, norms, features, classes, class_ranges })
    }

    /// Every point.
    pub fn all(&self) -> Columns<'_> {
        Columns {
            values: &self.columns,
            stride: self.norms.len(),
            start: 0,
            norms: &self.norms,
            features: self.features,
        }
    }

    /// Writes point `point`'s values into `out`.
    pub fn write_point(&self, point: usize, out: &mut [f32]) {
        self.samples.write_input(self.sample_of[point], out);
    }
}

/// The kernel rows of the binary problem of two classes: the points of the first (`y = +1`)
/// then those of the second (`y = −1`).
pub(crate) struct PairRows<'a> {
    set: &'a TrainingSet<'a>,
    gamma: f64,
    positive: Range<usize>,
    negative: Range<usize>,
    gathered: Vec<f32>,
    gathered_norms: Vec<f64>,
}

impl<'a> PairRows<'a> {
    /// The rows of the problem of classes `positive` and `negative` (indices into the set's
    /// classes).
    pub fn new(set: &'a TrainingSet<'a>, gamma: f64, positive: usize, negative: usize) -> Self {
        let (positive, negative) = (set.class_ranges[positive].clone(), set.class_ranges[negative].clone());
        PairRows { set, gamma, positive, negative, gathered: Vec::new(), gathered_norms: Vec::new() }
    }

    /// `y_t`: +1 for the first class's points, −1 for the second's.
    pub fn labels(&self) -> Vec<f64> {
        let mut y = vec![1.0; self.positive.len()];
        y.resize(self.len(), -1.0);
        y
    }

    /// The place in the whole set of the problem's point `t`.
    pub fn point(&self, t: usize) -> usize {
        if t < self.positive.len() { self.positive.start + t } else { self.negative.start + t - self.positive.len() }
    }
}

impl RowSource for PairRows<'_> {
    fn len(&self) -> usize {
        self.positive.len() + self.negative.len()
    }

    /// `K(x, x) = exp(0) = 1`.
    fn diagonal(&self, _: usize) -> f64 {
        1.0
    }

    fn compute_rows(&mut self, rows: &[usize], out: &mut [f32]) {
        let (len, features) = (self.len(), self.set.features);
        let points: Vec<usize> = rows.iter().map(|&t| self.point(t)).collect();
        self.gathered.resize(rows.len() * features, 0.0);
        self.gathered_norms.clear();
        for (&point, values) in points.iter().zip(self.gathered.chunks_exact_mut(features)) {
            self.set.write_point(point, values);
            self.gathered_norms.push(self.set.norms[point]);
        }
        let block = Points { values: &self.gathered, norms: &self.gathered_norms, features };
        let all = self.set.all();
        rbf_block(self.gamma, block, all.range(self.positive.clone()), out, len, 0);
        rbf_block(self.gamma, block, all.range(self.negative.clone()), out, len, self.positive.len());
        // Exactly 1, as `diagonal` says, whatever the rounding of ‖x‖² + ‖x‖² − 2 x·x.
        for (r, &t) in rows.iter().enumerate() {
            out[r * len + t] = 1.0;
        }
    }
}
