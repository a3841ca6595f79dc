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

/// The memory of an SVM on `points` points of `features` values whose largest pair of classes
/// has `largest_pair` points, with `problems` binary problems, solved `workers` at a time, with a
/// cache budget of `cache_bytes` (every worker's together) within `limit`; and the rows each
/// worker's cache may hold on a problem of `largest_pair` points.
pub(crate) fn plan(
    points: usize,
    features: usize,
    largest_pair: usize,
    workers: usize,
    cache_bytes: u64,
    limit: Option<u64>,
) -> Result<(SvmMemory, u64), SvmError> {
    let (points, features, largest_pair, workers) =
        (points as u64, features as u64, largest_pair as u64, workers as u64);
    let row = largest_pair.saturating_mul(4);
    let values = points.saturating_mul(features).saturating_mul(4);
    // Values, norms and the support vectors (at most every point again).
    let data = values.saturating_mul(2).saturating_add(points.saturating_mul(16)).saturating_add(BASE_BYTES);
    let solver = largest_pair
        .saturating_mul(SOLVER_BYTES_PER_POINT)
        .saturating_add(row.saturating_mul(BLOCK_ROWS as u64 + MIN_CACHE_ROWS as u64))
        .saturating_add(features.saturating_mul(4 * BLOCK_ROWS as u64));
    let predictor =
        (PREDICTION_BLOCK as u64).saturating_mul(points.saturating_mul(4).saturating_add(features.saturating_mul(4)));
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
        "the images as floats with the support vectors {}, the solvers' and predictions' blocks {}",
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

    #[test]
    fn mnist_fits_a_small_machine_and_a_huge_set_is_refused() {
        let (memory, per_worker) = plan(60_000, 784, 13_007, 2, 1 << 30, Some(4 << 30)).unwrap();
        assert!(memory.total() < 2 << 30, "{memory:?}");
        assert_eq!(per_worker, 1 << 29);
        // Every row of MNIST's largest pair fits in half a gigabyte... nearly.
        assert_eq!(cache_rows(per_worker, 13_007), 10_352);
        // A limit below the fixed part: refused, with both figures.
        let error = plan(60_000, 784, 13_007, 2, 1 << 30, Some(300 << 20)).unwrap_err();
        assert!(error.to_string().contains("needs at least 4"), "{error}");
        // The cache takes what the limit leaves.
        let (memory, _) = plan(60_000, 784, 13_007, 2, 1 << 30, Some(600 << 20)).unwrap();
        assert_eq!(memory.total(), 600 << 20);
        // Sizes whose product overflows are refused, not wrapped.
        assert!(plan(usize::MAX, 784, usize::MAX, 2, 1 << 30, Some(1 << 40)).is_err());
    }
}
