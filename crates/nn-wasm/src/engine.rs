//! What one module instance holds and does: an input buffer the page writes into, at most one
//! model, and the numbers of the last answer. Every failure is an [`EngineError`] whose text the
//! page shows; nothing here panics on what the page sends.

use std::io::Cursor;
use std::path::Path;

use image::ImageReader;
use mnist_data::prepare::FIELD;
use nn_core::{Classifier, Model, ModelFileError, Shape};

pub use crate::error::EngineError;
pub use crate::sizes::{DIGITS, MAX_IMAGE_PIXELS, MAX_INPUT_BYTES, PIXELS};
use crate::training::{Chunk, DataPart, TrainOptions, Trainer};

/// One instance's state: a model loaded to predict with, or a training (the page's worker),
/// whose network then answers.
#[derive(Debug, Default)]
pub struct Engine {
    input: Vec<u8>,
    model: Option<Model>,
    trainer: Trainer,
    output: Vec<f32>,
    text: String,
}

impl Engine {
    /// An input buffer of `bytes` zeros, for the page to fill; the previous one is dropped.
    pub fn input(&mut self, bytes: usize) -> Result<&mut [u8], EngineError> {
        self.input = Vec::new();
        if bytes > MAX_INPUT_BYTES {
            return Err(EngineError::TooLarge { bytes });
        }
        // try_reserve: running out of the browser's memory is an answer, not an abort.
        self.input.try_reserve_exact(bytes).map_err(|_| EngineError::TooLarge { bytes })?;
        self.input.resize(bytes, 0);
        Ok(&mut self.input)
    }

    /// Reads the input buffer as a model file or a committee file with embedded members (the
    /// form `GET /api/model-file` sends) and keeps the model, if it is a digit model.
    pub fn load_model(&mut self) -> Result<(), EngineError> {
        self.model = None;
        let text = std::mem::take(&mut self.input);
        let path = Path::new("the downloaded model");
        let model = match nn_core::model_from_json(&text, path) {
            Err(ModelFileError::IsACommittee { .. }) => Model::Committee(nn_core::committee_from_json(&text, path)?),
            loaded => Model::Network(loaded?),
        };
        check_digit_model(&model)?;
        self.model = Some(model);
        Ok(())
    }

    /// Prepares the picture in the input buffer (PNG, JPEG or BMP) as `nn-cli predict` and
    /// `POST /api/predict` do; the output is whether it was inverted (0 or 1), then the 784
    /// pixels in 0..1.
    pub fn prepare_image(&mut self) -> Result<&[f32], EngineError> {
        self.output.clear();
        let bytes = std::mem::take(&mut self.input);
        refuse_large_image(&bytes)?;
        let prepared = mnist_data::image_file::prepare_bytes(&bytes)?;
        self.output.push(if prepared.inverted { 1.0 } else { 0.0 });
        self.output.extend(prepared.input());
        Ok(&self.output)
    }

    /// Predicts on the 784 pixels in the input buffer (little-endian `f32`s in 0..1, the
    /// prepared image); the output is the digit, then the ten probabilities.
    pub fn predict(&mut self) -> Result<&[f32], EngineError> {
        self.output.clear();
        let model: &dyn Classifier = match (&self.model, self.trainer.network()) {
            (Some(model), _) => model,
            (None, Some(network)) => network,
            (None, None) => return Err(EngineError::NoModel),
        };
        let pixels = pixels_from_bytes(&self.input)?;
        let probabilities = model.predict(&pixels)?;
        // The first of equal probabilities wins, as `nn-serve` and `nn-cli predict` rank them.
        self.output.push(nn_core::softmax::argmax(&probabilities) as f32);
        self.output.extend(probabilities);
        Ok(&self.output)
    }

    /// Reads the input buffer as the data set's file `part` (IDX, raw or gzip); a training on
    /// the data set as it was ends.
    pub fn add_data_part(&mut self, part: u32) -> Result<(), EngineError> {
        let bytes = std::mem::take(&mut self.input);
        let part = DataPart::from_index(part).ok_or_else(|| EngineError::Data(format!("no data part {part}")))?;
        self.trainer.add_part(part, bytes)
    }

