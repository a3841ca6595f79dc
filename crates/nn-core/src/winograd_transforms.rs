//! The transforms of Winograd's F(4x4, 3x3): the constant matrices `Bᵀ`, `G` and `Aᵀ`, and the
//! product of each with a vector of vectors, its coefficients compiled into the code so that
//! zeros and ±1 cost nothing (`winograd_sandwiches.rs` runs them over a convolution's tiles).

use pulp::Simd;

/// Outputs per side of a tile.
pub(crate) const OUT: usize = 4;
/// Inputs per side of a tile: `OUT + 3 − 1`.
pub(crate) const TILE: usize = 6;
/// Positions of a transformed tile: the number of products per pass.
pub(crate) const POSITIONS: usize = TILE * TILE;

/// `Bᵀ`: a tile `d` becomes `Bᵀ d B`.
const B_T: [[f32; TILE]; TILE] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// `G`: a 3x3 kernel `g` becomes `G g Gᵀ`.
const G: [[f32; 3]; TILE] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `Aᵀ`: a transformed product `m` becomes the 4x4 outputs `Aᵀ m A`.
const A_T: [[f32; TILE]; OUT] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// `body` for `index = 0, 1, …, n − 1` (`n` at most 6), written out: with every index a
/// constant, the coefficients `L[a][i]` are constants, and a zero or ±1 costs nothing.
macro_rules! unrolled {
    ($n:expr, |$index:ident| $body:expr) => {{
        unrolled!(@ $n, $index, $body, 0 1 2 3 4 5)
    }};
    (@ $n:expr, $index:ident, $body:expr, $($value:literal)*) => {{
        $(
            #[allow(clippy::reversed_empty_ranges, unused_comparisons)]
            if $value < $n {
                let $index = $value;
                $body;
            }
        )*
    }};
}
pub(crate) use unrolled;

const B: [[f32; TILE]; TILE] = transpose(B_T);
const G_T: [[f32; TILE]; 3] = transpose(G);
const A: [[f32; OUT]; TILE] = transpose(A_T);

const fn transpose<const R: usize, const C: usize>(m: [[f32; C]; R]) -> [[f32; R]; C] {
    let mut t = [[0.0; R]; C];
    let mut r = 0;
    while r < R {
        let mut c = 0;
        while c < C {
            t[c][r] = m[r][c];
            c += 1;
        }
        r += 1;
    }
    t
}

/// A constant matrix `L` of `O × I` coefficients, as a type, and its product `y = L x` with a
/// vector of `I` vectors: each sandwich is compiled with its coefficients in the code, so that
/// zeros and ±1 cost nothing.
pub(crate) trait Transform<const I: usize, const O: usize> {
    const L: [[f32; I]; O];

    /// `y = L x`, row by row (see `combine`). The four transforms of the tiles, which run for
    /// every tile of every pass, share terms between rows instead (written out below).
    #[inline(always)]
    fn apply<S: Simd>(simd: S, x: [S::f32s; I]) -> [S::f32s; O] {
        let mut y = [simd.splat_f32s(0.0); O];
        unrolled!(O, |row| y[row] = combine::<S, I, O, Self>(simd, row, |i| x[i]));
        y
    }
}

macro_rules! transform {
    ($($name:ident: $i:expr, $o:expr, $matrix:expr;)*) => {$(
        pub(crate) struct $name;
        impl Transform<$i, $o> for $name {
            const L: [[f32; $i]; $o] = $matrix;
        }
    )*};
}

transform! {
    KernelTransform: 3, TILE, G;
    KernelGradTransform: TILE, 3, G_T;
}

pub(crate) struct InputTransform;
pub(crate) struct InputGradTransform;
pub(crate) struct OutputTransform;
pub(crate) struct OutputGradTransform;

/// `c · x + y` with the constant `c`.
#[inline(always)]
fn fma<S: Simd>(simd: S, c: f32, x: S::f32s, y: S::f32s) -> S::f32s {
    simd.mul_add_e_f32s(simd.splat_f32s(c), x, y)
}

