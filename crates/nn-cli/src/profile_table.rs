//! The table of `bench --profile` and `train --profile`: where an epoch's time goes, layer by
//! layer (nn-train's `profile`), for people.

use nn_train::profile::Profile;

/// One line per layer and per other part: seconds an epoch, share of the whole, and the
/// products' rate against this thread's peak.
pub fn profile_table(name: &str, profile: &Profile) -> String {
    let total = profile.total();
    let share = |seconds: f64| if total > 0.0 { 100.0 * seconds / total } else { 0.0 };
    let width = profile.layers.iter().map(|l| l.layer.chars().count()).max().unwrap_or(0).max(16) + 4;
    let mut out = format!(
        "where an epoch of {name} goes: batches of {}, {} an epoch, {} shard{} each; seconds an epoch if one \
         thread did it all\n",
        profile.batch,
        profile.batches,
        profile.shards,
        if profile.shards == 1 { "" } else { "s" }
    );
    out.push_str(&format!(
        "{:<width$} {:>8} {:>9} {:>8} {:>8} {:>6} {:>8} {:>7}\n",
        "part", "forward", "∂weights", "∂input", "total", "share", "GFLOP/s", "of peak"
    ));
    for (index, layer) in profile.layers.iter().enumerate() {
        let name = format!("{index} {}", layer.layer);
        let input = layer.input_gradient.map_or_else(|| "-".to_string(), |s| format!("{s:.3}"));
        let rate = if layer.multiply_adds > 0.0 {
            format!("{:>8.1} {:>6.0}%", layer.flops() / 1e9, 100.0 * layer.flops() / profile.peak_flops)
        } else {
            format!("{:>8} {:>7}", "", "")
        };
        out.push_str(&format!(
            "{name:<width$} {:>8.3} {:>9.3} {input:>8} {:>8.3} {:>5.1}% {rate}\n",
            layer.forward,
            layer.weight_gradients,
            layer.total(),
            share(layer.total())
        ));
    }
    for (part, seconds) in
        [("loss", profile.loss), ("optimizer step", profile.optimizer_step), ("sum of shards", profile.shard_sum)]
    {
        out.push_str(&format!(
            "{part:<width$} {:>8} {:>9} {:>8} {seconds:>8.3} {:>5.1}%\n",
            "",
            "",
            "",
            share(seconds)
        ));
    }
    out.push_str(&format!("{:<width$} {:>8} {:>9} {:>8} {total:>8.3} {:>5.1}%\n", "total", "", "", "", 100.0));
    for &index in &profile.pooled_together {
        out.push_str(&format!(
            "layer {index}'s times include layer {}'s: the trainer computes {} and {} in one pass\n",
            index + 1,
            profile.layers[index].layer,
            profile.layers[index + 1].layer
        ));
    }
    out.push_str(&format!(
        "peak: {:.1} GFLOP/s, this thread's best 256x256x256 matrix product (rates count a convolution's direct \
         products: Winograd's 3x3 does fewer, so it may pass 100%); the trainer runs a batch's shards on all \
         threads at once",
        profile.peak_flops / 1e9
    ));
    out
}
