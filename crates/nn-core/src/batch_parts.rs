//! A training pass over a whole batch, layer after layer, each layer's samples cut into parts
//! computed in parallel: how a network with batch normalisation, whose statistics need every
//! sample of the batch, still trains on every core.
//!
//! A trainer usually cuts a batch into shards that each run the whole network on their own
//! samples; a batch normalisation cannot run on a shard. Here the batch goes through the network
//! together: every layer but a batch normalisation runs its parts in parallel (a sample's
//! outputs and input gradients do not depend on the others, so they are the same bits however
//! the batch is cut), the batch normalisation runs whole, and each layer's parameter gradients
//! are the parts' sums added in part order. The parts depend on the batch size only, never on
//! the number of threads, so neither do the results.

use std::ops::Range;

use nalgebra::DMatrix;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::{Layer, Mode};

/// Samples per part of a batch of 128 and more; smaller batches are cut in two from 32 samples,
/// as nn-train's shards are (measured there).
const PART_SAMPLES: usize = 64;

/// Most parts a batch is cut into.
const MAX_PARTS: usize = 8;

/// Number of parts of a batch of `batch` samples: one below 32, two up to 127, then parts of 64
/// (at most 8). It depends on the batch size only.
pub(crate) fn batch_parts(batch: usize) -> usize {
    if batch < 32 {
        1
    } else if batch < 2 * PART_SAMPLES {
        2
    } else {
        (batch / PART_SAMPLES).clamp(1, MAX_PARTS)
    }
}

/// The samples of each of `parts` parts of a batch of `batch`: part `i` holds
/// `⌊batch·i/parts⌋..⌊batch·(i+1)/parts⌋`.
pub(crate) fn part_ranges(batch: usize, parts: usize) -> Vec<Range<usize>> {
    (0..parts).map(|i| batch * i / parts..batch * (i + 1) / parts).collect()
}

/// Cuts `buffer`, samples of `size` values one after the other, into the slices of `ranges`.
pub(crate) fn split<'a>(mut buffer: &'a mut [f32], size: usize, ranges: &[Range<usize>]) -> Vec<&'a mut [f32]> {
    ranges
        .iter()
        .map(|range| {
            let (part, rest) = std::mem::take(&mut buffer).split_at_mut(range.len() * size);
            buffer = rest;
            part
        })
        .collect()
}

/// The mode of a part that starts at sample `start` of the samples `mode` is for: dropout draws
/// each sample's mask from its place in the whole batch.
fn from_sample(mode: Mode, start: usize) -> Mode {
    match mode {
        Mode::Inference => Mode::Inference,
        Mode::Training { seed, first_sample } => Mode::Training { seed, first_sample: first_sample + start as u64 },
    }
}

/// `f` on every item, in parallel with the feature `parallel` when there is more than one.
pub(crate) fn for_each<T: Send>(items: Vec<T>, f: impl Fn(T) + Sync + Send) {
    #[cfg(feature = "parallel")]
    if items.len() > 1 {
        items.into_par_iter().for_each(f);
        return;
    }
    items.into_iter().for_each(f);
}

/// `f` of every range, in parallel with the feature `parallel` when there is more than one; the
/// results in the order of `ranges`.
pub(crate) fn map_parts<T: Send>(ranges: &[Range<usize>], f: impl Fn(Range<usize>) -> T + Sync + Send) -> Vec<T> {
    #[cfg(feature = "parallel")]
    if ranges.len() > 1 {
        return ranges.par_iter().cloned().map(f).collect();
    }
    ranges.iter().cloned().map(f).collect()
}

/// The parts `layer` runs on: the whole batch for a layer that reads it whole, `ranges` for the
/// others.
fn layer_ranges(layer: &dyn Layer, batch: usize, ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    if layer.running_statistics().is_some() { std::iter::once(0..batch).collect() } else { ranges.to_vec() }
}

