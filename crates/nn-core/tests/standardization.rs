//! A network that standardises its inputs: what it predicts, and the files that carry it.

use nn_core::{
    Activation, Architecture, Init, Loss, Network, STANDARDIZATION_TENSORS, Shape, Standardization,
    network_from_npz_bytes, network_from_npz_bytes_with_architecture, network_from_safetensors_bytes,
    network_to_npz_bytes, network_to_safetensors_bytes,
};

/// Twenty samples of a 1x4x4 image, values in [0, 1], the first and last pixel always 0.
fn images() -> Vec<f32> {
    (0..20 * 16).map(|i| if i % 16 == 0 || i % 16 == 15 { 0.0 } else { ((i * 37 % 101) as f32) / 100.0 }).collect()
}

fn standardized(arch: &str) -> Network {
    let architecture = Architecture::named_or_parsed(arch).unwrap().with_input(Shape::new(1, 4, 4));
    let mut network = architecture.build(Loss::SoftmaxCrossEntropy, Init::HE, 3).unwrap();
    network.set_standardization(Some(Standardization::of_samples(&images(), 16).unwrap())).unwrap();
    network
}

#[test]
fn predicts_as_the_plain_network_on_standardised_inputs_bit_for_bit_in_any_batch() {
    let network = standardized("conv(2,3) relu flatten dense(3)");
    let mut plain = network.clone();
    plain.set_standardization(None).unwrap();
    let mut by_hand = images();
    network.standardization().unwrap().apply_in_place(&mut by_hand);
    let batch = network.predict_batch(&images()).unwrap();
    assert_eq!(batch, plain.predict_batch(&by_hand).unwrap());
    for (j, image) in images().chunks(16).enumerate() {
        assert_eq!(network.predict(image).unwrap().as_slice(), batch.column(j).as_slice());
    }
    assert_ne!(batch, plain.predict_batch(&images()).unwrap());
    // The border pixels are constant: centred on 0 and not scaled.
    let standardization = network.standardization().unwrap();
    assert_eq!((standardization.mean()[0], standardization.deviation()[0]), (0.0, 1.0));
}

#[test]
fn a_size_that_is_not_the_inputs_is_refused() {
    let mut network = Network::dense(&[16, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let error = network.set_standardization(Some(Standardization::new(vec![0.0; 15], vec![1.0; 15]).unwrap()));
    assert_eq!(
        error.unwrap_err().to_string(),
        "the input standardisation has 15 features, but the network takes 16 values per sample"
    );
    assert!(network.standardization().is_none());
}

#[test]
fn npz_files_carry_it_as_input_mean_and_input_deviation() {
    let dense = standardized("flatten dense(5) sigmoid dense(3)");
    let bytes = network_to_npz_bytes(&dense).unwrap();
    let back = network_from_npz_bytes(&bytes, Activation::Sigmoid, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(back.standardization(), dense.standardization());
    assert_eq!(back.predict_batch(&images()).unwrap(), dense.predict_batch(&images()).unwrap());

    let conv = standardized("conv(2,3) relu flatten dense(3)");
    let bytes = network_to_npz_bytes(&conv).unwrap();
    let back = network_from_npz_bytes_with_architecture(&bytes, &conv.architecture(), conv.loss()).unwrap();
    assert_eq!(back, conv);
}

#[test]
fn safetensors_files_carry_it_and_half_of_it_is_refused() {
    let conv = standardized("conv(2,3) relu maxpool(2) flatten dense(3)");
    let bytes = network_to_safetensors_bytes(&conv).unwrap();
    let back = network_from_safetensors_bytes(&bytes, &conv.architecture(), conv.loss()).unwrap();
    assert_eq!(back, conv);

    // The same file without the deviation.
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView<'_>)> =
        file.tensors().into_iter().filter(|(name, _)| name != STANDARDIZATION_TENSORS[1]).collect();
    let half = safetensors::serialize(kept, None).unwrap();
    let error = network_from_safetensors_bytes(&half, &conv.architecture(), conv.loss()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the input standardisation cannot be read: input.deviation is missing (input.mean and input.deviation go \
         together)"
    );
}