impl Transform<TILE, TILE> for InputTransform {
    const L: [[f32; TILE]; TILE] = B_T;

    /// `Bᵀ d` in 12 operations instead of 22: rows 1 and 2 are `(d₄ − 4d₂) ± (d₃ − 4d₁)`, rows
    /// 3 and 4 `(d₄ − d₂) ± 2 (d₃ − d₁)`.
    #[inline(always)]
    fn apply<S: Simd>(simd: S, d: [S::f32s; TILE]) -> [S::f32s; TILE] {
        let (t1, t2) = (fma(simd, -4.0, d[2], d[4]), fma(simd, -4.0, d[1], d[3]));
        let (t3, t4) = (simd.sub_f32s(d[4], d[2]), simd.sub_f32s(d[3], d[1]));
        [
            fma(simd, 4.0, d[0], fma(simd, -5.0, d[2], d[4])),
            simd.add_f32s(t1, t2),
            simd.sub_f32s(t1, t2),
            fma(simd, 2.0, t4, t3),
            fma(simd, -2.0, t4, t3),
            fma(simd, 4.0, d[1], fma(simd, -5.0, d[3], d[5])),
        ]
    }
}

impl Transform<TILE, TILE> for InputGradTransform {
    const L: [[f32; TILE]; TILE] = B;

    /// `B x` in 15 operations instead of 22, from `a = x₁ − x₂`, `b = x₃ − x₄`, `c = x₁ + x₂`
    /// and `e = x₃ + x₄`.
    #[inline(always)]
    fn apply<S: Simd>(simd: S, x: [S::f32s; TILE]) -> [S::f32s; TILE] {
        let (a, b) = (simd.sub_f32s(x[1], x[2]), simd.sub_f32s(x[3], x[4]));
        let (c, e) = (simd.add_f32s(x[1], x[2]), simd.add_f32s(x[3], x[4]));
        let four_x0 = simd.mul_f32s(simd.splat_f32s(4.0), x[0]);
        [
            four_x0,
            // 4 (x₅ − a) − 2b
            fma(simd, 4.0, simd.sub_f32s(x[5], a), simd.mul_f32s(simd.splat_f32s(-2.0), b)),
            // −5x₀ − 4c − e
            simd.sub_f32s(fma(simd, -4.0, c, simd.mul_f32s(simd.splat_f32s(-5.0), x[0])), e),
            // a + 2b − 5x₅
            fma(simd, -5.0, x[5], fma(simd, 2.0, b, a)),
            simd.add_f32s(simd.add_f32s(x[0], c), e),
            x[5],
        ]
    }
}

impl Transform<TILE, OUT> for OutputTransform {
    const L: [[f32; TILE]; OUT] = A_T;

    /// `Aᵀ m` in 10 operations instead of 18, from `m₁ ± m₂` and `m₃ ± m₄`.
    #[inline(always)]
    fn apply<S: Simd>(simd: S, m: [S::f32s; TILE]) -> [S::f32s; OUT] {
        let (a, b) = (simd.add_f32s(m[1], m[2]), simd.sub_f32s(m[1], m[2]));
        let (c, d) = (simd.add_f32s(m[3], m[4]), simd.sub_f32s(m[3], m[4]));
        [
            simd.add_f32s(simd.add_f32s(m[0], a), c),
            fma(simd, 2.0, d, b),
            fma(simd, 4.0, c, a),
            fma(simd, 8.0, d, simd.add_f32s(b, m[5])),
        ]
    }
}

impl Transform<OUT, TILE> for OutputGradTransform {
    const L: [[f32; OUT]; TILE] = A;