/// `layer.forward` on `batch` samples of `input`, part by part; `mode` is the layer's own.
pub(crate) fn forward(
    layer: &dyn Layer,
    input: &[f32],
    batch: usize,
    output: &mut [f32],
    mode: Mode,
    ranges: &[Range<usize>],
) {
    let ranges = layer_ranges(layer, batch, ranges);
    let (inputs, outputs) = (layer.input_size(), layer.output_size());
    let parts: Vec<_> = ranges.iter().cloned().zip(split(output, outputs, &ranges)).collect();
    for_each(parts, |(range, output)| {
        let input = &input[range.start * inputs..range.end * inputs];
        layer.forward(input, range.len(), output, from_sample(mode, range.start));
    });
}

/// The buffers of a layer's backward pass over a whole batch.
pub(crate) struct Backward<'a> {
    pub input: &'a [f32],
    pub output: &'a [f32],
    pub output_grad: &'a mut [f32],
    pub input_grad: Option<&'a mut [f32]>,
    /// The layer's gradients, which the first part writes and the others' are added to.
    pub gradients: &'a mut [DMatrix<f32>],
    /// Gradients for the parts after the first, kept between batches.
    pub scratch: &'a mut Vec<Vec<DMatrix<f32>>>,
}

/// `layer.backward` on `batch` samples, part by part, the parameter gradients of the parts
/// summed in part order.
pub(crate) fn backward(layer: &dyn Layer, batch: usize, buffers: Backward<'_>, mode: Mode, ranges: &[Range<usize>]) {
    let ranges = layer_ranges(layer, batch, ranges);
    let Backward { input, output, output_grad, input_grad, gradients, scratch } = buffers;
    let (inputs, outputs) = (layer.input_size(), layer.output_size());
    let fits = |set: &Vec<DMatrix<f32>>| {
        set.len() == gradients.len() && set.iter().zip(gradients.iter()).all(|(a, b)| a.shape() == b.shape())
    };
    if scratch.len() != ranges.len() - 1 || !scratch.iter().all(fits) {
        let zeros = gradients.iter().map(|g| DMatrix::zeros(g.nrows(), g.ncols())).collect::<Vec<_>>();
        *scratch = vec![zeros; ranges.len() - 1];
    }
    let mut input_grads: Vec<Option<&mut [f32]>> = match input_grad {
        Some(buffer) => split(buffer, inputs, &ranges).into_iter().map(Some).collect(),
        None => ranges.iter().map(|_| None).collect(),
    };
    let part_gradients = std::iter::once(&mut *gradients).chain(scratch.iter_mut().map(|s| s.as_mut_slice()));
    let parts: Vec<_> = ranges
        .iter()
        .cloned()
        .zip(split(output_grad, outputs, &ranges))
        .zip(input_grads.iter_mut().map(Option::take))
        .zip(part_gradients)
        .collect();
    for_each(parts, |(((range, output_grad), input_grad), gradients)| {
        layer.backward(
            &input[range.start * inputs..range.end * inputs],
            &output[range.start * outputs..range.end * outputs],
            range.len(),
            output_grad,
            input_grad,
            gradients,
            from_sample(mode, range.start),
        );
    });
    for part in scratch.iter() {
        for (sum, gradient) in gradients.iter_mut().zip(part) {
            sum.iter_mut().zip(gradient.iter()).for_each(|(s, g)| *s += g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_depend_on_the_batch_size_only_and_cover_it() {
        assert_eq!([1, 31, 32, 127, 128, 200, 256, 10_000].map(batch_parts), [1, 1, 2, 2, 2, 3, 4, 8]);
        assert_eq!(part_ranges(10, 3), [0..3, 3..6, 6..10]);
        let mut buffer: Vec<f32> = (0..20).map(|v| v as f32).collect();
        let parts = split(&mut buffer, 2, &part_ranges(10, 3));
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [6, 6, 8]);
        assert_eq!(parts[2][0], 12.0);
    }
}
