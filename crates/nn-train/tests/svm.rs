//! The SVM on small synthetic problems: several classes told apart, the same bits on any number
//! of threads and with any cache, and clear errors.

use nn_train::svm::{Gamma, Svm, SvmConfig, SvmError};
use nn_train::{FloatSamples, Samples};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` points of 8 features around one of `classes` centres (noise ±0.35), labels 2, 4, 6, …
/// (not 0..k, to check the SVM keeps the labels it was given).
fn blobs(n: usize, classes: usize, seed: u64) -> FloatSamples<'static> {
    let mut centres = ChaCha8Rng::seed_from_u64(99);
    let centres: Vec<f32> = (0..classes * 8).map(|_| centres.random_range(0.0..1.0)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut inputs = Vec::with_capacity(n * 8);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let class = rng.random_range(0..classes);
        inputs.extend(centres[class * 8..(class + 1) * 8].iter().map(|&c| c + rng.random_range(-0.35..0.35)));
        labels.push(2 * class + 2);
    }
    FloatSamples::new(inputs, labels, 8).unwrap()
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn several_classes_are_told_apart_one_against_one() {
    let (train, test) = (blobs(400, 4, 1), blobs(200, 4, 2));
    let svm = Svm::fit(&train, &SvmConfig::default()).unwrap();
    assert_eq!(svm.classes(), [2, 4, 6, 8]);
    assert_eq!(svm.problems(), 6);
    assert!(svm.support_vectors() > 0 && svm.support_vectors() < 400, "{}", svm.support_vectors());
    assert_eq!(svm.report().unconverged, 0);
    let accuracy = svm.evaluate(&test).unwrap();
    assert!(accuracy.accuracy() > 0.9, "{accuracy:?}");
    // Each prediction is the vote of the decision values: pair (a, b) votes a when positive.
    let decisions = svm.decision_values(&test).unwrap();
    let pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];
    for (predicted, decisions) in svm.predict(&test).unwrap().iter().zip(decisions.chunks_exact(6)) {
        let mut votes = [0; 4];
        for (&(a, b), &d) in pairs.iter().zip(decisions) {
            votes[if d > 0.0 { a } else { b }] += 1;
        }
        let winner = (0..4).fold(0, |best, class| if votes[class] > votes[best] { class } else { best });
        assert_eq!(*predicted, svm.classes()[winner]);
    }
}

#[test]
fn the_same_bits_on_one_thread_or_two_and_with_any_cache() {
    let (train, test) = (blobs(300, 3, 3), blobs(100, 3, 4));
    let fit_on = |threads: usize, config: SvmConfig| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let svm = Svm::fit(&train, &config).unwrap();
            let decisions = svm.decision_values(&test).unwrap();
            (svm, decisions)
        })
    };
    let (one, one_decisions) = fit_on(1, SvmConfig::default());
    let (two, two_decisions) = fit_on(2, SvmConfig::default());
    assert_eq!(bits(&one_decisions), bits(&two_decisions));
    assert_eq!(one.support_vectors(), two.support_vectors());
    assert_eq!(one.report().iterations, two.report().iterations);
    // No cache beyond the fewest rows: rows are computed again and again, to the same bits.
    let (small, small_decisions) = fit_on(2, SvmConfig { cache_bytes: 0, ..SvmConfig::default() });
    assert_eq!(bits(&one_decisions), bits(&small_decisions));
    assert!(small.report().kernel_rows > one.report().kernel_rows, "{:?} vs {:?}", small.report(), one.report());
    assert_eq!(one.predict(&test).unwrap(), two.predict(&test).unwrap());
}

/// A set whose values may be anything, as a `Samples` of another crate could give.
struct Raw(Vec<f32>, Vec<usize>);

impl Samples for Raw {
    fn len(&self) -> usize {
        self.1.len()
    }
    fn input_size(&self) -> usize {
        self.0.len() / self.1.len().max(1)
    }
    fn write_input(&self, index: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.0[index * out.len()..(index + 1) * out.len()]);
    }
    fn label(&self, index: usize) -> usize {
        self.1[index]
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let fit = |set: &dyn Samples, config: SvmConfig| Svm::fit(set, &config).unwrap_err();
    let empty = FloatSamples::new(vec![], vec![], 3).unwrap();
    assert_eq!(fit(&empty, SvmConfig::default()), SvmError::Empty);
    let one_class = FloatSamples::new(vec![0.0, 1.0, 2.0, 3.0], vec![7, 7], 2).unwrap();
    let error = fit(&one_class, SvmConfig::default());
    assert_eq!(error.to_string(), "every training sample is of class 7: an SVM separates two classes at least");
    let two = FloatSamples::new(vec![0.0, 1.0, 2.0, 3.0], vec![0, 1], 2).unwrap();
    for (config, name) in [
        (SvmConfig { c: 0.0, ..SvmConfig::default() }, "C"),
        (SvmConfig { c: f64::NAN, ..SvmConfig::default() }, "C"),
        (SvmConfig { tolerance: -1.0, ..SvmConfig::default() }, "tolerance"),
        (SvmConfig { gamma: Gamma::Value(f64::INFINITY), ..SvmConfig::default() }, "gamma"),
    ] {
        assert!(matches!(fit(&two, config), SvmError::Setting { name: n, .. } if n == name), "{name}");
    }
    let error = fit(&two, SvmConfig { memory_limit: Some(1 << 20), ..SvmConfig::default() });
    assert!(matches!(error, SvmError::Memory { .. }), "{error}");
    assert!(error.to_string().contains("and the limit is 1.0 MB"), "{error}");
    let nan = Raw(vec![0.0, 1.0, f32::NAN, 3.0], vec![0, 1]);
    let error = fit(&nan, SvmConfig::default());
    assert!(matches!(error, SvmError::NonFinite { sample: 1, index: 0, value } if value.is_nan()), "{error}");

    let svm = Svm::fit(&two, &SvmConfig::default()).unwrap();
    let wide = FloatSamples::new(vec![0.0; 3], vec![0], 3).unwrap();
    assert_eq!(svm.predict(&wide).unwrap_err(), SvmError::InputSize { expected: 2, found: 3 });
    let error = svm.predict(&Raw(vec![0.0, f32::INFINITY], vec![0])).unwrap_err();
    assert_eq!(error.to_string(), "value 1 of sample 0 is inf: an SVM needs finite numbers");
}
