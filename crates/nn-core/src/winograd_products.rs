//! Winograd's products at one position, `M_ξ = U_ξ V_ξ` forward and `∂V_ξ = U_ξᵀ ∂M_ξ`
//! backward: a matrix of `outputs × inputs` times one column of `inputs` values per tile.
//!
//! They go to the dense layers' affine kernel (`affine.rs`), except where the outputs are one
//! vector exactly (16 filters or channels with AVX-512, 8 with AVX2: saito-deep's 16-channel
//! layers). There the affine kernel's general tiles, with their copied strips, masked loads and
//! blocks of inputs, ran the products at about half the rate of a kernel written for the shape:
//! each tile of 8 columns holds its 8 sums in registers, the matrix's columns are read in
//! place, and each column's value is broadcast to one multiply-add. The operations are the
//! affine kernel's, in its order (`z = 0`, then `z = fma(U[:, k], v[k], z)` for `k = 0, 1, …`,
//! stored as `z + 0`), so either kernel gives the same bits.

use pulp::{Simd, WithSimd};

use crate::affine::{Columns, affine_strided};
use crate::vector_slices::{Lanes, store};

/// Tiles whose sums a register tile holds.
const TILES: usize = 8;

/// `M = U V` for `tiles` columns of `v`, into columns of `m` that lie `m_stride` values apart;
/// `u` is `outputs × inputs` column-major, with `outputs` given by `zeros` (its bias, all zero).
pub(crate) fn products(u: &[f32], zeros: &[f32], v: Columns<'_>, tiles: usize, m: &mut [f32], m_stride: usize) {
    let outputs = zeros.len();
    if outputs != pulp::Arch::new().dispatch(Lanes) {
        affine_strided(u, zeros, v, tiles, m, m_stride);
        return;
    }
    let inputs = u.len() / outputs;
    assert!(u.len() == outputs * inputs && v.stride >= inputs && m_stride >= outputs);
    assert!(tiles == 0 || v.values.len() >= (tiles - 1) * v.stride + inputs);
    assert!(tiles == 0 || m.len() >= (tiles - 1) * m_stride + outputs);
    pulp::Arch::new().dispatch(OneVector { u, inputs, v, tiles, m, m_stride });
}

struct OneVector<'a> {
    u: &'a [f32],
    inputs: usize,
    v: Columns<'a>,
    tiles: usize,
    m: &'a mut [f32],
    m_stride: usize,
}

impl WithSimd for OneVector<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(mut self, simd: S) {
        let mut tile = 0;
        while tile + TILES <= self.tiles {
            self.tile::<S, TILES>(simd, tile);
            tile += TILES;
        }
        while tile < self.tiles {
            self.tile::<S, 1>(simd, tile);
            tile += 1;
        }
    }
}

impl OneVector<'_> {
    /// Columns `first..first + C` of `M`.
    #[inline(always)]
    fn tile<S: Simd, const C: usize>(&mut self, simd: S, first: usize) {
        let zero = simd.splat_f32s(0.0);
        let (u, _) = S::as_simd_f32s(self.u);
        let columns: [&[f32]; C] = std::array::from_fn(|c| self.v.column(first + c, self.inputs));
        let mut sums = [zero; C];
        for (k, &u_k) in u.iter().enumerate() {
            for (sum, column) in sums.iter_mut().zip(&columns) {
                *sum = simd.mul_add_e_f32s(u_k, simd.splat_f32s(column[k]), *sum);
            }
        }
        // Stored as `z + 0`, as the affine kernel stores its sums.
        for (c, &sum) in sums.iter().enumerate() {
            let at = (first + c) * self.m_stride;
            store(simd, &mut self.m[at..at + S::F32_LANES], simd.add_f32s(sum, zero));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::affine::tests::values;

    #[test]
    fn one_vector_of_outputs_gives_the_bits_of_the_affine_kernel() {
        let lanes = pulp::Arch::new().dispatch(Lanes);
        // Tiles in whole register tiles and not, columns side by side and apart, inputs of a
        // block and of more than one (the affine kernel's blocks are 128 inputs), zeros of
        // both signs in the columns.
        for (inputs, tiles, v_extra, m_extra) in [(16, 196, 560, 560), (32, 13, 0, 0), (5, 1, 3, 0), (300, 9, 7, 16)] {
            let u = values(lanes * inputs, 1.0);
            let v_stride = inputs + v_extra;
            let mut v = values(tiles * v_stride, 2.0);
            v.iter_mut().step_by(5).for_each(|x| *x = 0.0);
            v.iter_mut().step_by(7).for_each(|x| *x = -0.0);
            let m_stride = lanes + m_extra;
            let zeros = vec![0.0; lanes];
            let (mut ours, mut affine) = (vec![f32::NAN; tiles * m_stride], vec![f32::NAN; tiles * m_stride]);
            products(&u, &zeros, Columns { values: &v, stride: v_stride }, tiles, &mut ours, m_stride);
            affine_strided(&u, &zeros, Columns { values: &v, stride: v_stride }, tiles, &mut affine, m_stride);
            let bits = |m: &[f32]| m.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ours), bits(&affine), "{inputs} inputs, {tiles} tiles");
        }
    }
}
