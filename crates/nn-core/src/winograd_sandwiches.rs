//! Where Winograd's tiles lie in memory and how a transform runs over them (`winograd.rs`):
//! a [`Square`] of vectors (a tile of an image, a transformed tile, a kernel) and the
//! [`Sandwiches`] `L X Lᵀ` of one of the constant matrices of `winograd_transforms.rs` around
//! each square of a pass, with the processor's widest vectors through `pulp`. A square at an
//! image's edge holds only the positions inside it; one held whole, of whole vectors, is read and
//! written with no test at all.

use std::marker::PhantomData;

use pulp::{Simd, WithSimd};

use crate::vector_slices::{load, store};
use crate::winograd_transforms::{OUT, OutputGradTransform, OutputTransform, POSITIONS, TILE, Transform, unrolled};

/// Where the vectors of one square (a tile, or its transform) lie: `[i][j]` starts at
/// `base + i · row + j · column`, for `first_row ≤ i < rows` and `first_column ≤ j < columns`;
/// elsewhere the square is zeros (as a source) or not stored (as a target). A tile that starts
/// in an image's padding has its origin before the image: `base` then wraps around, and only
/// the positions inside are ever computed from it.
#[derive(Clone, Copy)]
pub(crate) struct Square {
    pub(crate) base: usize,
    pub(crate) row: usize,
    pub(crate) column: usize,
    pub(crate) first_row: usize,
    pub(crate) rows: usize,
    pub(crate) first_column: usize,
    pub(crate) columns: usize,
}

impl Square {
    /// A square with every position present.
    pub(crate) fn whole(base: usize, row: usize, column: usize) -> Self {
        Square { base, row, column, first_row: 0, rows: usize::MAX, first_column: 0, columns: usize::MAX }
    }

    /// Position `(i, j)` of transformed tile `tile`, stored tile by tile, each tile's 36
    /// positions side by side: `(tile · 36 + i · 6 + j) · len` (see [`at_position`]).
    pub(crate) fn transformed(tile: usize, len: usize) -> Self {
        Square::whole(tile * POSITIONS * len, TILE * len, len)
    }
}

/// Where position `position` of the first transformed tile starts, and the values from one
/// tile's vector to the next's: a product reads and writes each position's vectors 36 vectors
/// apart, so that a transform reads and writes a tile's 36 vectors side by side. (Stored
/// position by position instead, a transform wrote to 36 places a chunk apart, and saito-deep's
/// epoch took 4% longer on the AMD EPYC.)
pub(crate) fn at_position(position: usize, len: usize) -> (usize, usize) {
    (position * len, POSITIONS * len)
}

/// What a sandwich does with each vector of its result before storing it in the target.
#[derive(Clone, Copy)]
pub(crate) enum Finish<'a> {
    /// Stores it as it is.
    Store,
    /// Adds it to what the target holds.
    Add,
    /// Adds the bias (one value per lane: `len` values), then, with `relu`, takes `max(0, ·)`:
    /// a convolution's output made while its tile is in registers, the same operations as the
    /// separate passes (`z += b`, then ReLU's `z.max(0.0)`).
    Bias { bias: &'a [f32], relu: bool },
}

/// `count` sandwiches `L X Lᵀ` (`L` is `O × I`) of squares of vectors of `len` values: `X` lies
/// in `source` where `source_at(n)` says, the result goes to `target` where `target_at(n)` says,
/// as `finish` says.
pub(crate) struct Sandwiches<'a, const I: usize, const O: usize, L, Source, Target> {
    pub(crate) coefficients: PhantomData<L>,
    pub(crate) count: usize,
    pub(crate) len: usize,
    pub(crate) source: &'a [f32],
    pub(crate) source_at: Source,
    pub(crate) target: &'a mut [f32],
    pub(crate) target_at: Target,
    pub(crate) finish: Finish<'a>,
}

