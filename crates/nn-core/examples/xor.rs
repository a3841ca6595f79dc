//! Learns XOR with a 2-4-2 network, no data files: `cargo run -p nn-core --example xor`.

use nn_core::{Activation, Gradients, Init, Loss, Mode, Network, NnError, Targets, Workspace};

fn main() -> Result<(), NnError> {
    // The four samples one after the other, and their classes.
    let inputs = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let labels = [0, 1, 1, 0];
    let mut net = Network::dense(&[2, 4, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 7)?;
    println!("{}\n", net.summary());
    let mut workspace = Workspace::new();
    let mut gradients = Gradients::zeros_like(&net);
    for epoch in 0..=2000 {
        let loss = net.loss_and_gradients(
            &inputs,
            Targets::Classes(&labels),
            Mode::training(0),
            &mut workspace,
            &mut gradients,
        )?;
        net.sgd_step(&gradients, 0.5)?;
        if epoch % 400 == 0 {
            println!("epoch {epoch:>4}  loss {loss:.5}");
        }
    }
    for sample in inputs.chunks(2) {
        let p = net.predict(sample)?;
        println!("{sample:?} -> class {} (p = {:.3})", nn_core::softmax::argmax(&p), p[1]);
    }
    let accuracy = net.accuracy(&inputs, &labels, 100)?;
    println!("accuracy {:.0}%", accuracy * 100.0);
    Ok(())
}
