//! Exports a network to `.npz` and prints its predictions, so that NumPy code can be checked
//! against it: `cargo run -p nn-core --example npz_roundtrip -- OUT.npz`.

use nn_core::{Activation, Init, Loss, Network, export_npz};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "network.npz".to_string());
    let net = Network::dense(&[5, 8, 3], Activation::Sigmoid, Loss::SoftmaxCrossEntropy, Init::NIELSEN, 4)?;
    export_npz(&net, &path)?;
    let input = [0.1, -0.2, 0.3, 0.9, -1.0];
    println!("wrote {path}; probabilities for {input:?}: {:?}", net.predict(&input)?);
    Ok(())
}
