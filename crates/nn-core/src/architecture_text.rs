//! The text form of architectures, `conv(32,3) relu maxpool(2) flatten dense(10)`: printed, and
//! parsed with the layer at fault named.

use std::fmt;
use std::str::FromStr;

use crate::{Activation, Architecture, LayerSpec, Shape};

/// The input shape parsing assumes: one MNIST image.
pub const MNIST_INPUT: Shape = Shape::new(1, 28, 28);

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let activation = |f: &mut fmt::Formatter<'_>, activation: Activation| {
            if activation == Activation::Identity { Ok(()) } else { write!(f, " {activation}") }
        };
        match *self {
            LayerSpec::Dense { outputs, activation: a } => {
                write!(f, "dense({outputs})")?;
                activation(f, a)
            }
            LayerSpec::Conv { filters, kernel, stride, padding, activation: a } => {
                write!(f, "conv({filters},")?;
                if kernel.0 == kernel.1 {
                    write!(f, "{}", kernel.0)?
                } else {
                    write!(f, "{}x{}", kernel.0, kernel.1)?
                }
                if stride != 1 {
                    write!(f, ",stride={stride}")?;
                }
                if padding != 0 {
                    write!(f, ",pad={padding}")?;
                }
                f.write_str(")")?;
                activation(f, a)
            }
            LayerSpec::MaxPool { window, stride } if stride == window => write!(f, "maxpool({window})"),
            LayerSpec::MaxPool { window, stride } => write!(f, "maxpool({window},stride={stride})"),
            LayerSpec::AvgPool { window, stride } if stride == window => write!(f, "avgpool({window})"),
            LayerSpec::AvgPool { window, stride } => write!(f, "avgpool({window},stride={stride})"),
            LayerSpec::GlobalAvgPool => f.write_str("globalavgpool"),
            LayerSpec::BatchNorm => f.write_str("batchnorm"),
            LayerSpec::Flatten => f.write_str("flatten"),
            LayerSpec::Dropout { rate } => write!(f, "dropout({rate})"),
            LayerSpec::Activation(a) => write!(f, "{a}"),
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, layer) in self.layers.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{layer}")?;
        }
        Ok(())
    }
}

/// Why a text is not an architecture: the layer at fault and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseArchitectureError {
    /// The whole text.
    pub text: String,
    /// The layer at fault.
    pub at: String,
    /// What is wrong.
    pub detail: String,
}

// Written by hand rather than derived with thiserror, so that the lean build (no default
// features) compiles neither thiserror's proc-macro nor syn.
impl fmt::Display for ParseArchitectureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ParseArchitectureError { text, at, detail } = self;
        write!(f, "cannot read architecture {text:?}: at {at:?}: {detail}")
    }
}

impl std::error::Error for ParseArchitectureError {}

impl FromStr for Architecture {
    type Err = ParseArchitectureError;

    /// Parses layers separated by spaces (or commas), for a `1x28x28` input; see [`LayerSpec`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error =
            |at: &str, detail: String| ParseArchitectureError { text: text.to_string(), at: at.to_string(), detail };
        let mut layers = Vec::new();
        for token in tokens(text).map_err(|detail| error(text, detail))? {
            layers.push(parse_layer(token).map_err(|detail| error(token, detail))?);
        }
        if layers.is_empty() {
            return Err(error(text, "no layer given".to_string()));
        }
        Ok(Architecture::new(MNIST_INPUT, layers))
    }
}

impl FromStr for LayerSpec {
    type Err = ParseArchitectureError;

    /// Parses one layer, with the activation that may follow a dense or convolutional layer
    /// (`conv(32,3) relu`): the form model files and checkpoints store; several layers are an
    /// error.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let architecture: Architecture = text.parse()?;
        match architecture.layers.as_slice() {
            [layer] => Ok(*layer),
            _ => Err(ParseArchitectureError {
                text: text.to_string(),
                at: text.to_string(),
                detail: format!("it describes {} layers, not one", architecture.layers.len()),
            }),
        }
    }
}

