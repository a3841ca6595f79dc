//! What a model gets right and wrong, class by class: the confusion matrix, per-class precision
//! and recall, and their pictures (text for the terminal, a PNG heat map).

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::caption;
use crate::files::write_atomically;

/// Counts of (true class, predicted class) pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confusion {
    classes: usize,
    /// Row-major: `counts[truth * classes + predicted]`.
    counts: Vec<usize>,
}

/// Precision, recall and support of one class. A ratio with nothing to divide by (a class
/// never predicted, a class absent from the data) is `None`, never NaN.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassStats {
    pub class: usize,
    /// Of the samples predicted as this class, the fraction that are.
    pub precision: Option<f64>,
    /// Of the samples of this class, the fraction predicted as such.
    pub recall: Option<f64>,
    /// Samples of this class in the data.
    pub support: usize,
    /// Samples predicted as this class.
    pub predicted: usize,
}

impl Confusion {
    /// Tallies `labels[i]` against `predicted[i]`. The matrix has at least `classes` classes,
    /// more if a label or prediction is larger.
    pub fn new(classes: usize, labels: &[usize], predicted: &[usize]) -> Confusion {
        assert_eq!(labels.len(), predicted.len(), "one prediction per label");
        let classes = labels.iter().chain(predicted).map(|&c| c + 1).max().unwrap_or(0).max(classes);
        let mut counts = vec![0; classes * classes];
        for (&truth, &guess) in labels.iter().zip(predicted) {
            counts[truth * classes + guess] += 1;
        }
        Confusion { classes, counts }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Samples of class `truth` predicted as `predicted`.
    pub fn count(&self, truth: usize, predicted: usize) -> usize {
        self.counts[truth * self.classes + predicted]
    }

    /// One row per true class.
    pub fn rows(&self) -> Vec<Vec<usize>> {
        self.counts.chunks(self.classes.max(1)).map(<[usize]>::to_vec).collect()
    }

    /// Samples of class `truth`.
    pub fn support(&self, truth: usize) -> usize {
        (0..self.classes).map(|p| self.count(truth, p)).sum()
    }

    /// Samples predicted as `class`.
    pub fn predicted(&self, class: usize) -> usize {
        (0..self.classes).map(|t| self.count(t, class)).sum()
    }

    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    pub fn correct(&self) -> usize {
        (0..self.classes).map(|c| self.count(c, c)).sum()
    }

    pub fn per_class(&self) -> Vec<ClassStats> {
        (0..self.classes)
            .map(|class| {
                let (hits, support, predicted) = (self.count(class, class), self.support(class), self.predicted(class));
                ClassStats {
                    class,
                    precision: ratio(hits, predicted),
                    recall: ratio(hits, support),
                    support,
                    predicted,
                }
            })
            .collect()
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The per-class table: class, precision, recall, support ("—" where a ratio is undefined).
pub fn class_table(stats: &[ClassStats]) -> String {
    let cell = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.4}"));
    let mut out = format!("{:>5}  {:>9}  {:>9}  {:>7}\n", "class", "precision", "recall", "support");
    for s in stats {
        out += &format!("{:>5}  {:>9}  {:>9}  {:>7}\n", s.class, cell(s.precision), cell(s.recall), s.support);
    }
    out
}

/// The confusion matrix as text: rows are true classes, columns predicted ones, counts right
/// aligned, the diagonal (correct answers) in brackets and, when `bold` is set, bold green;
/// zeros off the diagonal are dots so the errors stand out.
pub fn matrix_text(confusion: &Confusion, bold: bool) -> String {
    let n = confusion.classes();
    let biggest = confusion.counts.iter().copied().max().unwrap_or(0).max(n.saturating_sub(1));
    let w = biggest.to_string().len();
    let label = "true\\pred";
    let mut out = label.to_owned();
    for p in 0..n {
        out += &format!(" {p:>w$} ");
    }
    out.push('\n');
    for t in 0..n {
        out += &format!("{t:>width$}", width = label.len());
        for p in 0..n {
            let count = confusion.count(t, p);
            if t == p {
                let cell = format!("[{count:>w$}]");
                if bold {
                    out += &format!("\x1b[1;32m{cell}\x1b[0m");
                } else {
                    out += &cell;
                }
            } else if count == 0 {
                out += &format!(" {:>w$} ", ".");
            } else {
                out += &format!(" {count:>w$} ");
            }
        }
        out.push('\n');
    }
    out
}

/// Side of one cell of the heat map, in pixels.
const CELL: usize = 40;
const BACKGROUND: [u8; 3] = [255, 255, 255];
const GRID: [u8; 3] = [200, 200, 200];
const INK: [u8; 3] = [0, 0, 0];
const LIGHT_INK: [u8; 3] = [255, 255, 255];

/// White for 0, dark blue for 1.
fn shade(fraction: f64) -> [u8; 3] {
    const DARK: [f64; 3] = [8.0, 48.0, 107.0];
    let f = fraction.clamp(0.0, 1.0);
    DARK.map(|d| (255.0 + (d - 255.0) * f).round() as u8)
}

/// The confusion matrix as an RGB heat map: each cell shaded by its count over its row's total
/// (the fraction of that true class), with the count written in it, class labels on both axes
/// and the axis titles ("PREDICTED" on top, "TRUE" down the left). Returns (width, height,
/// RGB bytes).
pub fn heat_map(confusion: &Confusion) -> (u32, u32, Vec<u8>) {
    let n = confusion.classes();
    let scale = 2;
    let (label_w, label_h) = caption::text_size(&n.saturating_sub(1).to_string(), scale);
    let (letter_w, _) = caption::text_size("W", scale);
    let left = 4 + letter_w + 12 + label_w + 6;
    let top = 4 + label_h + 6 + label_h + 6;
    let (width, height) = (left + n * CELL + 8, top + n * CELL + 8);
    let mut canvas = vec![BACKGROUND; width * height];

    let title = "PREDICTED";
    let (title_w, _) = caption::text_size(title, scale);
    caption::draw(&mut canvas, width, (left + n * CELL / 2).saturating_sub(title_w / 2), 4, title, scale, INK);
    let vertical = "TRUE";
    let line = label_h + 2 * scale;
    let y0 = (top + n * CELL / 2).saturating_sub(vertical.len() * line / 2);
    for (i, c) in vertical.chars().enumerate() {
        caption::draw(&mut canvas, width, 4, y0 + i * line, &c.to_string(), scale, INK);
    }

    for class in 0..n {
        let text = class.to_string();
        let (w, h) = caption::text_size(&text, scale);
        let x = left + class * CELL + (CELL - w) / 2;
        caption::draw(&mut canvas, width, x, top - 6 - h, &text, scale, INK);
        let y = top + class * CELL + (CELL - h) / 2;
        caption::draw(&mut canvas, width, left - 6 - w, y, &text, scale, INK);
    }

    for t in 0..n {
        let support = confusion.support(t);
        for p in 0..n {
            let count = confusion.count(t, p);
            let fraction = if support == 0 { 0.0 } else { count as f64 / support as f64 };
            let (x0, y0) = (left + p * CELL, top + t * CELL);
            for y in y0..y0 + CELL {
                for x in x0..x0 + CELL {
                    let edge = x == x0 || y == y0 || x == x0 + CELL - 1 || y == y0 + CELL - 1;
                    canvas[y * width + x] = if edge { GRID } else { shade(fraction) };
                }
            }
            if count > 0 {
                let text = count.to_string();
                let text_scale = if caption::text_size(&text, 2).0 <= CELL - 4 { 2 } else { 1 };
                let (w, h) = caption::text_size(&text, text_scale);
                let ink = if fraction > 0.5 { LIGHT_INK } else { INK };
                let (x, y) = (x0 + (CELL - w) / 2, y0 + (CELL - h) / 2);
                caption::draw(&mut canvas, width, x, y, &text, text_scale, ink);
            }
        }
    }
    (width as u32, height as u32, canvas.into_iter().flatten().collect())
}

/// Writes the [`heat_map`] of `confusion` as a PNG, atomically.
pub fn write_heat_map(confusion: &Confusion, path: &Path) -> Result<()> {
    let (width, height, rgb) = heat_map(confusion);
    let image = image::RgbImage::from_raw(width, height, rgb).context("pixel buffer does not match the image size")?;
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).context("cannot encode the PNG")?;
    write_atomically(path, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes; class 2 is never predicted.
    fn example() -> Confusion {
        let labels = [0, 0, 0, 1, 1, 2, 2, 0];
        let predicted = [0, 0, 1, 1, 0, 1, 0, 0];
        Confusion::new(3, &labels, &predicted)
    }

    #[test]
    fn counts_rows_of_truth_and_columns_of_predictions() {
        let c = example();
        assert_eq!(c.rows(), vec![vec![3, 1, 0], vec![1, 1, 0], vec![1, 1, 0]]);
        assert_eq!((c.total(), c.correct()), (8, 4));
        assert_eq!((c.support(0), c.support(1), c.support(2)), (4, 2, 2));
        assert_eq!((c.predicted(0), c.predicted(1), c.predicted(2)), (5, 3, 0));
    }

    #[test]
    fn precision_and_recall_per_class_without_nan() {
        let stats = example().per_class();
        assert_eq!(stats[0].precision, Some(3.0 / 5.0));
        assert_eq!(stats[0].recall, Some(3.0 / 4.0));
        assert_eq!(stats[1].precision, Some(1.0 / 3.0));
        assert_eq!(stats[1].recall, Some(0.5));
        // Never predicted: precision undefined, recall 0.
        assert_eq!(stats[2].precision, None);
        assert_eq!(stats[2].recall, Some(0.0));
        assert_eq!(stats.iter().map(|s| s.support).collect::<Vec<_>>(), [4, 2, 2]);

        // A class absent from the data and never predicted: both undefined.
        let absent = Confusion::new(3, &[0, 1], &[0, 1]).per_class();
        assert_eq!((absent[2].precision, absent[2].recall, absent[2].support), (None, None, 0));

        let table = class_table(&stats);
        assert!(table.lines().nth(3).unwrap().contains('—'), "{table}");
        assert!(table.contains("0.6000") && table.contains("0.7500"), "{table}");
        assert!(!table.contains("NaN"));
    }

    #[test]
    fn grows_to_fit_labels_and_predictions() {
        let c = Confusion::new(2, &[0, 3], &[4, 0]);
        assert_eq!(c.classes(), 5);
        assert_eq!(c.count(0, 4), 1);
        assert_eq!(Confusion::new(0, &[], &[]).per_class(), vec![]);
    }

    #[test]
    fn matrix_text_aligns_counts_and_marks_the_diagonal() {
        let labels = [[0; 12].as_slice(), &[1, 2]].concat();
        let predicted = [[0; 11].as_slice(), &[2, 1, 0]].concat();
        let c = Confusion::new(3, &labels, &predicted);
        let text = matrix_text(&c, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "true\\pred  0   1   2 ");
        assert_eq!(lines[1], "        0[11]  .   1 ");
        assert_eq!(lines[2], "        1  . [ 1]  . ");
        assert_eq!(lines[3], "        2  1   . [ 0]");
        assert!(matrix_text(&c, true).contains("\x1b[1;32m[11]\x1b[0m"));
    }

    #[test]
    fn heat_map_has_labels_counts_and_shades() {
        let c = example();
        let (w, h, rgb) = heat_map(&c);
        assert_eq!(rgb.len(), w as usize * h as usize * 3);
        assert!(w as usize >= 3 * CELL && h as usize >= 3 * CELL);
        let distinct: std::collections::BTreeSet<&[u8]> = rgb.chunks(3).collect();
        assert!(distinct.len() >= 5, "{} colours", distinct.len());
        assert_eq!(shade(0.0), [255, 255, 255]);
        assert_eq!(shade(1.0), [8, 48, 107]);
    }
}