    /// `A x` in 8 operations instead of 18: rows 1 and 2 are `(x₀ + x₂) ± (x₁ + x₃)`, rows 3
    /// and 4 `(x₀ + 4x₂) ± 2 (x₁ + 4x₃)`.
    #[inline(always)]
    fn apply<S: Simd>(simd: S, x: [S::f32s; OUT]) -> [S::f32s; TILE] {
        let (p, q) = (simd.add_f32s(x[0], x[2]), simd.add_f32s(x[1], x[3]));
        let (r, s) = (fma(simd, 4.0, x[2], x[0]), fma(simd, 4.0, x[3], x[1]));
        [x[0], simd.add_f32s(p, q), simd.sub_f32s(p, q), fma(simd, 2.0, s, r), fma(simd, -2.0, s, r), x[3]]
    }
}

/// `Σᵢ L[row][i] · x(i)`, skipping zero coefficients and multiplying by none of ±1.
#[inline(always)]
fn combine<S: Simd, const I: usize, const O: usize, L: Transform<I, O> + ?Sized>(
    simd: S,
    row: usize,
    x: impl Fn(usize) -> S::f32s,
) -> S::f32s {
    let mut sum = simd.splat_f32s(0.0);
    unrolled!(I, |i| {
        let c = L::L[row][i];
        if c == 1.0 {
            sum = simd.add_f32s(sum, x(i));
        } else if c == -1.0 {
            sum = simd.sub_f32s(sum, x(i));
        } else if c != 0.0 {
            sum = simd.mul_add_e_f32s(simd.splat_f32s(c), x(i), sum);
        }
    });
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In one dimension, `Aᵀ [(G g) ⊙ (Bᵀ d)]` is the correlation `yᵢ = Σₖ d[i + k] g[k]`.
    #[test]
    fn the_matrices_compute_a_correlation() {
        let d = [0.3f64, -1.2, 2.5, 0.7, -0.4, 1.9];
        let g = [0.8f64, -0.6, 1.1];
        let gg: Vec<f64> = G.iter().map(|row| row.iter().zip(&g).map(|(&a, b)| f64::from(a) * b).sum()).collect();
        let bd: Vec<f64> = B_T.iter().map(|row| row.iter().zip(&d).map(|(&a, b)| f64::from(a) * b).sum()).collect();
        for (i, row) in A_T.iter().enumerate() {
            let y: f64 = row.iter().enumerate().map(|(k, &a)| f64::from(a) * gg[k] * bd[k]).sum();
            let want: f64 = (0..3).map(|k| d[i + k] * g[k]).sum();
            assert!((y - want).abs() < 1e-6, "output {i}: {y} vs {want}");
        }
    }

    /// Each transform, as written out, against the product with its matrix.
    #[test]
    fn the_transforms_multiply_by_their_matrices() {
        fn check<const I: usize, const O: usize, T: Transform<I, O>>(name: &str) {
            let simd = pulp::Scalar::new();
            for seed in 0..20 {
                let x: [f32; I] = std::array::from_fn(|i| values(I, seed)[i] * 3.0);
                let y = T::apply(simd, x);
                for (row, coefficients) in T::L.iter().enumerate() {
                    let want: f64 = coefficients.iter().zip(&x).map(|(&c, &x)| f64::from(c) * f64::from(x)).sum();
                    let scale = 1.0 + coefficients.iter().zip(&x).map(|(&c, &x)| f64::from((c * x).abs())).sum::<f64>();
                    assert!((f64::from(y[row]) - want).abs() < 1e-6 * scale, "{name} row {row}: {} vs {want}", y[row]);
                }
            }
        }
        check::<TILE, TILE, InputTransform>("Bᵀ");
        check::<TILE, TILE, InputGradTransform>("B");
        check::<TILE, OUT, OutputTransform>("Aᵀ");
        check::<OUT, TILE, OutputGradTransform>("A");
        check::<3, TILE, KernelTransform>("G");
        check::<TILE, 3, KernelGradTransform>("Gᵀ");
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i + seed) * 7919 % 2003) as f32 / 1001.5) - 1.0).collect()
    }
}