/// Splits at spaces and commas outside parentheses.
fn tokens(text: &str) -> Result<impl Iterator<Item = &str>, String> {
    let mut pieces = Vec::new();
    let (mut depth, mut start) = (0_usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("a `)` without its `(`")?,
            c if depth == 0 && (c.is_whitespace() || c == ',') => {
                pieces.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err("a `(` is not closed".to_string());
    }
    pieces.push(&text[start..]);
    Ok(pieces.into_iter().filter(|p| !p.is_empty()))
}

/// One layer: `name` or `name(arguments)`.
fn parse_layer(token: &str) -> Result<LayerSpec, String> {
    let (name, arguments) = match token.split_once('(') {
        Some((name, rest)) => {
            let inside = rest.strip_suffix(')').ok_or("text after the closing `)`")?;
            (name.trim().to_ascii_lowercase(), Some(inside))
        }
        None => (token.to_ascii_lowercase(), None),
    };
    let mut arguments = Arguments::new(arguments.unwrap_or(""));
    let spec = match name.as_str() {
        "dense" | "linear" | "fc" => {
            LayerSpec::Dense { outputs: arguments.positive("outputs")?, activation: Activation::Identity }
        }
        "conv" | "conv2d" => {
            let filters = arguments.positive("filters")?;
            let kernel = arguments.kernel()?;
            let stride = arguments.optional("stride", 1)?;
            let padding = arguments.optional("pad", 0)?;
            if stride == 0 {
                return Err("the stride must be at least 1".to_string());
            }
            LayerSpec::Conv { filters, kernel, stride, padding, activation: Activation::Identity }
        }
        "maxpool" | "pool" | "maxpool2d" | "avgpool" | "avgpool2d" => {
            let window = arguments.positive("window")?;
            let stride = arguments.optional("stride", window)?;
            if stride == 0 {
                return Err("the stride must be at least 1".to_string());
            }
            if name.starts_with("avg") {
                LayerSpec::AvgPool { window, stride }
            } else {
                LayerSpec::MaxPool { window, stride }
            }
        }
        "globalavgpool" => LayerSpec::GlobalAvgPool,
        "batchnorm" | "batchnorm1d" | "batchnorm2d" | "bn" => LayerSpec::BatchNorm,
        "flatten" => LayerSpec::Flatten,
        "dropout" => {
            let rate: f32 = arguments.next("rate")?.parse().map_err(|_| "the rate is not a number".to_string())?;
            if !(0.0..1.0).contains(&rate) {
                return Err(format!("the rate {rate} is not in [0, 1)"));
            }
            LayerSpec::Dropout { rate }
        }
        _ if arguments.is_empty() && !token.contains('(') => {
            let activation = token.parse::<Activation>().map_err(|error| {
                // A leaky ReLU with a bad slope is a known layer: say what is wrong with it.
                if token.get(..11).is_some_and(|p| p.eq_ignore_ascii_case("leaky_relu:")) {
                    return error.to_string();
                }
                "unknown layer: expected dense(N), conv(FILTERS,KERNEL[,stride=S][,pad=P]), maxpool(W[,stride=S]), \
                 avgpool(W[,stride=S]), globalavgpool, batchnorm, flatten, dropout(P) or an activation (relu, sigmoid, tanh, \
                 leaky_relu[:SLOPE], identity)"
                    .to_string()
            })?;
            LayerSpec::Activation(activation)
        }
        _ => return Err(format!("unknown layer {name:?}")),
    };
    arguments.finish()?;
    Ok(spec)
}

/// The arguments inside a layer's parentheses: positional first, then `name=value`.
struct Arguments<'a> {
    positional: std::collections::VecDeque<&'a str>,
    named: Vec<(&'a str, &'a str)>,
}

