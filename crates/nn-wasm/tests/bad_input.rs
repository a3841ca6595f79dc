//! What the module does with what a page may hand it, tested natively on the functions its
//! exports call: every bad input is an error with a message, never a panic, and the good ones
//! give the bits of nn-core and mnist-data themselves.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageFormat, Luma};
use nn_core::{Activation, Architecture, Classifier, Committee, Init, Loss, Network, Shape};
use nn_wasm::engine::MAX_INPUT_BYTES;
use nn_wasm::{Engine, EngineError, PIXELS};

fn dense(seed: u64) -> Network {
    Network::dense(&[784, 16, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, seed).unwrap()
}

fn conv() -> Network {
    let architecture: Architecture = "conv(4,5) relu maxpool(2) flatten dense(10)".parse().unwrap();
    architecture.with_input(Shape::new(1, 28, 28)).build(Loss::SoftmaxCrossEntropy, Init::HE, 3).unwrap()
}

/// Hands `bytes` to the engine as the page does.
fn give(engine: &mut Engine, bytes: &[u8]) {
    engine.input(bytes.len()).unwrap().copy_from_slice(bytes);
}

fn load(engine: &mut Engine, text: &[u8]) -> Result<(), EngineError> {
    give(engine, text);
    engine.load_model()
}

fn pixel_bytes(pixels: &[f32]) -> Vec<u8> {
    pixels.iter().flat_map(|p| p.to_le_bytes()).collect()
}

fn predict(engine: &mut Engine, pixels: &[f32]) -> Result<Vec<f32>, EngineError> {
    give(engine, &pixel_bytes(pixels));
    engine.predict().map(<[f32]>::to_vec)
}

/// A "7"-ish stroke, dark on light, as a PNG.
fn drawing(format: ImageFormat) -> Vec<u8> {
    let mut image = GrayImage::from_pixel(120, 100, Luma([250]));
    for x in 30..90 {
        for y in 20..28 {
            image.put_pixel(x, y, Luma([10]));
        }
    }
    for y in 20..85 {
        for x in 80 - (y - 20) / 3..88 - (y - 20) / 3 {
            image.put_pixel(x, y, Luma([10]));
        }
    }
    let mut bytes = Vec::new();
    DynamicImage::ImageLuma8(image).write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

#[test]
fn a_network_and_a_committee_answer_with_nn_cores_own_numbers() {
    let pixels: Vec<f32> = (0..PIXELS).map(|i| (i % 255) as f32 / 255.0).collect();
    for network in [dense(1), conv()] {
        let mut engine = Engine::default();
        load(&mut engine, nn_core::model_to_json(&network).unwrap().as_bytes()).unwrap();
        let output = predict(&mut engine, &pixels).unwrap();
        let expected = network.predict(&pixels).unwrap();
        assert_eq!(output[1..], expected[..], "the same bits as nn-core");
        let best = (0..10).fold(0, |b, d| if expected[d] > expected[b] { d } else { b });
        assert_eq!(output[0], best as f32);
    }
    let committee = Committee::new(vec![dense(1), dense(2)]).unwrap();
    let mut engine = Engine::default();
    load(&mut engine, nn_core::committee_to_json(&committee).unwrap().as_bytes()).unwrap();
    assert_eq!(predict(&mut engine, &pixels).unwrap()[1..], committee.predict(&pixels).unwrap()[..]);
}

#[test]
fn a_picture_is_prepared_as_nn_cli_predict_prepares_it() {
    for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Bmp] {
        let bytes = drawing(format);
        let mut engine = Engine::default();
        give(&mut engine, &bytes);
        let output = engine.prepare_image().unwrap().to_vec();
        let expected = mnist_data::image_file::prepare_bytes(&bytes).unwrap();
        assert_eq!(output[0], 1.0, "dark ink on light paper is inverted");
        assert_eq!(output[1..], expected.input()[..], "{format:?}");
    }
}

#[test]
fn predicting_before_a_model_is_loaded_is_an_error() {
    let mut engine = Engine::default();
    let error = predict(&mut engine, &[0.0; PIXELS]).unwrap_err();
    assert!(matches!(error, EngineError::NoModel), "{error}");
}

#[test]
fn a_damaged_model_file_is_refused_and_leaves_no_model() {
    let text = nn_core::model_to_json(&dense(1)).unwrap();
    let mut engine = Engine::default();
    load(&mut engine, text.as_bytes()).unwrap();
    let mut flipped = text.clone().into_bytes();
    let middle = flipped.len() / 2;
    flipped[middle] = b'}';
    for bad in [&text.as_bytes()[..text.len() / 2], b"", b"   ", b"not json", &flipped[..], &[0xff, 0xfe, 0x00]] {
        let error = load(&mut engine, bad).unwrap_err();
        assert!(!error.to_string().is_empty());
        assert!(matches!(predict(&mut engine, &[0.0; PIXELS]), Err(EngineError::NoModel)), "no model after {error}");
    }
}

#[test]
fn a_model_that_is_not_a_digit_model_is_refused() {
    let three_outputs = Network::dense(&[784, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let regression = Network::dense(&[784, 10], Activation::Relu, Loss::IdentityMeanSquared, Init::HE, 1).unwrap();
    let wrong_input = Network::dense(&[100, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    for (network, says) in [(three_outputs, "3 outputs"), (regression, "not probabilities"), (wrong_input, "inputs of")]
    {
        let mut engine = Engine::default();
        let error = load(&mut engine, nn_core::model_to_json(&network).unwrap().as_bytes()).unwrap_err();
        assert!(matches!(error, EngineError::NotADigitModel(_)) && error.to_string().contains(says), "{error}");
    }
    let unknown_layer = nn_core::model_to_json(&dense(1)).unwrap().replacen("dense(16)", "dense2(16)", 1);
    let error = load(&mut Engine::default(), unknown_layer.as_bytes()).unwrap_err();
    assert!(matches!(error, EngineError::Model(_)), "{error}");
}

#[test]
fn pixels_must_be_784_numbers_in_0_to_1() {
    let mut engine = Engine::default();
    load(&mut engine, nn_core::model_to_json(&dense(1)).unwrap().as_bytes()).unwrap();
    let error = predict(&mut engine, &[0.5; 783]).unwrap_err();
    assert!(error.to_string().contains("expected 784 pixels"), "{error}");
    give(&mut engine, &[0; 4 * PIXELS + 1]);
    assert!(matches!(engine.predict(), Err(EngineError::Pixels(_))));
    for (value, says) in [(f32::NAN, "NaN"), (1.5, "1.5"), (-0.25, "-0.25"), (f32::INFINITY, "inf")] {
        let mut pixels = vec![0.5; PIXELS];
        pixels[7] = value;
        let error = predict(&mut engine, &pixels).unwrap_err();
        assert!(error.to_string().contains(&format!("pixel 7 is {says}")), "{error}");
    }
}

#[test]
fn a_buffer_beyond_the_limit_is_refused_before_it_is_allocated() {
    let mut engine = Engine::default();
    assert!(matches!(engine.input(MAX_INPUT_BYTES + 1), Err(EngineError::TooLarge { .. })));
    assert!(matches!(engine.input(usize::MAX), Err(EngineError::TooLarge { .. })));
    assert_eq!(engine.input(MAX_INPUT_BYTES.min(1 << 20)).unwrap().len(), 1 << 20);
}

#[test]
fn a_bad_picture_is_an_error() {
    let png = drawing(ImageFormat::Png);
    let jpeg = drawing(ImageFormat::Jpeg);
    let blank = {
        let mut bytes = Vec::new();
        DynamicImage::ImageLuma8(GrayImage::from_pixel(40, 40, Luma([255])))
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    };
    for (bad, says) in [
        (&png[..png.len() / 2], "not a readable image"),
        (&jpeg[..jpeg.len() - 40], "truncated JPEG"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "not a readable image"),
        (b"", "not a readable image"),
        (&blank[..], "no digit found"),
    ] {
        let mut engine = Engine::default();
        give(&mut engine, bad);
        let error = engine.prepare_image().unwrap_err();
        assert!(error.to_string().contains(says), "{error}");
    }
    // A BMP whose header declares 5000x4000 pixels, over `MAX_IMAGE_PIXELS`, is refused before
    // it is decoded.
    let mut huge = drawing(ImageFormat::Bmp);
    huge[18..22].copy_from_slice(&5000i32.to_le_bytes());
    huge[22..26].copy_from_slice(&4000i32.to_le_bytes());
    let mut engine = Engine::default();
    give(&mut engine, &huge);
    let error = engine.prepare_image().unwrap_err();
    assert!(matches!(error, EngineError::ImageTooLarge { width: 5000, height: 4000 }), "{error}");
}
