//! Learning-rate schedules: the step size of each epoch.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How the learning rate changes from epoch to epoch.
///
/// Text form: `constant`, `step:EVERY:FACTOR` (`step:10:0.5`), `cosine` or `cosine:MIN_LR`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The base learning rate throughout.
    #[default]
    Constant,
    /// The rate is multiplied by `factor` every `every` epochs.
    StepDecay {
        /// Epochs between two decays (at least 1).
        every: usize,
        /// Multiplier applied at each decay, finite and positive (0.5 halves the rate).
        factor: f32,
    },
    /// Cosine annealing from the base rate down towards `min_lr` over the configured epochs.
    Cosine {
        /// The floor, finite and `≥ 0`.
        min_lr: f32,
    },
}

impl Schedule {
    /// The learning rate of epoch `epoch` (counted from 0) out of `epochs`, for base rate `base`.
    ///
    /// ```
    /// use nn_train::Schedule;
    /// let schedule: Schedule = "step:10:0.5".parse()?;
    /// assert_eq!(schedule.learning_rate(0.1, 25, 30), 0.025);
    /// # Ok::<(), nn_train::ParseScheduleError>(())
    /// ```
    pub fn learning_rate(&self, base: f32, epoch: usize, epochs: usize) -> f32 {
        match *self {
            Schedule::Constant => base,
            // lr · factor^⌊epoch / every⌋
            Schedule::StepDecay { every, factor } => {
                let decays = i32::try_from(epoch / every.max(1)).unwrap_or(i32::MAX);
                (f64::from(base) * f64::from(factor).powi(decays)) as f32
            }
            // lr_min + (lr − lr_min)(1 + cos(π·epoch/epochs))/2
            Schedule::Cosine { min_lr } => {
                let (base, min_lr) = (f64::from(base), f64::from(min_lr));
                let progress = epoch as f64 / epochs.max(1) as f64;
                (min_lr + (base - min_lr) * (1.0 + (PI * progress).cos()) / 2.0) as f32
            }
        }
    }

    /// Checks the parameters: `every ≥ 1`, `factor` finite and positive, `min_lr` finite and
    /// `≥ 0`.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::StepDecay { every: 0, .. } => Err("the step decay period must be at least 1 epoch".into()),
            Schedule::StepDecay { factor, .. } if !(factor.is_finite() && factor > 0.0) => {
                Err(format!("the step decay factor must be finite and positive, not {factor}"))
            }
            Schedule::Cosine { min_lr } if !(min_lr.is_finite() && min_lr >= 0.0) => {
                Err(format!("the cosine floor must be finite and at least 0, not {min_lr}"))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Schedule {
    /// The text form accepted by [`FromStr`]: `constant`, `step:10:0.5`, `cosine`,
    /// `cosine:0.0001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::StepDecay { every, factor } => write!(f, "step:{every}:{factor}"),
            Schedule::Cosine { min_lr } if *min_lr == 0.0 => f.write_str("cosine"),
            Schedule::Cosine { min_lr } => write!(f, "cosine:{min_lr}"),
        }
    }
}

/// A schedule that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid learning-rate schedule {text:?}: {reason}; expected constant, step:EVERY:FACTOR or cosine[:MIN_LR]")]
pub struct ParseScheduleError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for Schedule {
    type Err = ParseScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| ParseScheduleError { text: text.to_string(), reason };
        let parts: Vec<&str> = text.trim().split(':').map(str::trim).collect();
        let number = |part: &str| part.parse::<f32>().map_err(|_| error(format!("{part:?} is not a number")));
        let schedule = match parts[..] {
            [name] if name.eq_ignore_ascii_case("constant") => Schedule::Constant,
            [name] if name.eq_ignore_ascii_case("cosine") => Schedule::Cosine { min_lr: 0.0 },
            [name, min_lr] if name.eq_ignore_ascii_case("cosine") => Schedule::Cosine { min_lr: number(min_lr)? },
            [name, every, factor] if name.eq_ignore_ascii_case("step") => Schedule::StepDecay {
                every: every.parse().map_err(|_| error(format!("{every:?} is not a whole number of epochs")))?,
                factor: number(factor)?,
            },
            [name, ..] if ["constant", "cosine", "step"].iter().any(|n| n.eq_ignore_ascii_case(name)) => {
                return Err(error("wrong number of parameters".into()));
            }
            _ => return Err(error("unknown schedule".into())),
        };
        schedule.validate().map_err(error)?;
        Ok(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(Schedule::Constant.learning_rate(0.1, 7, 10), 0.1);
        let step = Schedule::StepDecay { every: 10, factor: 0.5 };
        let rates: Vec<f32> = [0, 9, 10, 19, 20, 35].iter().map(|&e| step.learning_rate(0.1, e, 40)).collect();
        assert_eq!(rates, [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]);
        let cosine = Schedule::Cosine { min_lr: 0.001 };
        assert_eq!(cosine.learning_rate(0.1, 0, 10), 0.1);
        assert!((cosine.learning_rate(0.1, 5, 10) - 0.0505).abs() < 1e-7);
        assert!((cosine.learning_rate(0.1, 10, 10) - 0.001).abs() < 1e-9);
        let quarter = 0.001 + 0.099 * (1.0 + std::f64::consts::FRAC_PI_4.cos()) / 2.0;
        assert!((cosine.learning_rate(0.1, 1, 4) - quarter as f32).abs() < 1e-7);
    }

    #[test]
    fn text_round_trips() {
        for text in ["constant", "step:10:0.5", "cosine", "cosine:0.0001"] {
            let schedule: Schedule = text.parse().unwrap();
            assert_eq!(schedule.to_string(), text);
        }
        assert_eq!("cosine".parse::<Schedule>().unwrap(), Schedule::Cosine { min_lr: 0.0 });
        assert_eq!(" Step:3:0.1 ".parse::<Schedule>().unwrap(), Schedule::StepDecay { every: 3, factor: 0.1 });
        for bad in ["", "linear", "step:10", "step:0:0.5", "step:2:-1", "step:x:0.5", "cosine:-1", "constant:1"] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_form_is_tagged() {
        let step = Schedule::StepDecay { every: 3, factor: 0.5 };
        let json = serde_json::to_string(&step).unwrap();
        assert_eq!(json, r#"{"kind":"step_decay","every":3,"factor":0.5}"#);
        assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), step);
    }
}
