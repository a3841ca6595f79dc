//! Sequential minimal optimisation of a two-class soft-margin SVM, as libsvm solves C-SVC.
//!
//! The dual: minimise `½ αᵀQα − eᵀα` subject to `0 ≤ α_t ≤ C` and `yᵀα = 0`, where
//! `Q_st = y_s y_t K(x_s, x_t)`. Each iteration moves the two multipliers that libsvm's
//! second-order working-set selection picks (WSS3: Fan, Chen and Lin, "Working set selection
//! using second order information for training SVM", JMLR 6, 2005), keeping the gradient
//! `G = Qα − e` up to date, until the largest violation of the optimality conditions,
//! `m(α) − M(α)`, is below the tolerance (libsvm's `-e`, 1e-3 by default). No shrinking: every
//! iteration looks at every point.

use super::kernel_cache::{KernelCache, RowSource};

/// libsvm's `TAU`: the curvature used where `K_ii + K_jj − 2 K_ij` is not positive.
const TAU: f64 = 1e-12;

/// What the solver is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SmoSettings {
    /// The bound `C` of every multiplier.
    pub c: f64,
    /// Stop when `m(α) − M(α)` is below it.
    pub tolerance: f64,
}

/// The multipliers and the bias of a solved problem.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BinarySolution {
    /// `α_t`, in `[0, C]`.
    pub alpha: Vec<f64>,
    /// `ρ` of the decision function `f(x) = Σ_t y_t α_t K(x_t, x) − ρ`.
    pub rho: f64,
    /// Iterations run.
    pub iterations: u64,
    /// `false` when the iteration bound stopped the solver before the tolerance was reached.
    pub converged: bool,
}

/// libsvm's bound on iterations: `max(10⁷, 100 l)`.
fn max_iterations(len: usize) -> u64 {
    (100 * len as u64).max(10_000_000)
}

/// The solver's state: multipliers and gradient.
struct Smo<'a> {
    y: &'a [f64],
    diagonal: Vec<f64>,
    alpha: Vec<f64>,
    gradient: Vec<f64>,
    c: f64,
}

