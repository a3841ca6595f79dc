//! A growable buffer of `f32` whose values start on a 64-byte boundary: a scratch buffer that
//! the passes keep between batches.
//!
//! Why: the kernels read and write whole vectors (64 bytes with AVX-512) at offsets that are
//! multiples of the vector when a layer has 16, 32 or 64 channels. A `Vec<f32>` of more than
//! 128 KB comes from the allocator 16 bytes past a page boundary, so each of those vectors then
//! straddles two cache lines, and every load and store touches both. Starting the values on a
//! cache line makes each vector one line (measured on saito-deep, AMD EPYC: an epoch 8% shorter;
//! `docs/benchmarks.md`).
//!
//! Safe code only: the buffer holds [`SLACK`] values more than asked and starts its slice where
//! the allocation meets a 64-byte boundary. The values keep their order and contents when it
//! grows or is cloned; only where they lie in the allocation moves.

use std::ops::{Deref, DerefMut};

/// Bytes of a cache line, the alignment of the values.
const LINE: usize = 64;
/// Values more than asked for: an allocation is 4-byte aligned at least, so the boundary is at
/// most 15 values in.
const SLACK: usize = LINE / size_of::<f32>() - 1;

/// `len` values starting at a 64-byte boundary of `storage`.
#[derive(Default)]
pub(crate) struct AlignedBuffer {
    storage: Vec<f32>,
    len: usize,
}

impl AlignedBuffer {
    /// An empty buffer; it allocates when first sized.
    pub(crate) const fn new() -> Self {
        AlignedBuffer { storage: Vec::new(), len: 0 }
    }

    /// Where the values start in `storage`.
    fn start(&self) -> usize {
        if self.storage.is_empty() { 0 } else { self.storage.as_ptr().align_offset(LINE).min(SLACK) }
    }

    /// The first `len` values, growing the buffer if needed (keeping the values it holds) but
    /// never shrinking it.
    pub(crate) fn sized(&mut self, len: usize) -> &mut [f32] {
        if self.len < len {
            let before = self.start();
            self.storage.resize(len + SLACK, 0.0);
            let after = self.start();
            if after != before {
                self.storage.copy_within(before..before + self.len, after);
            }
            self.len = len;
        }
        let start = self.start();
        &mut self.storage[start..start + len]
    }
}

impl Deref for AlignedBuffer {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        let start = self.start();
        &self.storage[start..start + self.len]
    }
}

impl DerefMut for AlignedBuffer {
    fn deref_mut(&mut self) -> &mut [f32] {
        let start = self.start();
        &mut self.storage[start..start + self.len]
    }
}

impl Clone for AlignedBuffer {
    fn clone(&self) -> Self {
        let mut copy = AlignedBuffer::default();
        copy.sized(self.len).copy_from_slice(self);
        copy
    }
}

impl std::fmt::Debug for AlignedBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuffer").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_aligned(values: &[f32]) -> bool {
        values.as_ptr().align_offset(LINE) == 0
    }

    #[test]
    fn values_start_on_a_cache_line_and_survive_growth_and_cloning() {
        let mut buffer = AlignedBuffer::default();
        assert!(buffer.is_empty());
        let mut len = 0;
        for grow in [1, 7, 100, 40_000, 3, 1 << 20] {
            let values = buffer.sized(grow);
            assert!(is_aligned(values) && values.len() == grow);
            // The values written before the buffer grew are still there, in order.
            for (i, &v) in values.iter().take(len).enumerate() {
                assert_eq!(v, i as f32);
            }
            for (i, v) in values.iter_mut().enumerate() {
                *v = i as f32;
            }
            len = len.max(grow);
        }
        assert_eq!(buffer.len(), 1 << 20);
        let copy = buffer.clone();
        assert!(is_aligned(&copy) && copy[..] == buffer[..]);
    }
}
