//! How far training images may be moved ([`Augmentation`]): the largest shift, rotation, change
//! of size and elastic distortion, their ranges, and the text form of the command line
//! (`shift=2,rotate=10,scale=0.1,elastic=34/4`). `augment.rs` applies them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The widest elastic smoothing accepted, in pixels (MNIST's images are 28 wide; Simard uses 4).
const MAX_ELASTIC_SIGMA: f32 = 100.0;

/// The largest shift accepted, in pixels: a quarter of MNIST's 28-pixel field. Beyond it a
/// digit of 20 pixels leaves the field.
pub const MAX_SHIFT: f32 = 7.0;

/// How far an image may be moved: every draw is uniform in `[-max, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augmentation {
    /// Largest shift, in pixels, along each axis.
    pub shift: f32,
    /// Largest rotation, in degrees.
    pub rotation: f32,
    /// Largest relative change of size: the scale is drawn in `[1 - scale, 1 + scale]`.
    pub scale: f32,
    /// Simard's α: the strength of the elastic distortion, in pixels (0: none).
    pub elastic_alpha: f32,
    /// Simard's σ: the smoothness of the elastic distortion, in pixels.
    pub elastic_sigma: f32,
}

impl Default for Augmentation {
    /// No change at all.
    fn default() -> Self {
        Augmentation { shift: 0.0, rotation: 0.0, scale: 0.0, elastic_alpha: 0.0, elastic_sigma: 4.0 }
    }
}

impl Augmentation {
    /// Refuses values that are negative, not finite, or would turn an image inside out.
    pub fn validate(&self) -> Result<(), String> {
        let fields = [
            ("shift", self.shift),
            ("rotation", self.rotation),
            ("scale", self.scale),
            ("elastic alpha", self.elastic_alpha),
            ("elastic sigma", self.elastic_sigma),
        ];
        if let Some((name, value)) = fields.iter().find(|(_, value)| !(value.is_finite() && *value >= 0.0)) {
            return Err(format!("the augmentation's {name} must be finite and at least 0, not {value}"));
        }
        if self.shift > MAX_SHIFT {
            return Err(format!(
                "the augmentation's shift must be at most {MAX_SHIFT} pixels (a quarter of a 28-pixel image), not {}",
                self.shift
            ));
        }
        if self.scale >= 1.0 {
            return Err(format!(
                "the augmentation's scale must be below 1 (a size change of 100%), not {}",
                self.scale
            ));
        }
        // The blur's kernel spans 6 sigma: a bound keeps a typo from allocating gigabytes.
        if self.elastic_sigma > MAX_ELASTIC_SIGMA {
            return Err(format!(
                "an elastic distortion's sigma must be at most {MAX_ELASTIC_SIGMA} pixels, not {}",
                self.elastic_sigma
            ));
        }
        if self.elastic_alpha > 0.0 && self.elastic_sigma < 0.5 {
            return Err(format!(
                "an elastic distortion needs a sigma of at least 0.5 pixels, not {}",
                self.elastic_sigma
            ));
        }
        Ok(())
    }

    /// Whether it leaves every image as it is.
    pub fn is_identity(&self) -> bool {
        self.shift == 0.0 && self.rotation == 0.0 && self.scale == 0.0 && self.elastic_alpha == 0.0
    }
}

/// `shift=2,rotate=10,scale=0.1,elastic=34/4` (any subset, in any order); `none` for no change.
impl fmt::Display for Augmentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.shift > 0.0 {
            parts.push(format!("shift={}", self.shift));
        }
        if self.rotation > 0.0 {
            parts.push(format!("rotate={}", self.rotation));
        }
        if self.scale > 0.0 {
            parts.push(format!("scale={}", self.scale));
        }
        if self.elastic_alpha > 0.0 {
            parts.push(format!("elastic={}/{}", self.elastic_alpha, self.elastic_sigma));
        }
        if parts.is_empty() { f.write_str("none") } else { f.write_str(&parts.join(",")) }
    }
}

impl FromStr for Augmentation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut augmentation = Augmentation::default();
        if text.trim() == "none" {
            return Ok(augmentation);
        }
        let number = |key: &str, value: &str| {
            value.trim().parse::<f32>().map_err(|_| format!("{key}={value:?} is not a number"))
        };
        let mut seen: Vec<&str> = Vec::new();
        for part in text.split(',') {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("{part:?} is not key=value; write e.g. shift=2,rotate=10,scale=0.1,elastic=34/4")
            })?;
            let canonical = match key.trim() {
                "rotation" => "rotate",
                other => other,
            };
            if seen.contains(&canonical) {
                return Err(format!("{canonical} is given twice in {text:?}: give each key once"));
            }
            seen.push(canonical);
            match key.trim() {
                "shift" => augmentation.shift = number(key, value)?,
                "rotate" | "rotation" => augmentation.rotation = number(key, value)?,
                "scale" => augmentation.scale = number(key, value)?,
                "elastic" => {
                    let (alpha, sigma) = value.split_once('/').ok_or_else(|| {
                        format!("elastic={value} needs a sigma: write elastic=ALPHA/SIGMA, e.g. elastic=34/4")
                    })?;
                    augmentation.elastic_alpha = number(key, alpha)?;
                    augmentation.elastic_sigma = number(key, sigma)?;
                }
                other => {
                    return Err(format!("unknown augmentation {other:?}: the keys are shift, rotate, scale, elastic"));
                }
            }
        }
        augmentation.validate()?;
        Ok(augmentation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_bad_values_are_refused() {
        let a: Augmentation = "shift=2,rotate=10,scale=0.1,elastic=34/4".parse().unwrap();
        assert_eq!((a.shift, a.rotation, a.scale, a.elastic_alpha, a.elastic_sigma), (2.0, 10.0, 0.1, 34.0, 4.0));
        assert_eq!(a.to_string().parse::<Augmentation>().unwrap(), a);
        assert!("none".parse::<Augmentation>().unwrap().is_identity());
        for bad in [
            "shift=-1",
            "scale=1",
            "twist=3",
            "shift",
            "elastic=34/0.1",
            "rotate=nan",
            "elastic=34/1e9",
            "shift=100",
            "shift=1e30",
            "shift=inf",
            "elastic=34",
            "shift=2,shift=3",
            "rotate=5,rotation=5",
        ] {
            assert!(bad.parse::<Augmentation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_shift_off_the_field_a_key_given_twice_and_an_elastic_without_sigma_are_named() {
        let error = |text: &str| text.parse::<Augmentation>().unwrap_err();
        assert_eq!(
            error("shift=100"),
            "the augmentation's shift must be at most 7 pixels (a quarter of a 28-pixel image), not 100"
        );
        assert!(error("shift=1e30").contains("at most 7 pixels"), "{}", error("shift=1e30"));
        assert_eq!(error("shift=2,shift=3"), "shift is given twice in \"shift=2,shift=3\": give each key once");
        assert!(error("rotation=5,rotate=5").starts_with("rotate is given twice"));
        assert_eq!(error("elastic=34"), "elastic=34 needs a sigma: write elastic=ALPHA/SIGMA, e.g. elastic=34/4");
        let widest: Augmentation = "shift=7".parse().unwrap();
        assert_eq!(widest.shift, MAX_SHIFT);
        let refused = Augmentation { shift: 7.5, ..Augmentation::default() };
        assert!(refused.validate().is_err(), "recipe files are held to the same bound");
    }
}
