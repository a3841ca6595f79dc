//! Named training set-ups: the seeds' networks (Nielsen, Chollet, a PyTorch tutorial) and our
//! default. Every field can be overridden by a flag of `nn-cli train`.

use nn_core::{Activation, Init, Loss};
use nn_train::{OptimizerConfig, Schedule};

/// One training set-up.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub name: &'static str,
    pub about: &'static str,
    /// Sizes of the hidden layers (input and output come from the data).
    pub hidden: &'static [usize],
    pub hidden_activation: Activation,
    pub loss: Loss,
    pub init: Init,
    pub optimizer: OptimizerConfig,
    pub learning_rate: f32,
    pub schedule: Schedule,
    pub batch_size: usize,
    pub epochs: usize,
    /// Stop after this many mini-batches (the PyTorch tutorial counts steps, not epochs).
    pub max_steps: Option<usize>,
    /// Training images kept apart for validation (0 trains on all 60,000).
    pub validation_size: usize,
    /// Nielsen's L2 regularisation λ (the weight decay is λ / training set size).
    pub lambda: f32,
    /// The published test accuracy this recipe reproduces, with where it comes from.
    pub published: Option<(f32, &'static str)>,
}

const NIELSEN_30: Recipe = Recipe {
    name: "nielsen",
    about: "Nielsen, chapter 1: 784-30-10 sigmoid, quadratic cost, SGD eta 3.0, batch 10, 30 epochs on 50,000 images",
    hidden: &[30],
    hidden_activation: Activation::Sigmoid,
    loss: Loss::SigmoidQuadratic,
    init: Init::NIELSEN,
    optimizer: OptimizerConfig::Sgd,
    learning_rate: 3.0,
    schedule: Schedule::Constant,
    batch_size: 10,
    epochs: 30,
    max_steps: None,
    validation_size: 10_000,
    lambda: 0.0,
    published: Some((0.9542, "Nielsen, Neural Networks and Deep Learning, ch. 1 (best epoch)")),
};

/// Every recipe, the default first.
pub const RECIPES: &[Recipe] = &[
    Recipe {
        name: "default",
        about: "ours: 784-512-256-10 ReLU, softmax cross-entropy, Adam 1e-3 with cosine decay, batch 128, 12 epochs on 55,000 images",
        hidden: &[512, 256],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::HE,
        optimizer: OptimizerConfig::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
        learning_rate: 1e-3,
        schedule: Schedule::Cosine { min_lr: 1e-5 },
        batch_size: 128,
        epochs: 12,
        max_steps: None,
        validation_size: 5_000,
        lambda: 0.0,
        published: None,
    },
    NIELSEN_30,
    Recipe {
        name: "nielsen-100",
        about: "Nielsen, chapter 1: the same with 100 hidden neurons",
        hidden: &[100],
        published: Some((0.9672, "seed article (Nielsen's text: 96.59%)")),
        ..NIELSEN_30
    },
    Recipe {
        name: "keras",
        about: "Chollet, chapter 2: 784-512-10 ReLU, softmax cross-entropy, RMSprop 1e-3, batch 128, 5 epochs on 60,000 images",
        hidden: &[512],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::GLOROT,
        optimizer: OptimizerConfig::RmsProp { rho: 0.9, epsilon: 1e-7 },
        learning_rate: 1e-3,
        schedule: Schedule::Constant,
        batch_size: 128,
        epochs: 5,
        max_steps: None,
        validation_size: 0,
        lambda: 0.0,
        published: Some((0.978, "Chollet, Deep Learning with Python, ch. 2")),
    },
    Recipe {
        name: "torch-seed",
        about: "a PyTorch tutorial: 784-128-10 ReLU, cross-entropy, SGD 0.1, batch 32, 10,000 steps on 60,000 images",
        hidden: &[128],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::HE,
        optimizer: OptimizerConfig::Sgd,
        learning_rate: 0.1,
        schedule: Schedule::Constant,
        batch_size: 32,
        epochs: 6,
        max_steps: Some(10_000),
        validation_size: 0,
        lambda: 0.0,
        published: None,
    },
];

/// The recipe called `name` (aliases: nielsen-30, keras-512, chollet, torch-seed-128).
pub fn find(name: &str) -> Option<&'static Recipe> {
    let canonical = match name {
        "nielsen-30" => "nielsen",
        "keras-512" | "chollet" => "keras",
        "torch-seed-128" | "torch" => "torch-seed",
        other => other,
    };
    RECIPES.iter().find(|r| r.name == canonical)
}

/// The recipes as a table, or as JSON lines (`cargo xtask reproduce` reads those).
pub fn list(json: bool) -> String {
    let mut out = String::new();
    for r in RECIPES {
        let published =
            r.published.map(|(accuracy, source)| serde_json::json!({"accuracy": accuracy, "source": source}));
        if json {
            let record = serde_json::json!({
                "name": r.name, "about": r.about, "published": published,
                "epochs": r.epochs, "batch_size": r.batch_size, "max_steps": r.max_steps,
            });
            out.push_str(&format!("{record}\n"));
        } else {
            let published = r.published.map_or(String::new(), |(a, s)| format!(" (published: {:.2}%, {s})", 100.0 * a));
            out.push_str(&format!("{:<12} {}{published}\n", r.name, r.about));
        }
    }
    out
}

/// "default, nielsen, ..." for error messages and help.
pub fn names() -> String {
    RECIPES.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recipe_is_found_by_name_and_alias() {
        for recipe in RECIPES {
            assert_eq!(find(recipe.name).unwrap().name, recipe.name);
        }
        assert_eq!(find("keras-512").unwrap().name, "keras");
        assert_eq!(find("nielsen-100").unwrap().hidden, &[100]);
        assert!(find("nope").is_none());
    }
}
