//! `nn-cli recipes` and the `--recipe`/`--recipe-file` flags, over `nn_train::recipe`.

use std::path::Path;

use anyhow::{Result, bail};
use nn_train::recipe::{self, Recipe};

/// The built-in recipes as a table, or as JSON lines (`cargo xtask reproduce` reads those).
pub fn list(json: bool) -> String {
    let mut out = String::new();
    for r in recipe::built_in() {
        if json {
            let published =
                r.published.as_ref().map(|p| serde_json::json!({"accuracy": p.accuracy, "source": p.source}));
            let spread = r.seed_spread.as_ref().map(|s| {
                serde_json::json!({"seeds": s.seeds, "min": s.min, "max": s.max, "mean": s.mean, "measured": s.measured})
            });
            let record = serde_json::json!({
                "name": r.name, "about": r.about, "published": published, "bar": r.bar, "arch": r.arch,
                "epochs": r.epochs, "batch_size": r.batch_size, "max_steps": r.max_steps, "seed_spread": spread,
            });
            out.push_str(&format!("{record}\n"));
        } else {
            let published = r
                .published
                .as_ref()
                .map_or(String::new(), |p| format!(" (published: {:.2}%, {})", 100.0 * p.accuracy, p.source));
            let bar = r.bar.map_or(String::new(), |bar| format!(" [bar: {:.2}%]", 100.0 * bar));
            let spread = r.seed_spread.as_ref().map_or(String::new(), |s| format!(" (here over {s}, {})", s.measured));
            out.push_str(&format!("{:<16} {}{published}{spread}{bar}\n", r.name, r.about));
        }
    }
    out
}

/// The recipe of `--recipe NAME` or `--recipe-file FILE` (the default recipe without either).
pub fn resolve(name: Option<&str>, file: Option<&Path>) -> Result<Recipe> {
    Ok(match (name, file) {
        (Some(_), Some(_)) => bail!("give --recipe or --recipe-file, not both"),
        (_, Some(path)) => Recipe::load(path)?,
        (name, None) => recipe::named(name.unwrap_or("default"))?,
    })
}
