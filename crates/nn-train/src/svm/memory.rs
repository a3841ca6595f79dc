//! How much memory an SVM's training and prediction take, known from the sizes before anything
//! is allocated, and how much of the rest the kernel caches may have.

use nn_core::human_bytes;

use super::SvmError;

/// The process itself: code, thread stacks, the allocator's slack.
const BASE_BYTES: u64 = 64 << 20;

/// Kernel rows computed in one block (`kernel_cache.rs`).
pub(crate) const BLOCK_ROWS: usize = 32;

/// The fewest rows a problem's cache holds: a block, and the two rows of an iteration.
pub(crate) const MIN_CACHE_ROWS: usize = BLOCK_ROWS + 2;

/// Test points whose kernel values against the support vectors are computed at once.
pub(crate) const PREDICTION_BLOCK: usize = 64;

/// Bytes of a problem's bookkeeping: its pair, its place in the order, its model's vectors.
const PROBLEM_BYTES: u64 = 128;

/// Bytes of a solver's state per point: `α`, `G`, `y`, `K_tt`, the cache's slot and clock.
const SOLVER_BYTES_PER_POINT: u64 = 8 * 4 + 16 + 8;

/// The memory an SVM takes at most, in bytes, by what holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvmMemory {
    /// The training points as floats, and the support vectors copied out of them (at most
    /// every point), with the process itself.
    pub data: u64,
    /// Each concurrent solver's state, its block of kernel rows and the fewest rows its cache
    /// can work with; each prediction worker's block of kernel values.
    pub working: u64,
    /// The kernel caches beyond their fewest rows: what the budget and the limit leave.
    pub cache: u64,
}

impl SvmMemory {
    /// Everything.
    pub fn total(&self) -> u64 {
        self.data.saturating_add(self.working).saturating_add(self.cache)
    }
}

/// The sizes an SVM's memory depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SvmSizes {
    /// Training points.
    pub points: usize,
    /// Values per point.
    pub features: usize,
    /// Classes present.
    pub classes: usize,
    /// Points of the largest pair of classes.
    pub largest_pair: usize,
}

/// The memory of an SVM of `sizes`, its problems solved `workers` at a time, with a cache budget
/// of `cache_bytes` (every worker's together) within `limit`; and the bytes of each worker's
/// cache.
pub(crate) fn plan(
    sizes: SvmSizes,
    workers: usize,
    cache_bytes: u64,
    limit: Option<u64>,
) -> Result<(SvmMemory, u64), SvmError> {
    let [points, features, classes, largest_pair, workers] =
        [sizes.points, sizes.features, sizes.classes, sizes.largest_pair, workers].map(|n| n as u64);
    let problems = classes.saturating_mul(classes.saturating_sub(1)) / 2;
    let row = largest_pair.saturating_mul(4);
    let values = points.saturating_mul(features).saturating_mul(4);
    // Values, norms and the support vectors (at most every point again); each point's multiplier
    // and place in each of its `classes − 1` problems, kept until the last problem is solved.
    let data = values
        .saturating_mul(2)
        .saturating_add(points.saturating_mul(16))
        .saturating_add(points.saturating_mul(classes.saturating_sub(1)).saturating_mul(16))
        .saturating_add(problems.saturating_mul(PROBLEM_BYTES))
        .saturating_add(BASE_BYTES);
    let solver = largest_pair
        .saturating_mul(SOLVER_BYTES_PER_POINT)
        .saturating_add(row.saturating_mul(BLOCK_ROWS as u64 + MIN_CACHE_ROWS as u64))
        .saturating_add(features.saturating_mul(4 * BLOCK_ROWS as u64));
    // A block of test points, their kernel values against every support vector (at most every
    // point), and their decision values.
    let predictor = (PREDICTION_BLOCK as u64).saturating_mul(
        points.saturating_mul(4).saturating_add(features.saturating_mul(4)).saturating_add(problems.saturating_mul(8)),
    );
    let working = solver.max(predictor).saturating_mul(workers);
    let fixed = data.saturating_add(working);
    if let Some(limit) = limit
        && fixed > limit
    {
        return Err(SvmError::Memory { needed: fixed, limit, detail: describe(data, working) });
    }
    let room = limit.map_or(u64::MAX, |limit| limit - fixed);
    let cache = cache_bytes.min(room);
    let per_worker = cache / workers.max(1);
    Ok((SvmMemory { data, working, cache }, per_worker))
}

fn describe(data: u64, working: u64) -> String {
    format!(
        "the images as floats with the support vectors and the multipliers {}, the solvers' and predictions' blocks {}",
        human_bytes(data),
        human_bytes(working)
    )
}

/// The rows a cache of `bytes` holds for a problem of `len` points: at least
/// [`MIN_CACHE_ROWS`] (counted in [`SvmMemory::working`]), at most every row.
pub(crate) fn cache_rows(bytes: u64, len: usize) -> usize {
    let rows = bytes / (len.max(1) as u64 * 4);
    (MIN_CACHE_ROWS as u64 + rows).min(len as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: SvmSizes = SvmSizes { points: 60_000, features: 784, classes: 10, largest_pair: 13_007 };

    #[test]
    fn mnist_fits_a_small_machine_and_a_huge_set_is_refused() {
        let (memory, per_worker) = plan(MNIST, 2, 1 << 30, Some(4 << 30)).unwrap();
        assert!(memory.total() < 2 << 30, "{memory:?}");
        assert_eq!(per_worker, 1 << 29);
        // Every row of MNIST's largest pair fits in half a gigabyte... nearly.
        assert_eq!(cache_rows(per_worker, 13_007), 10_352);
        // A limit below the fixed part: refused, with both figures.
        let error = plan(MNIST, 2, 1 << 30, Some(300 << 20)).unwrap_err();
        assert!(error.to_string().contains("needs at least 4"), "{error}");
        // The cache takes what the limit leaves.
        let (memory, _) = plan(MNIST, 2, 1 << 30, Some(600 << 20)).unwrap();
        assert_eq!(memory.total(), 600 << 20);
        // Sizes whose product overflows are refused, not wrapped.
        let huge = SvmSizes { points: usize::MAX, largest_pair: usize::MAX, ..MNIST };
        assert!(plan(huge, 2, 1 << 30, Some(1 << 40)).is_err());
        // A label for every image: two billion problems are refused before any is listed.
        let labels = SvmSizes { classes: 60_000, largest_pair: 2, ..MNIST };
        let error = plan(labels, 2, 1 << 30, Some(16 << 30)).unwrap_err();
        assert!(error.to_string().contains("needs at least 2132 GB"), "{error}");
    }
}