impl<const I: usize, const O: usize, L, Source, Target> WithSimd for Sandwiches<'_, I, O, L, Source, Target>
where
    L: Transform<I, O>,
    Source: Fn(usize) -> Square,
    Target: Fn(usize) -> Square,
{
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Sandwiches { count, len, source, source_at, target, target_at, finish, .. } = self;
        let lanes = S::F32_LANES;
        if len.is_multiple_of(lanes) {
            // Every square of the passes starts and steps by multiples of `len`, so each vector
            // is a whole one of the slices seen as vectors, read and written without the tests
            // of a partial vector; and a square held whole (a tile inside the image) without
            // the tests of which positions are held.
            let (source, _) = S::as_simd_f32s(source);
            let (target, _) = S::as_mut_simd_f32s(target);
            let bias = match finish {
                Finish::Bias { bias, .. } => S::as_simd_f32s(bias).0,
                _ => &[],
            };
            for n in 0..count {
                let (from, to) = (source_at(n).in_vectors(lanes), target_at(n).in_vectors(lanes));
                for v in 0..len / lanes {
                    let bias = bias.get(v).copied().unwrap_or(simd.splat_f32s(0.0));
                    let read = |at: usize| source[at + v];
                    let write = |at: usize, value| {
                        let slot = &mut target[at + v];
                        *slot = finished(simd, finish, value, || *slot, bias);
                    };
                    match (from.held_whole::<I>(), to.held_whole::<O>()) {
                        (Some(from), Some(to)) => sandwich::<S, I, O, L>(simd, from, to, read, write),
                        (Some(from), None) => sandwich::<S, I, O, L>(simd, from, to, read, write),
                        (None, Some(to)) => sandwich::<S, I, O, L>(simd, from, to, read, write),
                        (None, None) => sandwich::<S, I, O, L>(simd, from, to, read, write),
                    }
                }
            }
            return;
        }
        for n in 0..count {
            let (from, to) = (source_at(n), target_at(n));
            for start in (0..len).step_by(lanes) {
                let width = lanes.min(len - start);
                let bias = match finish {
                    Finish::Bias { bias, .. } => load(simd, &bias[start..start + width]),
                    _ => simd.splat_f32s(0.0),
                };
                let read = |at: usize| load(simd, &source[at + start..at + start + width]);
                sandwich::<S, I, O, L>(simd, from, to, read, |at, value| {
                    let slot = &mut target[at + start..at + start + width];
                    let value = finished(simd, finish, value, || load(simd, slot), bias);
                    store(simd, slot, value);
                });
            }
        }
    }
}

/// Which positions of a square are held, and where each lies.
trait Positions: Copy {
    /// Whether position `(i, j)` is stored.
    fn holds(&self, i: usize, j: usize) -> bool;
    /// Where position `(i, j)` starts, if it is stored.
    fn at(&self, i: usize, j: usize) -> usize;
}

impl Positions for Square {
    #[inline(always)]
    fn holds(&self, i: usize, j: usize) -> bool {
        (self.first_row..self.rows).contains(&i) && (self.first_column..self.columns).contains(&j)
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> usize {
        self.base.wrapping_add(i * self.row + j * self.column)
    }
}

/// A square with all its positions held, and none of the padding before it.
#[derive(Clone, Copy)]
struct Whole {
    base: usize,
    row: usize,
    column: usize,
}

impl Positions for Whole {
    #[inline(always)]
    fn holds(&self, _: usize, _: usize) -> bool {
        true
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> usize {
        self.base + i * self.row + j * self.column
    }
}

impl Square {
    /// The square counted in vectors of `lanes` values (each of its offsets a multiple of
    /// `lanes`; a base before the image stays before it).
    #[inline(always)]
    fn in_vectors(self, lanes: usize) -> Square {
        let base = (self.base as isize / lanes as isize) as usize;
        Square { base, row: self.row / lanes, column: self.column / lanes, ..self }
    }

