//! The simple classifiers Nielsen compares his networks against (chapter 1): the average
//! darkness of each digit, and softmax regression (a network without hidden layer).

use nn_core::{Activation, Init, Loss, Network};

use crate::{Metrics, OptimizerConfig, Samples, SamplesError, TrainConfig, TrainData, TrainError, evaluate, fit};

/// Nielsen's accuracy for the average-darkness classifier (`mnist_average_darkness.py`).
pub const DARKNESS_PUBLISHED: f32 = 0.2225;

/// The accuracy commonly quoted for softmax (multinomial logistic) regression on MNIST.
pub const LINEAR_PUBLISHED: f32 = 0.92;

/// A classifier that knows, for each class, the mean total ink of its training images, and
/// guesses the class whose mean is nearest to an image's ink.
#[derive(Debug, Clone, PartialEq)]
pub struct DarknessClassifier {
    /// Mean sum of the input values of each class's training samples (`None`: no sample).
    pub mean_darkness: Vec<Option<f64>>,
}

/// The accuracy of a baseline on a set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineAccuracy {
    /// Samples classified right.
    pub correct: usize,
    /// Samples classified.
    pub total: usize,
}

impl BaselineAccuracy {
    /// `correct / total` (0 for an empty set).
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

/// The total ink of sample `index`: `Σ_i x_i`.
fn darkness(set: &dyn Samples, index: usize, buffer: &mut [f32]) -> f64 {
    set.write_input(index, buffer);
    buffer.iter().map(|&v| f64::from(v)).sum()
}

impl DarknessClassifier {
    /// The mean darkness of each of `classes` classes in `train`.
    pub fn fit(train: &dyn Samples, classes: usize) -> Result<Self, SamplesError> {
        if train.is_empty() {
            return Err(SamplesError::Empty { set: "training" });
        }
        let mut buffer = vec![0.0; train.input_size()];
        let (mut sums, mut counts) = (vec![0.0; classes], vec![0_usize; classes]);
        for index in 0..train.len() {
            let label = train.label(index);
            if label < classes {
                sums[label] += darkness(train, index, &mut buffer);
                counts[label] += 1;
            }
        }
        let mean_darkness = sums.iter().zip(&counts).map(|(&sum, &n)| (n > 0).then(|| sum / n as f64)).collect();
        Ok(DarknessClassifier { mean_darkness })
    }

    /// The class whose mean darkness is nearest to `darkness` (the first on ties).
    pub fn classify_darkness(&self, darkness: f64) -> usize {
        let distance = |mean: &Option<f64>| mean.map_or(f64::INFINITY, |m| (m - darkness).abs());
        (0..self.mean_darkness.len())
            .min_by(|&a, &b| distance(&self.mean_darkness[a]).total_cmp(&distance(&self.mean_darkness[b])))
            .unwrap_or(0)
    }

    /// How many samples of `set` it classifies right.
    pub fn evaluate(&self, set: &dyn Samples) -> BaselineAccuracy {
        let mut buffer = vec![0.0; set.input_size()];
        let correct =
            (0..set.len()).filter(|&i| self.classify_darkness(darkness(set, i, &mut buffer)) == set.label(i)).count();
        BaselineAccuracy { correct, total: set.len() }
    }
}

/// Softmax regression `p = softmax(W x + b)` trained by minimising the cross-entropy with
/// `config` (for example [`linear_config`]) on `train`: a network with no hidden layer.
pub fn softmax_regression(train: &dyn Samples, classes: usize, config: &TrainConfig) -> Result<Network, TrainError> {
    let sizes = [train.input_size(), classes];
    let mut network =
        Network::dense(&sizes, Activation::Identity, Loss::SoftmaxCrossEntropy, Init::GLOROT, config.seed)?;
    fit(&mut network, config, TrainData::new(train))?;
    Ok(network)
}

/// The set-up `nn-cli baseline linear` trains with: Adam 1e-3, batches of 100, 10 epochs.
pub fn linear_config(seed: u64) -> TrainConfig {
    TrainConfig {
        epochs: 10,
        batch_size: 100,
        seed,
        learning_rate: 1e-3,
        optimizer: OptimizerConfig::adam(),
        ..TrainConfig::default()
    }
}

/// The test metrics of a softmax regression trained on `train` with `config`.
pub fn linear_baseline(
    train: &dyn Samples,
    test: &dyn Samples,
    classes: usize,
    config: &TrainConfig,
) -> Result<Metrics, TrainError> {
    let network = softmax_regression(train, classes, config)?;
    Ok(evaluate(&network, test, config.eval_batch_size)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FloatSamples;

    #[test]
    fn darkness_guesses_the_class_of_nearest_mean_ink() {
        // Class 0: one lit pixel of four; class 1: three; class 2: none in training.
        let inputs = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
        let train = FloatSamples::new(inputs.to_vec(), vec![0, 0, 1, 1], 4).unwrap();
        let classifier = DarknessClassifier::fit(&train, 3).unwrap();
        assert_eq!(classifier.mean_darkness, [Some(1.0), Some(3.0), None]);
        assert_eq!([0.0, 1.9, 2.1, 4.0].map(|d| classifier.classify_darkness(d)), [0, 0, 1, 1]);
        let accuracy = classifier.evaluate(&train);
        assert_eq!((accuracy.correct, accuracy.total), (4, 4));
        let empty = FloatSamples::new(vec![], vec![], 4).unwrap();
        assert!(DarknessClassifier::fit(&empty, 3).is_err());
    }

    #[test]
    fn softmax_regression_separates_a_linear_problem() {
        // Class = which of two inputs is larger.
        let inputs: Vec<f32> = (0..200).flat_map(|i| [(i % 7) as f32 / 7.0, (i % 11) as f32 / 11.0]).collect();
        let labels: Vec<usize> = inputs.chunks(2).map(|x| usize::from(x[1] > x[0])).collect();
        let set = FloatSamples::new(inputs, labels, 2).unwrap();
        let config = TrainConfig { epochs: 200, learning_rate: 0.05, ..linear_config(1) };
        let metrics = linear_baseline(&set, &set, 2, &config).unwrap();
        assert!(metrics.accuracy > 0.9, "{metrics:?}");
    }
}