    /// Begins a training with the options in the input buffer (JSON: see [`TrainOptions`]);
    /// the text output says what it trains.
    pub fn begin_training(&mut self) -> Result<(), EngineError> {
        self.text.clear();
        let options = TrainOptions::from_json(&std::mem::take(&mut self.input))?;
        self.text = self.trainer.begin(options)?;
        Ok(())
    }

    /// Trains at most `batches` mini-batches; the output is the batches trained, the images
    /// they held, their mean loss, the steps and epochs done, and 1 if training has finished.
    pub fn train(&mut self, batches: usize) -> Result<Chunk, EngineError> {
        self.output.clear();
        let chunk = self.trainer.run(batches)?;
        self.output.extend([
            chunk.batches as f32,
            chunk.images as f32,
            chunk.loss,
            chunk.steps as f32,
            chunk.epochs as f32,
            if chunk.finished { 1.0 } else { 0.0 },
        ]);
        Ok(chunk)
    }

    /// Evaluates the network in training on the test set; the output is its accuracy, loss and
    /// number of images.
    pub fn evaluate_training(&mut self) -> Result<(), EngineError> {
        self.output.clear();
        let metrics = self.trainer.evaluate()?;
        self.output.extend([metrics.accuracy, metrics.loss, metrics.total as f32]);
        Ok(())
    }

    /// The output: the first layer's weights of the network in training, 784 per neuron.
    pub fn first_layer(&mut self) -> Result<(), EngineError> {
        self.output = self.trainer.first_layer()?;
        Ok(())
    }

    /// The text output: the network in training as a model file.
    pub fn trained_model_file(&mut self) -> Result<&str, EngineError> {
        self.text = self.trainer.model_file()?;
        Ok(&self.text)
    }

    /// The last text output's first byte.
    pub fn text_address(&self) -> usize {
        self.text.as_ptr() as usize
    }

    /// Bytes of the last text output.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The input buffer's first byte, where the page writes.
    pub fn input_address(&mut self) -> usize {
        self.input.as_mut_ptr() as usize
    }

    /// The output's first number, where the page reads.
    pub fn output_address(&self) -> usize {
        self.output.as_ptr() as usize
    }

    /// The last output's numbers.
    pub fn output(&self) -> &[f32] {
        &self.output
    }

    /// Numbers in the output.
    pub fn output_len(&self) -> usize {
        self.output.len()
    }
}

/// The checks `nn-serve` makes of a model it serves (`NamedModel::new`).
fn check_digit_model(model: &Model) -> Result<(), EngineError> {
    let input = model.input_shape();
    if model.input_size() != PIXELS || !(input.is_flat() || input == Shape::new(1, FIELD, FIELD)) {
        return Err(EngineError::NotADigitModel(format!("it takes inputs of {input}, not {FIELD}x{FIELD} images")));
    }
    if model.output_size() != DIGITS {
        return Err(EngineError::NotADigitModel(format!("it has {} outputs, not {DIGITS}", model.output_size())));
    }
    if !model.loss().outputs_are_probabilities() {
        return Err(EngineError::NotADigitModel(format!("its outputs are {}, not probabilities", model.loss())));
    }
    Ok(())
}

/// 784 little-endian `f32`s, each finite and in 0..1 (what `POST /api/predict` accepts as JSON).
fn pixels_from_bytes(bytes: &[u8]) -> Result<Vec<f32>, EngineError> {
    if bytes.len() != 4 * PIXELS {
        return Err(EngineError::Pixels(format!(
            "expected {PIXELS} pixels ({FIELD}x{FIELD}), got {} bytes",
            bytes.len()
        )));
    }
    let pixels: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if let Some((index, value)) = pixels.iter().enumerate().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
        return Err(EngineError::Pixels(format!("pixel {index} is {value}: pixels are numbers in 0..1")));
    }
    Ok(pixels)
}

/// `nn-serve`'s bound on a picture, read from its header before it is decoded.
fn refuse_large_image(bytes: &[u8]) -> Result<(), EngineError> {
    let dimensions =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok().and_then(|r| r.into_dimensions().ok());
    match dimensions {
        Some((width, height)) if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS => {
            Err(EngineError::ImageTooLarge { width, height })
        }
        // Unreadable headers are left to `prepare_bytes`, which says what is wrong with them.
        _ => Ok(()),
    }
}