impl Smo<'_> {
    /// `t ∈ I_up`: `α_t` may grow along `y_t` (`y_t = +1, α_t < C` or `y_t = −1, α_t > 0`).
    fn in_up(&self, t: usize) -> bool {
        if self.y[t] > 0.0 { self.alpha[t] < self.c } else { self.alpha[t] > 0.0 }
    }

    /// `t ∈ I_low`: `α_t` may shrink along `y_t`.
    fn in_low(&self, t: usize) -> bool {
        if self.y[t] > 0.0 { self.alpha[t] > 0.0 } else { self.alpha[t] < self.c }
    }

    /// `−y_t G_t`, whose largest value over `I_up` is `m(α)` and smallest over `I_low` is `M(α)`.
    fn violation(&self, t: usize) -> f64 {
        -self.y[t] * self.gradient[t]
    }

    /// `i = argmax_{t ∈ I_up} −y_t G_t` (the last on ties, as libsvm) and that maximum, `m(α)`.
    fn select_i(&self) -> Option<(usize, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for t in 0..self.y.len() {
            if self.in_up(t) && best.is_none_or(|(_, m)| self.violation(t) >= m) {
                best = Some((t, self.violation(t)));
            }
        }
        best
    }

    /// `j = argmin_{t ∈ I_low, −y_t G_t < m} −(m + y_t G_t)² / (K_ii + K_tt − 2 K_it)` (the last
    /// on ties), or `None` when `m(α) − M(α) < tolerance`: optimal.
    fn select_j(&self, i: usize, m: f64, row_i: &[f32], tolerance: f64) -> Option<usize> {
        let (mut minus_big_m, mut best_objective, mut best) = (f64::NEG_INFINITY, f64::INFINITY, None);
        for (t, &k_it) in row_i.iter().enumerate() {
            if !self.in_low(t) {
                continue;
            }
            let violation = self.violation(t);
            minus_big_m = minus_big_m.max(-violation);
            let gap = m - violation;
            if gap > 0.0 {
                let curvature = self.diagonal[i] + self.diagonal[t] - 2.0 * f64::from(k_it);
                let objective = -gap * gap / if curvature > 0.0 { curvature } else { TAU };
                if objective <= best_objective {
                    (best_objective, best) = (objective, Some(t));
                }
            }
        }
        if m + minus_big_m < tolerance { None } else { best }
    }

    /// The rows the coming iterations most likely need: the `count` uncached points that most
    /// violate the optimality conditions about `b = (m + M) / 2`, `−y_t G_t − b` on `I_up` and
    /// `b + y_t G_t` on `I_low`; on ties the highest index first, as `select_i` takes the last.
    fn likely_rows<S: RowSource>(&self, cache: &KernelCache<S>, count: usize) -> Vec<usize> {
        let (mut m, mut big_m) = (f64::NEG_INFINITY, f64::INFINITY);
        for t in 0..self.y.len() {
            if self.in_up(t) {
                m = m.max(self.violation(t));
            }
            if self.in_low(t) {
                big_m = big_m.min(self.violation(t));
            }
        }
        let middle = if m.is_finite() && big_m.is_finite() { (m + big_m) / 2.0 } else { 0.0 };
        let mut scored: Vec<(f64, usize)> = (0..self.y.len())
            .filter(|&t| !cache.contains(t))
            .map(|t| {
                let up = if self.in_up(t) { self.violation(t) - middle } else { f64::NEG_INFINITY };
                let low = if self.in_low(t) { middle - self.violation(t) } else { f64::NEG_INFINITY };
                (up.max(low), t)
            })
            .collect();
        let by_score = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1));
        if count < scored.len() {
            scored.select_nth_unstable_by(count, by_score);
            scored.truncate(count);
        }
        scored.sort_unstable_by(by_score);
        scored.into_iter().map(|(_, t)| t).collect()
    }

    /// Moves `α_i, α_j` to the minimum of the objective along `y_i α_i + y_j α_j = const`,
    /// clipped to the box, and updates `G_k += Q_ik Δα_i + Q_jk Δα_j` (libsvm's update).
    fn step(&mut self, i: usize, j: usize, row_i: &[f32], row_j: &[f32]) {
        let c = self.c;
        let (old_i, old_j) = (self.alpha[i], self.alpha[j]);
        // K_ii + K_jj − 2 K_ij: the curvature along the move, whatever the labels.
        let curvature = self.diagonal[i] + self.diagonal[j] - 2.0 * f64::from(row_i[j]);
        let curvature = if curvature > 0.0 { curvature } else { TAU };
        let (mut a_i, mut a_j) = (old_i, old_j);
        if self.y[i] != self.y[j] {
            // α_i − α_j is constant; Δ = (−G_i − G_j) / curvature.
            let delta = (-self.gradient[i] - self.gradient[j]) / curvature;
            let diff = a_i - a_j;
            a_i += delta;
            a_j += delta;
            if diff > 0.0 {
                if a_j < 0.0 {
                    (a_j, a_i) = (0.0, diff);
                }
            } else if a_i < 0.0 {
                (a_i, a_j) = (0.0, -diff);
            }
            if diff > 0.0 {
                if a_i > c {
                    (a_i, a_j) = (c, c - diff);
                }
            } else if a_j > c {
                (a_j, a_i) = (c, c + diff);
            }
        } else {
            // α_i + α_j is constant; Δ = (G_i − G_j) / curvature.
            let delta = (self.gradient[i] - self.gradient[j]) / curvature;
            let sum = a_i + a_j;
            a_i -= delta;
            a_j += delta;
            if sum > c {
                if a_i > c {
                    (a_i, a_j) = (c, sum - c);
                }
            } else if a_j < 0.0 {
                (a_j, a_i) = (0.0, sum);
            }
            if sum > c {
                if a_j > c {
                    (a_j, a_i) = (c, sum - c);
                }
            } else if a_i < 0.0 {
                (a_i, a_j) = (0.0, sum);
            }
        }
        (self.alpha[i], self.alpha[j]) = (a_i, a_j);
        // G_k += y_k (y_i Δα_i K_ik + y_j Δα_j K_jk), since Q_ik = y_i y_k K_ik.
        let (step_i, step_j) = (self.y[i] * (a_i - old_i), self.y[j] * (a_j - old_j));
        for (((gradient, &y), &k_i), &k_j) in self.gradient.iter_mut().zip(self.y).zip(row_i).zip(row_j) {
            *gradient += y * (step_i * f64::from(k_i) + step_j * f64::from(k_j));
        }
    }

    /// libsvm's `ρ`: the mean of `y_t G_t` over the free multipliers, or the middle of the
    /// interval the bounded ones leave for it when none is free.
    fn rho(&self) -> f64 {
        let (mut upper, mut lower, mut free_sum, mut free) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0_usize);
        for t in 0..self.y.len() {
            let y_gradient = self.y[t] * self.gradient[t];
            let at_upper = self.alpha[t] >= self.c;
            let at_lower = self.alpha[t] <= 0.0;
            if at_upper || at_lower {
                if (at_upper && self.y[t] < 0.0) || (at_lower && self.y[t] > 0.0) {
                    upper = upper.min(y_gradient);
                } else {
                    lower = lower.max(y_gradient);
                }
            } else {
                free += 1;
                free_sum += y_gradient;
            }
        }
        if free > 0 { free_sum / free as f64 } else { (upper + lower) / 2.0 }
    }
}

