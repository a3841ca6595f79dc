//! `/metrics` is valid text in the exposition format whatever the models are named: the
//! whole page is read by a strict parser written here, independent of the crate that writes it.

use nn_serve::{Config, NamedModel, ServeError};

mod common;
use common::{TestServer, pixels_json, post, trained_network};

/// A sample of the text format: its metric name, labels and value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses one sample line strictly: `name{label="value",...} value`, the label values with
/// only the escapes `\\`, `\"` and `\n`, and nothing after the value.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let is_name_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let end = line.find(|c: char| !is_name_char(c)).unwrap_or(line.len());
    let name = &line[..end];
    if !name.starts_with(is_name_start) {
        return Err(format!("no metric name in {line:?}"));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(inside) = rest.strip_prefix('{') {
        rest = inside;
        while !rest.starts_with('}') {
            if !labels.is_empty() {
                rest = rest.strip_prefix(',').ok_or_else(|| format!("no comma before {rest:?}"))?;
            }
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let label = &rest[..end];
            if label.is_empty() || label.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!("bad label name in {line:?}"));
            }
            rest = rest[end..].strip_prefix("=\"").ok_or_else(|| format!("no =\" after {label} in {line:?}"))?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next() {
                    None => return Err(format!("unterminated value in {line:?}")),
                    Some((at, '"')) => break at,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("bad escape {other:?} in {line:?}")),
                    },
                    Some((_, '\n')) => return Err(format!("raw newline in {line:?}")),
                    Some((_, c)) => value.push(c),
                }
            };
            labels.push((label.to_string(), value));
            rest = &rest[close + 1..];
        }
        rest = &rest[1..];
    }
    let value = rest.strip_prefix(' ').ok_or_else(|| format!("no space before the value in {line:?}"))?;
    let number = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || ".eE+-".contains(c)) => {
            value.parse().map_err(|_| format!("bad value in {line:?}"))?
        }
        _ => return Err(format!("bad value in {line:?}")),
    };
    Ok((name.to_string(), labels, number))
}

/// Parses a whole page: comments `# HELP`, `# TYPE`, `# UNIT`, samples, and `# EOF` last.
fn parse_page(text: &str) -> Result<Vec<Sample>, String> {
    let body = text.strip_suffix("# EOF\n").ok_or("the page does not end with # EOF")?;
    let mut samples = Vec::new();
    for line in body.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (kind, name) = (words.next(), words.next());
            if !matches!(kind, Some("HELP" | "TYPE" | "UNIT")) || name.is_none_or(str::is_empty) {
                return Err(format!("bad comment {line:?}"));
            }
        } else {
            samples.push(parse_sample(line)?);
        }
    }
    Ok(samples)
}

#[test]
fn metrics_stay_valid_for_a_model_named_with_a_quote_and_a_backslash() {
    let dir = std::env::temp_dir().join(format!("nn-serve-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("we\"ird\\name.json");
    nn_core::save_model(&trained_network(7), &path).unwrap();
    let weird = NamedModel::load(&path).unwrap();
    assert_eq!(weird.name(), "we\"ird\\name");
    // A newline, a control character, cannot be in a name at all.
    let newline = dir.join("two\nlines.json");
    nn_core::save_model(&trained_network(7), &newline).unwrap();
    assert!(matches!(NamedModel::load(&newline), Err(ServeError::InvalidName(_))));
    std::fs::remove_dir_all(&dir).unwrap();

    let server = TestServer::start(vec![weird], Config::default());
    let pixels = pixels_json(&[0.5; 784]);
    let answer =
        post(&format!("{}/api/predict?model=we%22ird%5Cname", server.url), Some("application/json"), pixels.as_bytes());
    assert_eq!(answer.status, 200, "{}", answer.body);
    let digit = answer.json()["digit"].as_u64().unwrap().to_string();
    let page = common::get(&format!("{}/metrics", server.url)).body;
    let samples = parse_page(&page).unwrap_or_else(|e| panic!("{e}\n{page}"));
    let labels = vec![("model".to_string(), "we\"ird\\name".to_string()), ("digit".to_string(), digit)];
    assert!(
        samples.iter().any(|(name, l, value)| name == "predictions_total" && *l == labels && *value == 1.0),
        "no prediction of the model in\n{page}"
    );
    assert!(samples.iter().any(|(name, _, _)| name == "http_request_duration_seconds_bucket"), "{page}");
}

#[test]
fn the_parser_refuses_what_is_not_the_format() {
    for line in [
        "m{model=\"a\"b\"} 1",
        "m{model=\"a\\b\"} 1",
        "m{model=\"a} 1",
        "m{model=\"a\",} 1",
        "m{=\"a\"} 1",
        "m 1 2",
        "m",
        "9m 1",
    ] {
        assert!(parse_sample(line).is_err(), "{line}");
    }
    assert_eq!(parse_sample("m{a=\"x\\\"y\\\\z\\n\",b=\"\"} +Inf").unwrap().1[0].1, "x\"y\\z\n");
}
