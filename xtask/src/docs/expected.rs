//! Comparing what a command printed with what the docs show: `...` lines, `[..]` inside a
//! line, durations normalised on both sides, and a unified diff when they differ.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

/// A duration as the commands print them: `4.7s`, `in 3.1 s`, `12 ms`, `(0.5 s)`.
static DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|[\s(])\d+(\.\d+)?\s?(ms|µs|s)\b").expect("a valid pattern"));

/// The lines as compared: durations replaced by `[time]`, trailing spaces and trailing empty
/// lines dropped (Markdown editors strip them).
pub fn normalise(text: &str) -> Vec<String> {
    let mut lines: Vec<String> =
        text.lines().map(|line| DURATION.replace_all(line.trim_end(), "${1}[time]").into_owned()).collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// Whether `actual` is what `expected` describes, wildcards included.
pub fn matches(expected: &[String], actual: &[String]) -> bool {
    let mut memo = HashMap::new();
    matches_from(expected, actual, 0, 0, &mut memo)
}

fn matches_from(
    expected: &[String],
    actual: &[String],
    e: usize,
    a: usize,
    memo: &mut HashMap<(usize, usize), bool>,
) -> bool {
    if let Some(&known) = memo.get(&(e, a)) {
        return known;
    }
    let result = match expected.get(e) {
        None => a == actual.len(),
        Some(line) if is_any_lines(line) => (a..=actual.len()).any(|k| matches_from(expected, actual, e + 1, k, memo)),
        Some(line) => {
            a < actual.len() && line_matches(line, &actual[a]) && matches_from(expected, actual, e + 1, a + 1, memo)
        }
    };
    memo.insert((e, a), result);
    result
}

/// A line `...` (indented or not) stands for any number of lines.
pub fn is_any_lines(line: &str) -> bool {
    line.trim() == "..."
}

/// One line against a pattern whose `[..]` stands for any text within the line.
pub fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// A unified diff of the expected lines and the actual ones, where the actual lines that a
/// wildcard covers are written as the docs write them, so that only real differences show.
pub fn diff(expected: &[String], actual: &[String]) -> String {
    let shown = as_documented(expected, actual);
    let text = |lines: &[String]| lines.iter().map(|line| format!("{line}\n")).collect::<String>();
    let (old, new) = (text(expected), text(&shown));
    similar::TextDiff::from_lines(&old, &new).unified_diff().context_radius(3).header("docs", "actual").to_string()
}

/// The actual lines with what `...` and `[..]` cover replaced by the expected lines, up to the
/// first line that differs.
fn as_documented(expected: &[String], actual: &[String]) -> Vec<String> {
    let mut shown = Vec::new();
    let (mut e, mut a) = (0, 0);
    while e < expected.len() {
        if is_any_lines(&expected[e]) {
            let Some(next) = expected.get(e + 1) else {
                shown.push(expected[e].clone());
                a = actual.len();
                e += 1;
                continue;
            };
            match (a..actual.len()).find(|&k| line_matches(next, &actual[k])) {
                Some(k) => {
                    shown.push(expected[e].clone());
                    a = k;
                    e += 1;
                }
                None => break,
            }
        } else if a < actual.len() && line_matches(&expected[e], &actual[a]) {
            shown.push(expected[e].clone());
            e += 1;
            a += 1;
        } else {
            break;
        }
    }
    shown.extend(actual[a..].iter().cloned());
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        normalise(text)
    }

    #[test]
    fn durations_are_normalised_and_other_numbers_are_not() {
        assert_eq!(
            lines("epoch 1/2  loss 0.23  test 96.18%  4.7s\ndone in 3.1 s (12 ms each), 50 steps  "),
            ["epoch 1/2  loss 0.23  test 96.18%  [time]", "done in [time] ([time] each), 50 steps"]
        );
    }

    #[test]
    fn dots_match_any_number_of_lines_and_brackets_any_text() {
        let expected = lines("a\n  ...\nd [..] f\n...");
        assert!(matches(&expected, &lines("a\nd e f")));
        assert!(matches(&expected, &lines("a\nb\nc\nd eee f\ng")));
        assert!(!matches(&expected, &lines("a\nb\nd e g")));
        assert!(!matches(&lines("a"), &lines("a\nb")));
        assert!(matches(&lines("x ... y"), &lines("x ... y")));
        assert!(!line_matches("ab[..]ba", "aba"));
    }

    #[test]
    fn the_diff_shows_only_what_differs() {
        let expected = lines("a\n...\nd 1\ne");
        let diff = diff(&expected, &lines("a\nb\nc\nd 1\nE"));
        assert!(diff.contains("-e\n+E\n"), "{diff}");
        assert!(!diff.contains("+b"), "{diff}");
    }
}