    /// The square as [`Whole`], if it holds all `N × N` positions.
    #[inline(always)]
    fn held_whole<const N: usize>(&self) -> Option<Whole> {
        let whole = self.first_row == 0 && self.first_column == 0 && self.rows >= N && self.columns >= N;
        whole.then_some(Whole { base: self.base, row: self.row, column: self.column })
    }
}

/// One sandwich `L X Lᵀ` of one vector of each position: `X[i][j]` is `read(from.at(i, j))`
/// where `from` holds it (zeros elsewhere), and each result that `to` holds is handed to
/// `write(to.at(a, b), value)`.
#[inline(always)]
fn sandwich<S: Simd, const I: usize, const O: usize, L: Transform<I, O>>(
    simd: S,
    from: impl Positions,
    to: impl Positions,
    read: impl Fn(usize) -> S::f32s,
    mut write: impl FnMut(usize, S::f32s),
) {
    let zero = simd.splat_f32s(0.0);
    // (L X) Lᵀ: each column of X, then each row of L X.
    let mut left = [[zero; I]; O];
    unrolled!(I, |j| {
        let mut column = [zero; I];
        unrolled!(I, |i| if from.holds(i, j) {
            column[i] = read(from.at(i, j));
        });
        let column = L::apply(simd, column);
        unrolled!(O, |a| left[a][j] = column[a]);
    });
    unrolled!(O, |a| {
        let row = L::apply(simd, left[a]);
        unrolled!(O, |b| if to.holds(a, b) {
            write(to.at(a, b), row[b]);
        });
    });
}

/// `Y = max(0, Aᵀ M A + b)` of vector `v` of transformed tile `tile` of `m` (each position
/// `vectors` vectors), in registers: the outputs of a ReLU convolution's tile, for a pass that
/// uses them where they are (`winograd_pool.rs`), the bits that [`Sandwiches`] stores.
#[inline(always)]
pub(crate) fn relu_outputs<S: Simd>(
    simd: S,
    m: &[S::f32s],
    (tile, vectors, v): (usize, usize, usize),
    bias: S::f32s,
) -> [[S::f32s; OUT]; OUT] {
    let from = Whole { base: tile * POSITIONS * vectors, row: TILE * vectors, column: vectors };
    let to = Whole { base: 0, row: OUT, column: 1 };
    let finish = Finish::Bias { bias: &[], relu: true };
    let mut y = [[simd.splat_f32s(0.0); OUT]; OUT];
    sandwich::<S, TILE, OUT, OutputTransform>(
        simd,
        from,
        to,
        |at| m[at + v],
        |at, value| {
            y[at / OUT][at % OUT] = finished(simd, finish, value, || value, bias);
        },
    );
    y
}

/// `∂M = A δZ Aᵀ` of a tile's output gradient `delta` held in registers, stored as vector `v`
/// of transformed tile `tile` of `m_grad` (each position `vectors` vectors): the bits that
/// [`Sandwiches`] stores from the same `δZ` in memory (`winograd_pool.rs`).
#[inline(always)]
pub(crate) fn output_grad_products<S: Simd>(
    simd: S,
    delta: &[[S::f32s; OUT]; OUT],
    m_grad: &mut [S::f32s],
    (tile, vectors, v): (usize, usize, usize),
) {
    let from = Whole { base: 0, row: OUT, column: 1 };
    let to = Whole { base: tile * POSITIONS * vectors, row: TILE * vectors, column: vectors };
    sandwich::<S, OUT, TILE, OutputGradTransform>(
        simd,
        from,
        to,
        |at| delta[at / OUT][at % OUT],
        |at, value| m_grad[at + v] = value,
    );
}

/// What `finish` makes of a result `value` for a target that holds `current()`; `bias` is the
/// bias of its lanes (read only by [`Finish::Bias`]).
#[inline(always)]
fn finished<S: Simd>(
    simd: S,
    finish: Finish<'_>,
    value: S::f32s,
    current: impl FnOnce() -> S::f32s,
    bias: S::f32s,
) -> S::f32s {
    match finish {
        Finish::Store => value,
        Finish::Add => simd.add_f32s(value, current()),
        Finish::Bias { relu, .. } => {
            let z = simd.add_f32s(value, bias);
            if relu { simd.max_f32s(z, simd.splat_f32s(0.0)) } else { z }
        }
    }
}