/// Solves the problem whose kernel rows `cache` gives, with labels `y` (±1, both present).
pub(crate) fn solve<S: RowSource>(cache: &mut KernelCache<S>, y: &[f64], settings: SmoSettings) -> BinarySolution {
    let len = y.len();
    let diagonal = (0..len).map(|t| cache.diagonal(t)).collect();
    // α = 0, so G = Qα − e = −e.
    let mut smo = Smo { y, diagonal, alpha: vec![0.0; len], gradient: vec![-1.0; len], c: settings.c };
    let limit = max_iterations(len);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < limit {
        let Some((i, m)) = smo.select_i() else {
            converged = true;
            break;
        };
        cache.fetch(&[i], |cache, count| smo.likely_rows(cache, count));
        let Some(j) = smo.select_j(i, m, cache.row(i), settings.tolerance) else {
            converged = true;
            break;
        };
        cache.fetch(&[i, j], |cache, count| smo.likely_rows(cache, count));
        smo.step(i, j, cache.row(i), cache.row(j));
        iterations += 1;
    }
    BinarySolution { rho: smo.rho(), alpha: smo.alpha, iterations, converged }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A precomputed Gram matrix.
    struct Gram {
        len: usize,
        values: Vec<f64>,
    }

    impl Gram {
        fn of(points: &[Vec<f64>], kernel: impl Fn(&[f64], &[f64]) -> f64) -> Gram {
            let values = points.iter().flat_map(|x| points.iter().map(|y| kernel(x, y)).collect::<Vec<_>>()).collect();
            Gram { len: points.len(), values }
        }

        fn at(&self, s: usize, t: usize) -> f64 {
            // As the solver sees it: through f32.
            f64::from(self.values[s * self.len + t] as f32)
        }
    }

    impl RowSource for &Gram {
        fn len(&self) -> usize {
            self.len
        }

        fn diagonal(&self, index: usize) -> f64 {
            self.at(index, index)
        }

        fn compute_rows(&mut self, rows: &[usize], out: &mut [f32]) {
            for (&row, values) in rows.iter().zip(out.chunks_exact_mut(self.len)) {
                for (t, value) in values.iter_mut().enumerate() {
                    *value = self.values[row * self.len + t] as f32;
                }
            }
        }
    }

    fn linear(x: &[f64], y: &[f64]) -> f64 {
        x.iter().zip(y).map(|(a, b)| a * b).sum()
    }

    fn rbf(gamma: f64) -> impl Fn(&[f64], &[f64]) -> f64 {
        move |x, y| (-gamma * x.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum::<f64>()).exp()
    }

    fn solve_gram(gram: &Gram, y: &[f64], c: f64, tolerance: f64, cache_rows: usize) -> BinarySolution {
        let mut cache = KernelCache::new(gram, cache_rows, 4);
        solve(&mut cache, y, SmoSettings { c, tolerance })
    }

    /// `f(x_s) = Σ_t y_t α_t K_st − ρ` at every training point.
    fn decisions(gram: &Gram, y: &[f64], solution: &BinarySolution) -> Vec<f64> {
        (0..y.len())
            .map(|s| (0..y.len()).map(|t| y[t] * solution.alpha[t] * gram.at(s, t)).sum::<f64>() - solution.rho)
            .collect()
    }

    #[test]
    fn a_separable_problem_has_the_maximum_margin_answer() {
        // (1, 1) and (2, 3) positive, (−1, −1) and (−2, −1) negative: the margin is set by the
        // first two, w = (½, ½), b = 0; w = Σ α_t y_t x_t gives α = ¼ for both, 0 for the others.
        let points = [vec![1.0, 1.0], vec![-1.0, -1.0], vec![2.0, 3.0], vec![-2.0, -1.0]];
        let y = [1.0, -1.0, 1.0, -1.0];
        let gram = Gram::of(&points, linear);
        let solution = solve_gram(&gram, &y, 1.0, 1e-9, 4);
        assert!(solution.converged);
        for (alpha, expected) in solution.alpha.iter().zip([0.25, 0.25, 0.0, 0.0]) {
            assert!((alpha - expected).abs() < 1e-7, "{:?}", solution.alpha);
        }
        assert!(solution.rho.abs() < 1e-7, "{}", solution.rho);
        // f((0.4, 0)) = w·x − ρ = 0.2, from the multipliers.
        let x = [0.4, 0.0];
        let f: f64 = (0..4).map(|t| y[t] * solution.alpha[t] * linear(&points[t], &x)).sum::<f64>() - solution.rho;
        assert!((f - 0.2).abs() < 1e-7, "{f}");
    }

    #[test]
    fn two_rbf_points_by_hand() {
        // K = [[1, k], [k, 1]], k = exp(−γ‖x_1 − x_2‖²); with α_1 = α_2 = α the dual is
        // 2α − α²(1 − k), whose maximum is α = 1 / (1 − k); f(x) = α (K(x_1, x) − K(x_2, x)), ρ = 0.
        let (gamma, points) = (0.5, [vec![1.0], vec![-1.0]]);
        let gram = Gram::of(&points, rbf(gamma));
        let k = (-gamma * 4.0_f64).exp();
        let solution = solve_gram(&gram, &[1.0, -1.0], 10.0, 1e-9, 2);
        let alpha = 1.0 / (1.0 - k);
        assert!(solution.alpha.iter().all(|a| (a - alpha).abs() < 1e-6), "{:?} vs {alpha}", solution.alpha);
        assert!(solution.rho.abs() < 1e-9);
        // With C = 1 < 1 / (1 − k) both multipliers stop at C.
        let bounded = solve_gram(&gram, &[1.0, -1.0], 1.0, 1e-3, 2);
        assert_eq!(bounded.alpha, [1.0, 1.0]);
        let x = [0.5];
        let f = alpha * (rbf(gamma)(&points[0], &x) - rbf(gamma)(&points[1], &x));
        let from_solver: f64 = solution.alpha[0] * rbf(gamma)(&points[0], &x)
            - solution.alpha[1] * rbf(gamma)(&points[1], &x)
            - solution.rho;
        assert!((from_solver - f).abs() < 1e-6 && (f - 0.64516).abs() < 1e-5, "{from_solver} {f}");
    }

    #[test]
    fn random_problems_end_feasible_and_within_the_tolerance_of_optimal() {
        let tolerance = 1e-3;
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let len = rng.random_range(2..60);
            let points: Vec<Vec<f64>> = (0..len).map(|_| (0..3).map(|_| rng.random::<f64>()).collect()).collect();
            let mut y: Vec<f64> = (0..len).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect();
            (y[0], y[1]) = (1.0, -1.0);
            let c = [0.5, 1.0, 10.0][seed as usize % 3];
            let gram = Gram::of(&points, rbf(2.0));
            // A cache of a few rows: rows are computed again and again.
            let solution = solve_gram(&gram, &y, c, tolerance, 5);
            assert!(solution.converged, "seed {seed}");
            // The dual's constraints: 0 ≤ α ≤ C and Σ y_t α_t = 0.
            assert!(solution.alpha.iter().all(|&a| (0.0..=c).contains(&a)), "seed {seed}");
            let balance: f64 = y.iter().zip(&solution.alpha).map(|(y, a)| y * a).sum();
            assert!(balance.abs() < 1e-9, "seed {seed}: Σ y α = {balance}");
            // KKT: y f ≥ 1 where α = 0, y f ≤ 1 where α = C, y f = 1 between, within the tolerance.
            for (t, f) in decisions(&gram, &y, &solution).iter().enumerate() {
                let margin = y[t] * f;
                let alpha = solution.alpha[t];
                let ok = if alpha <= 0.0 {
                    margin >= 1.0 - tolerance
                } else if alpha >= c {
                    margin <= 1.0 + tolerance
                } else {
                    (margin - 1.0).abs() <= tolerance
                };
                assert!(ok, "seed {seed}, point {t}: α = {alpha}, y f = {margin}");
            }
            // A cache of every row changes nothing but the time.
            assert_eq!(solve_gram(&gram, &y, c, tolerance, len), solution, "seed {seed}");
        }
    }
}
