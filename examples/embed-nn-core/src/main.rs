//! nn-core alone, with `default-features = false` and the `serde` feature (model files): a small
//! convolutional network learns to tell vertical bars from horizontal ones, then is saved and
//! loaded back.
//!
//! `cargo run --manifest-path examples/embed-nn-core/Cargo.toml`

use nn_core::nalgebra::DMatrix;
use nn_core::{Architecture, Gradients, Init, Loss, Mode, Targets, Workspace, load_model, save_model};

/// 5x5 images with one bar: class 0 vertical, class 1 horizontal, at each of the 5 places.
fn bars() -> (Vec<f32>, Vec<usize>) {
    let (mut images, mut classes) = (Vec::new(), Vec::new());
    for class in 0..2 {
        for place in 0..5 {
            images.extend((0..25).map(|pixel| {
                let (row, col) = (pixel / 5, pixel % 5);
                f32::from(u8::from(if class == 0 { col == place } else { row == place }))
            }));
            classes.push(class);
        }
    }
    (images, classes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (images, classes) = bars();
    let arch: Architecture = "conv(4,3,pad=1) relu maxpool(2) flatten dense(2)".parse()?;
    let arch = arch.with_input(nn_core::Shape::new(1, 5, 5));
    let mut network = arch.build(Loss::SoftmaxCrossEntropy, Init::HE, 7)?;
    let (mut workspace, mut gradients) = (Workspace::new(), Gradients::zeros_like(&network));
    for step in 0..300 {
        let targets = Targets::Classes(&classes);
        let loss =
            network.loss_and_gradients(&images, targets, Mode::training(step), &mut workspace, &mut gradients)?;
        network.sgd_step(&gradients, 0.1)?;
        if step % 100 == 0 {
            println!("step {step:>3}: loss {loss:.4}");
        }
    }
    // The re-exported nalgebra names the matrix type without a dependency of our own.
    let probabilities: DMatrix<f32> = network.predict_batch(&images)?;
    let horizontal: Vec<String> = probabilities.row(1).iter().map(|p| format!("{p:.2}")).collect();
    println!("p(horizontal) of each image: {}", horizontal.join(" "));
    let accuracy = network.accuracy(&images, &classes, 4)?;
    println!("accuracy {:.0}%", accuracy * 100.0);

    let path = std::env::temp_dir().join(format!("embed-nn-core-{}.json", std::process::id()));
    save_model(&network, &path)?;
    let loaded = load_model(&path)?;
    std::fs::remove_file(&path)?;
    assert_eq!(loaded, network, "a saved network loads back equal");
    if accuracy < 1.0 {
        return Err(format!("the bars were not learned: accuracy {accuracy}").into());
    }
    Ok(())
}
