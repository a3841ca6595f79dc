//! Winograd's products at one position, `M_ξ = U_ξ V_ξ` forward and `∂V_ξ = U_ξᵀ ∂M_ξ`
//! backward: a matrix of `outputs × inputs` times one column of `inputs` values per tile.
//!
//! Where the outputs are 1, 2 or 4 whole vectors (16, 32 or 64 filters or channels with
//! AVX-512), a kernel written for the shape computes them: a register tile holds the sums of 8
//! columns of one or two vectors, or of 4 columns of four (with AVX2, which has half the
//! registers: 8, 4 and 2), while the matrix's columns go by, read in place, and each column's
//! value is broadcast to the tile's multiply-adds. The dense layers' affine kernel (`affine.rs`),
//! with its copied strips, masked loads and blocks of inputs, computes the other shapes; on
//! saito-deep's second convolution (16 → 16 channels) the whole forward pass took 1.61 ms a
//! batch of 100 with it and 1.30 ms with this kernel (one thread, AMD EPYC). The operations are
//! the affine kernel's, in its order (`z = 0`, then `z = fma(U[:, k], v[k], z)` for
//! `k = 0, 1, …`, stored as `z + 0`), so either kernel gives the same bits.

use pulp::{Simd, WithSimd};

use crate::affine::{Columns, affine_strided};
use crate::vector_slices::{Lanes, store};

/// `M = U V` for `tiles` columns of `v`, into columns of `m` that lie `m_stride` values apart;
/// `u` is `outputs × inputs` column-major, with `outputs` given by `zeros` (its bias, all zero).
pub(crate) fn products(u: &[f32], zeros: &[f32], v: Columns<'_>, tiles: usize, m: &mut [f32], m_stride: usize) {
    let outputs = zeros.len();
    let lanes = pulp::Arch::new().dispatch(Lanes);
    let vectors = match outputs / lanes {
        v @ (1 | 2 | 4) if outputs.is_multiple_of(lanes) => v,
        _ => return affine_strided(u, zeros, v, tiles, m, m_stride),
    };
    let inputs = u.len() / outputs;
    assert!(u.len() == outputs * inputs && v.stride >= inputs && m_stride >= outputs);
    assert!(tiles == 0 || v.values.len() >= (tiles - 1) * v.stride + inputs);
    assert!(tiles == 0 || m.len() >= (tiles - 1) * m_stride + outputs);
    pulp::Arch::new().dispatch(Vectors { u, inputs, vectors, v, tiles, m, m_stride });
}

struct Vectors<'a> {
    u: &'a [f32],
    inputs: usize,
    vectors: usize,
    v: Columns<'a>,
    tiles: usize,
    m: &'a mut [f32],
    m_stride: usize,
}

impl WithSimd for Vectors<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(mut self, simd: S) {
        // At least 8 sums in flight (an FMA's latency times the two FMA units), and room left
        // for the matrix's column and the broadcast value: 16 of the 32 registers of AVX-512
        // at most, 8 of AVX2's 16.
        let wide = S::F32_LANES >= 16;
        match (self.vectors, wide) {
            (1, _) => self.run::<S, 1, 8>(simd),
            (2, true) => self.run::<S, 2, 8>(simd),
            (2, false) => self.run::<S, 2, 4>(simd),
            (_, true) => self.run::<S, 4, 4>(simd),
            (_, false) => self.run::<S, 4, 2>(simd),
        }
    }
}

