//! Training as the page's worker runs it, tested natively on the functions the module's exports
//! call: chunks of mini-batches end with the bits of one uninterrupted nn-train run of the same
//! recipe, the model file it writes is one `nn-cli` reads, and bad data or options are errors
//! with a message.

use mnist_data::idx::{self, IdxArray};
use nn_core::{Activation, Network, Shape};
use nn_train::{PixelSamples, TrainConfig, TrainData, fit, recipe};
use nn_wasm::training::{DataPart, RECIPE, TrainOptions};
use nn_wasm::{Engine, EngineError};

/// The fixture's 100 training digits repeated to 10,100 (Nielsen's recipe holds the last 10,000
/// out), and its 100 test digits.
fn data_set() -> [IdxArray; 4] {
    let dir = test_support::fixtures().join("mnist-100");
    let read = |name: &str| idx::decode(std::fs::read(dir.join(name)).unwrap()).unwrap();
    let (images, labels) = (read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte"));
    let images = IdxArray::new(vec![10_100, 28, 28], images.data().repeat(101)).unwrap();
    let labels = IdxArray::new(vec![10_100], labels.data().repeat(101)).unwrap();
    [images, labels, read("t10k-images-idx3-ubyte"), read("t10k-labels-idx1-ubyte")]
}

fn give(engine: &mut Engine, bytes: &[u8]) {
    engine.input(bytes.len()).unwrap().copy_from_slice(bytes);
}

/// An engine holding the data set, the training files gzip-compressed as the server sends them.
fn engine_with_data() -> Engine {
    let mut engine = Engine::default();
    for (part, array) in data_set().iter().enumerate() {
        give(&mut engine, &idx::encode_gzip(array));
        engine.add_data_part(part as u32).unwrap();
    }
    engine
}

fn begin(engine: &mut Engine, options: &str) -> Result<(), EngineError> {
    give(engine, options.as_bytes());
    engine.begin_training()
}

/// What `nn-cli train --recipe nielsen-ch3` with these choices trains, in one call.
fn uninterrupted(options: &TrainOptions) -> Network {
    let recipe = options.recipe().unwrap();
    let [images, labels, _, _] = data_set();
    let set = mnist_data::Dataset::from_idx(images, labels, Some(10)).unwrap();
    let (train, _) = set.split_validation(recipe.validation_size).unwrap();
    let mut network = recipe.new_network(Shape::new(1, 28, 28), 10, options.seed).unwrap();
    let config: TrainConfig = recipe.train_config(options.seed, train.len());
    let samples = PixelSamples::new(train.pixels(), train.labels(), 784).unwrap();
    fit(&mut network, &config, TrainData::new(&samples)).unwrap();
    network
}

fn trained_network(engine: &mut Engine) -> Network {
    give(engine, &[]);
    let text = engine.trained_model_file().unwrap().to_string();
    nn_core::model_from_json(text.as_bytes(), std::path::Path::new("trained")).unwrap()
}

#[test]
fn chunks_end_with_the_bits_of_one_uninterrupted_training() {
    let options = r#"{"hidden": 12, "activation": "relu", "learning_rate": 0.5, "seed": 4, "epochs": 3}"#;
    let mut engine = engine_with_data();
    begin(&mut engine, options).unwrap();
    let mut chunks = Vec::new();
    loop {
        // 3 does not divide the 10 batches of an epoch: chunks end at the epoch's end too.
        let chunk = engine.train(3).unwrap();
        chunks.push(chunk);
        if chunk.finished {
            break;
        }
    }
    let batches: Vec<usize> = chunks.iter().map(|c| c.batches).collect();
    assert_eq!(batches, [3, 3, 3, 1, 3, 3, 3, 1, 3, 3, 3, 1]);
    let last = chunks.last().unwrap();
    assert_eq!((last.steps, last.epochs), (30, 3));
    assert_eq!(chunks.iter().map(|c| c.images).sum::<usize>(), 300);
    assert!(chunks.iter().all(|c| c.loss.is_finite() && c.loss > 0.0));
    // Once finished, a chunk trains nothing.
    assert_eq!(engine.train(3).unwrap().batches, 0);

    let options = TrainOptions::from_json(options.as_bytes()).unwrap();
    let expected = uninterrupted(&options);
    let trained = trained_network(&mut engine);
    for (ours, theirs) in trained.parameters().iter().zip(expected.parameters()) {
        let ours: Vec<u32> = ours.iter().map(|v| v.to_bits()).collect();
        let theirs: Vec<u32> = theirs.iter().map(|v| v.to_bits()).collect();
        assert_eq!(ours, theirs);
    }
}

#[test]
fn the_defaults_are_nielsens_chapter_three_network_for_one_epoch() {
    let options = TrainOptions::from_json(b"{}").unwrap();
    assert_eq!((options.hidden, options.activation, options.learning_rate), (30, Activation::Sigmoid, 0.1));
    assert_eq!((options.seed, options.epochs), (1, 1));
    let recipe = options.recipe().unwrap();
    let nielsen = recipe::find(RECIPE).unwrap();
    assert_eq!(
        (recipe.batch_size, recipe.optimizer, recipe.loss),
        (nielsen.batch_size, nielsen.optimizer, nielsen.loss)
    );
    assert_eq!((recipe.validation_size, recipe.lambda), (10_000, 5.0));
}

#[test]
fn the_saved_file_records_the_training_and_answers_as_the_engine_does() {
    let mut engine = engine_with_data();
    begin(&mut engine, r#"{"seed": 2}"#).unwrap();
    while !engine.train(4).unwrap().finished {}
    engine.evaluate_training().unwrap();
    let accuracy = engine.output()[0];
    assert_eq!(engine.output()[2], 100.0);
    give(&mut engine, &[]);
    let text = engine.trained_model_file().unwrap().to_string();
    let (network, record) =
        nn_core::model_and_record_from_json(text.as_bytes(), std::path::Path::new("saved")).unwrap();
    let record = record.unwrap();
    assert_eq!((record.train_samples, record.validation_samples, record.seed, record.epochs), (100, 10_000, 2, 1));
    assert_eq!(record.recipe.as_deref(), Some(RECIPE));
    assert_eq!(record.test_accuracy, Some(accuracy));

    // With no model loaded, predictions come from the network in training.
    let [_, _, test_images, _] = data_set();
    let pixels: Vec<f32> = test_images.data()[..784].iter().map(|&p| f32::from(p) / 255.0).collect();
    give(&mut engine, &pixels.iter().flat_map(|p| p.to_le_bytes()).collect::<Vec<u8>>());
    let answer = engine.predict().unwrap().to_vec();
    assert_eq!(answer[1..], network.predict(&pixels).unwrap());
}

#[test]
fn the_first_layer_comes_one_neuron_after_another() {
    let mut engine = engine_with_data();
    begin(&mut engine, r#"{"hidden": 5}"#).unwrap();
    engine.first_layer().unwrap();
    let weights = engine.output().to_vec();
    assert_eq!(weights.len(), 5 * 784);
    let network = trained_network(&mut engine);
    let first = network.parameters()[0];
    assert_eq!(weights[784 + 3], first[(1, 3)]);
}

#[test]
fn bad_options_are_refused_with_what_is_wrong() {
    let mut engine = engine_with_data();
    for (options, expected) in [
        (r#"{"hidden": 0}"#, "hidden must be 1 to"),
        (r#"{"hidden": 100000}"#, "hidden must be 1 to"),
        (r#"{"epochs": 0}"#, "epochs must be 1 to"),
        (r#"{"learning_rate": -1}"#, "learning rate"),
        (r#"{"activation": "swish"}"#, "cannot train so"),
        (r#"{"layers": [1]}"#, "unknown field"),
        ("not json", "cannot train so"),
    ] {
        let error = begin(&mut engine, options).unwrap_err().to_string();
        assert!(error.contains(expected), "{options}: {error}");
    }
    assert!(matches!(engine.train(1), Err(EngineError::NoTraining)));
    assert!(matches!(engine.evaluate_training(), Err(EngineError::NoTraining)));
}

#[test]
fn a_broken_or_missing_data_file_is_refused() {
    let [images, labels, test_images, test_labels] = data_set();
    let mut engine = Engine::default();
    let gz = idx::encode_gzip(&images);
    give(&mut engine, &gz[..gz.len() - 100]);
    assert!(engine.add_data_part(DataPart::TrainImages as u32).unwrap_err().to_string().contains("the data set"));
    let mut flipped = gz.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    give(&mut engine, &flipped);
    assert!(engine.add_data_part(0).is_err());
    give(&mut engine, &idx::encode(&labels));
    assert!(engine.add_data_part(7).unwrap_err().to_string().contains("no data part 7"));
    give(&mut engine, &idx::encode(&labels));
    engine.add_data_part(1).unwrap();
    give(&mut engine, &idx::encode(&test_images));
    engine.add_data_part(2).unwrap();
    give(&mut engine, &idx::encode(&test_labels));
    engine.add_data_part(3).unwrap();
    let error = begin(&mut engine, "{}").unwrap_err().to_string();
    assert!(error.contains("TrainImages has not been received"), "{error}");
    // Images and labels that disagree.
    give(&mut engine, &idx::encode(&test_images));
    engine.add_data_part(0).unwrap();
    assert!(begin(&mut engine, "{}").unwrap_err().to_string().contains("the data set"));
}

/// A second Train in the page starts from the sets the first made (it trains as if alone); a
/// part received again ends the training on the old data set.
#[test]
fn trainings_after_the_first_reuse_the_sets_until_a_part_changes() {
    let options = r#"{"hidden": 6, "seed": 3}"#;
    let mut engine = engine_with_data();
    begin(&mut engine, r#"{"hidden": 4, "seed": 9}"#).unwrap();
    engine.train(2).unwrap();
    begin(&mut engine, options).unwrap();
    while !engine.train(4).unwrap().finished {}
    let expected = uninterrupted(&TrainOptions::from_json(options.as_bytes()).unwrap());
    let trained = trained_network(&mut engine);
    for (ours, theirs) in trained.parameters().iter().zip(expected.parameters()) {
        assert_eq!(
            ours.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            theirs.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    let [_, _, test_images, _] = data_set();
    give(&mut engine, &idx::encode(&test_images));
    engine.add_data_part(DataPart::TestImages as u32).unwrap();
    assert!(matches!(engine.train(1), Err(EngineError::NoTraining)));
    begin(&mut engine, options).unwrap();
    assert_eq!(engine.train(1).unwrap().batches, 1);
}