impl<'a> Arguments<'a> {
    fn new(text: &'a str) -> Self {
        let mut positional = std::collections::VecDeque::new();
        let mut named = Vec::new();
        for piece in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match piece.split_once('=') {
                Some((name, value)) => named.push((name.trim(), value.trim())),
                None => positional.push_back(piece),
            }
        }
        Arguments { positional, named }
    }

    fn is_empty(&self) -> bool {
        self.positional.is_empty() && self.named.is_empty()
    }

    fn next(&mut self, what: &str) -> Result<&'a str, String> {
        self.positional.pop_front().ok_or_else(|| format!("the {what} is missing"))
    }

    fn positive(&mut self, what: &str) -> Result<usize, String> {
        let value = self.next(what)?;
        match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("the {what} must be a whole number of at least 1, not {value:?}")),
        }
    }

    /// `3` or `3x5`.
    fn kernel(&mut self) -> Result<(usize, usize), String> {
        let value = self.next("kernel size")?;
        let side = |s: &str| s.parse::<usize>().ok().filter(|&n| n > 0);
        match value.split_once(['x', 'X']) {
            Some((h, w)) => side(h).zip(side(w)),
            None => side(value).map(|k| (k, k)),
        }
        .ok_or_else(|| format!("the kernel size must be K or KHxKW (at least 1), not {value:?}"))
    }

    /// A named argument (`stride=2`), or the next positional one, or `default`.
    fn optional(&mut self, name: &str, default: usize) -> Result<usize, String> {
        let given = |(n, _): &&(&str, &str)| n.eq_ignore_ascii_case(name);
        if self.named.iter().filter(given).count() > 1 {
            return Err(format!("{name} is given twice"));
        }
        let value = match self.named.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(i) => self.named.remove(i).1,
            None => match self.positional.pop_front() {
                Some(value) => value,
                None => return Ok(default),
            },
        };
        value.parse().map_err(|_| format!("{name} must be a whole number, not {value:?}"))
    }

    fn finish(self) -> Result<(), String> {
        if let Some(extra) = self.positional.front() {
            return Err(format!("unexpected argument {extra:?}"));
        }
        if let Some((name, _)) = self.named.first() {
            return Err(format!("unknown argument {name:?}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Architecture;

    #[test]
    fn text_round_trips_and_activations_fold() {
        let arch: Architecture = "conv(16, 3, pad=1) relu conv(8,5x3,stride=2) maxpool(3,stride=2) tanh dropout(0.25) \
                                  flatten dense(50) sigmoid dense(10)"
            .parse()
            .unwrap();
        assert_eq!(arch.layers.len(), 8);
        let text = arch.to_string();
        assert_eq!(
            text,
            "conv(16,3,pad=1) relu conv(8,5x3,stride=2) maxpool(3,stride=2) tanh dropout(0.25) flatten dense(50) sigmoid \
             dense(10)"
        );
        assert_eq!(text.parse::<Architecture>().unwrap(), arch);
    }

    #[test]
    fn mistakes_are_named() {
        for (text, at) in [
            ("conv(0,3)", "conv(0,3)"),
            ("dense(10) bogus", "bogus"),
            ("dense(10", "dense(10"),
            ("dropout(1.5)", "dropout(1.5)"),
            ("conv(3)", "conv(3)"),
            ("maxpool(2,size=3)", "maxpool(2,size=3)"),
            ("avgpool(0)", "avgpool(0)"),
            ("avgpool(2,stride=0)", "avgpool(2,stride=0)"),
            ("globalavgpool(2)", "globalavgpool(2)"),
            ("", ""),
        ] {
            let error = text.parse::<Architecture>().unwrap_err();
            assert_eq!(error.at, at, "{error}");
        }
    }

    #[test]
    fn a_bad_slope_and_an_argument_given_twice_are_named_as_such() {
        let detail = |text: &str| text.parse::<Architecture>().unwrap_err().detail;
        assert_eq!(
            detail("dense(10) leaky_relu:NaN"),
            "the slope of \"leaky_relu:NaN\" is not a finite number: give a slope in [0, 1), e.g. leaky_relu:0.1"
        );
        assert_eq!(detail("dense(10) leaky_relu:1.5"), "the slope of \"leaky_relu:1.5\" is not in [0, 1)");
        assert_eq!(detail("conv(4,3,pad=1,pad=2)"), "pad is given twice");
        assert_eq!(detail("maxpool(2,stride=1,STRIDE=2)"), "stride is given twice");
        assert!(detail("dense(10) bogus").starts_with("unknown layer"));
    }
}