impl Vectors<'_> {
    /// `V` vectors of outputs, register tiles of `C` columns, then the last columns one at a
    /// time.
    #[inline(always)]
    fn run<S: Simd, const V: usize, const C: usize>(&mut self, simd: S) {
        let mut tile = 0;
        while tile + C <= self.tiles {
            self.tile::<S, V, C>(simd, tile);
            tile += C;
        }
        while tile < self.tiles {
            self.tile::<S, V, 1>(simd, tile);
            tile += 1;
        }
    }

    /// Columns `first..first + C` of `M`.
    #[inline(always)]
    fn tile<S: Simd, const V: usize, const C: usize>(&mut self, simd: S, first: usize) {
        let zero = simd.splat_f32s(0.0);
        let (u, _) = S::as_simd_f32s(self.u);
        let columns: [&[f32]; C] = std::array::from_fn(|c| self.v.column(first + c, self.inputs));
        let mut sums = [[zero; V]; C];
        for (k, u_k) in u.chunks_exact(V).enumerate() {
            for (sum, column) in sums.iter_mut().zip(&columns) {
                let x = simd.splat_f32s(column[k]);
                for (s, &u_kv) in sum.iter_mut().zip(u_k) {
                    *s = simd.mul_add_e_f32s(u_kv, x, *s);
                }
            }
        }
        // Stored as `z + 0`, as the affine kernel stores its sums.
        for (c, sum) in sums.iter().enumerate() {
            for (v, &s) in sum.iter().enumerate() {
                let at = (first + c) * self.m_stride + v * S::F32_LANES;
                store(simd, &mut self.m[at..at + S::F32_LANES], simd.add_f32s(s, zero));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::affine::tests::values;

    #[test]
    fn whole_vectors_of_outputs_give_the_bits_of_the_affine_kernel() {
        let lanes = pulp::Arch::new().dispatch(Lanes);
        // 1, 2 and 4 vectors of outputs (and 3, which the affine kernel computes); tiles in
        // whole register tiles and not, columns side by side and apart, inputs of one block and
        // of more than one (the affine kernel's blocks are 128 inputs), zeros of both signs.
        let shapes = [(16, 196, 560, 560), (32, 13, 0, 0), (5, 1, 3, 0), (300, 9, 7, 16), (64, 23, 100, 0)];
        for vectors in 1..=4 {
            let outputs = vectors * lanes;
            for (inputs, tiles, v_extra, m_extra) in shapes {
                let u = values(outputs * inputs, 1.0);
                let v_stride = inputs + v_extra;
                let mut v = values(tiles * v_stride, 2.0);
                v.iter_mut().step_by(5).for_each(|x| *x = 0.0);
                v.iter_mut().step_by(7).for_each(|x| *x = -0.0);
                let m_stride = outputs + m_extra;
                let zeros = vec![0.0; outputs];
                let (mut ours, mut affine) = (vec![f32::NAN; tiles * m_stride], vec![f32::NAN; tiles * m_stride]);
                products(&u, &zeros, Columns { values: &v, stride: v_stride }, tiles, &mut ours, m_stride);
                affine_strided(&u, &zeros, Columns { values: &v, stride: v_stride }, tiles, &mut affine, m_stride);
                let first_difference = |ours: &[f32], affine: &[f32]| {
                    ours.iter().zip(affine).position(|(a, b)| a.to_bits() != b.to_bits())
                };
                let at = first_difference(&ours, &affine);
                assert_eq!(at, None, "{outputs} outputs, {inputs} inputs, {tiles} tiles");
                // The register tiles for AVX2, 8 lanes (an FMA rounds once whatever the width of
                // its vector, so they give the bits of the affine kernel on any machine).
                #[cfg(target_arch = "x86_64")]
                if let (Some(simd), true) = (pulp::x86::V3::try_new(), vectors != 3) {
                    let outputs = vectors * 8;
                    let (u, m_stride) = (values(outputs * inputs, 1.0), outputs + m_extra);
                    let (mut ours, mut affine) = (vec![f32::NAN; tiles * m_stride], vec![f32::NAN; tiles * m_stride]);
                    let columns = || Columns { values: &v, stride: v_stride };
                    let kernel = Vectors { u: &u, inputs, vectors, v: columns(), tiles, m: &mut ours, m_stride };
                    simd.vectorize(|| kernel.with_simd(simd));
                    affine_strided(&u, &vec![0.0; outputs], columns(), tiles, &mut affine, m_stride);
                    let at = first_difference(&ours, &affine);
                    assert_eq!(at, None, "AVX2, {outputs} outputs, {inputs} inputs, {tiles} tiles");
                }
            }
        }
    }
}
