//! Kernel rows of one binary problem, kept within a number of rows and computed in blocks.
//!
//! SMO asks for two rows an iteration. One row alone is a matrix-vector product, bound by the
//! memory that holds the training images; a block of rows reads them once for all its rows. So a
//! row that is missing is computed together with rows the solver expects to need soon, up to
//! [`KernelCache::block_rows`]. The least recently used rows make room. What is cached changes
//! the time only: every row is the same bits however it was computed (`kernel.rs`).

/// Computes kernel rows of a problem of [`len`](RowSource::len) points.
pub(crate) trait RowSource {
    /// Number of points: every row has this many values.
    fn len(&self) -> usize;

    /// `K(x_t, x_t)`.
    fn diagonal(&self, index: usize) -> f64;

    /// Writes rows `rows`, `len` values each, one after the other into `out`.
    fn compute_rows(&mut self, rows: &[usize], out: &mut [f32]);
}

/// A bounded cache of kernel rows over a [`RowSource`].
#[derive(Debug)]
pub(crate) struct KernelCache<S> {
    source: S,
    rows: Vec<Option<Box<[f32]>>>,
    last_use: Vec<u64>,
    clock: u64,
    capacity: usize,
    cached: usize,
    block_rows: usize,
    block: Vec<f32>,
    /// Rows computed so far (a row computed again after eviction counts again).
    pub computed: u64,
}

impl<S: RowSource> KernelCache<S> {
    /// A cache of at most `capacity` rows (at least 2, the two rows of an iteration; at most
    /// every row), computing up to `block_rows` rows at once.
    pub fn new(source: S, capacity: usize, block_rows: usize) -> Self {
        let len = source.len();
        let capacity = capacity.clamp(2.min(len), len);
        let block_rows = block_rows.clamp(1, capacity.max(1));
        KernelCache {
            source,
            rows: (0..len).map(|_| None).collect(),
            last_use: vec![0; len],
            clock: 0,
            capacity,
            cached: 0,
            block_rows,
            block: Vec::new(),
            computed: 0,
        }
    }

    /// `K(x_t, x_t)` of point `index`.
    pub fn diagonal(&self, index: usize) -> f64 {
        self.source.diagonal(index)
    }

    /// Whether row `index` is cached.
    pub fn contains(&self, index: usize) -> bool {
        self.rows[index].is_some()
    }

    /// Makes rows `needed` (one or two) present. When one is missing, it is computed in a block
    /// with rows of `likely` (best first) that are missing too, as many as the block and the
    /// cache take; `likely` is asked only then, with how many rows it may give.
    pub fn fetch(&mut self, needed: &[usize], likely: impl FnOnce(&Self, usize) -> Vec<usize>) {
        self.clock += 1;
        for &index in needed {
            self.last_use[index] = self.clock;
        }
        let mut block: Vec<usize> = Vec::with_capacity(self.block_rows);
        for &index in needed {
            if !self.contains(index) && !block.contains(&index) {
                block.push(index);
            }
        }
        if block.is_empty() {
            return;
        }
        // The rows not needed now, all of which may make room.
        let evictable = self.cached - needed.iter().filter(|&&i| self.contains(i)).count();
        let room = self.capacity - (self.cached - evictable);
        let size = self.block_rows.min(room).max(block.len());
        if size > block.len() {
            for index in likely(self, size - block.len()) {
                if block.len() == size {
                    break;
                }
                if index < self.rows.len() && !self.contains(index) && !block.contains(&index) {
                    block.push(index);
                }
            }
        }
        let overflow = (self.cached + block.len()).saturating_sub(self.capacity);
        self.evict(overflow);
        let len = self.source.len();
        self.block.resize(block.len() * len, 0.0);
        self.source.compute_rows(&block, &mut self.block);
        for (&index, values) in block.iter().zip(self.block.chunks_exact(len)) {
            self.rows[index] = Some(values.into());
            self.last_use[index] = self.clock;
        }
        self.cached += block.len();
        self.computed += block.len() as u64;
    }

    /// Frees the `count` least recently used rows (ties: the lowest index), never one used at
    /// the current clock (the rows of this iteration).
    fn evict(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        let mut candidates: Vec<usize> =
            (0..self.rows.len()).filter(|&i| self.rows[i].is_some() && self.last_use[i] < self.clock).collect();
        let count = count.min(candidates.len());
        if count < candidates.len() {
            candidates.select_nth_unstable_by_key(count, |&i| (self.last_use[i], i));
        }
        for &index in &candidates[..count] {
            self.rows[index] = None;
        }
        self.cached -= count;
    }

    /// Row `index`, which a [`fetch`](Self::fetch) made present.
    ///
    /// # Panics
    /// If the row is not cached: a bug of the solver.
    pub fn row(&self, index: usize) -> &[f32] {
        self.rows[index].as_deref().expect("the solver fetches a row before reading it")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row `i` is `[i, i, ...]`; remembers every block asked for.
    struct Rows {
        len: usize,
        blocks: Vec<Vec<usize>>,
    }

    impl RowSource for Rows {
        fn len(&self) -> usize {
            self.len
        }

        fn diagonal(&self, _: usize) -> f64 {
            1.0
        }

        fn compute_rows(&mut self, rows: &[usize], out: &mut [f32]) {
            self.blocks.push(rows.to_vec());
            for (&row, values) in rows.iter().zip(out.chunks_exact_mut(self.len)) {
                values.fill(row as f32);
            }
        }
    }

    #[test]
    fn missing_rows_come_in_blocks_with_likely_ones_and_old_rows_make_room() {
        let mut cache = KernelCache::new(Rows { len: 10, blocks: vec![] }, 4, 3);
        cache.fetch(&[2, 5], |_, count| {
            assert_eq!(count, 1);
            vec![5, 7, 8]
        });
        assert_eq!(cache.source.blocks, [vec![2, 5, 7]]);
        assert_eq!((cache.row(7)[0], cache.row(2)[3]), (7.0, 2.0));
        // Present: nothing computed, nothing asked.
        cache.fetch(&[7, 2], |_, _| panic!("not asked"));
        // Row 1 and a likely row 9; the cache holds 4, so the oldest row (5) goes.
        cache.fetch(&[1], |_, _| vec![9]);
        assert_eq!(cache.source.blocks[1], [1, 9]);
        assert!(!cache.contains(5) && cache.contains(2) && cache.contains(7));
        assert_eq!(cache.computed, 5);
        // Both rows of an iteration stay, even when the cache holds only them.
        let mut small = KernelCache::new(Rows { len: 10, blocks: vec![] }, 2, 8);
        small.fetch(&[0], |_, count| (1..=count).collect());
        small.fetch(&[0, 4], |_, _| vec![6]);
        assert!(small.contains(0) && small.contains(4) && !small.contains(1));
    }
}
