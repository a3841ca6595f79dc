//! # nn-wasm
//!
//! `nn-core` and `mnist-data`'s image preparation compiled for `wasm32-unknown-unknown`: the
//! module `nn-serve`'s draw page predicts with, so that a stroke is answered in the page by the
//! same code, and the same numbers, as `POST /api/predict` and `nn-cli predict`.
//!
//! The module imports nothing and exports plain functions (no wasm-bindgen). The page makes one
//! instance per model, so a model that exhausts its instance's memory takes down that instance
//! alone. Bytes go in through a buffer the module owns and numbers come out of another:
//!
//! - `nn_input(bytes) -> address`: a zeroed buffer of `bytes` for the page to write into; 0 if
//!   refused (over [`engine::MAX_INPUT_BYTES`], or no memory left).
//! - `nn_load_model() -> ok`: the buffer read as a model file or a committee file with embedded
//!   members; refused unless it reads 28x28 images and gives ten probabilities.
//! - `nn_prepare_image() -> ok`: the buffer read as a PNG, JPEG or BMP and prepared as
//!   `nn-cli predict` prepares a file; output: inverted (0 or 1), then 784 pixels in 0..1.
//! - `nn_predict() -> ok`: the buffer read as 784 little-endian `f32` pixels in 0..1; output:
//!   the digit, then ten probabilities.
//! - `nn_data_part(part) -> ok`: the buffer read as one file of a data set (IDX, raw or gzip,
//!   checked whole): 0 training images, 1 training labels, 2 test images, 3 test labels; a
//!   training on the data set as it was ends.
//! - `nn_train_begin() -> ok`: the buffer read as the training's options, JSON (see
//!   [`training::TrainOptions`]: `hidden`, `activation`, `learning_rate`, `seed`, `epochs`); a
//!   new network of nn-train's `nielsen-ch3` recipe so changed, on the data set received (its
//!   training and test sets are made at the first training and kept for the next).
//! - `nn_train(batches) -> ok`: at most `batches` mini-batches trained (a chunk ends at an
//!   epoch's end too); output: batches, images, mean loss, steps, epochs, finished (0 or 1).
//! - `nn_train_evaluate() -> ok`: output: the test set's accuracy, loss and image count.
//! - `nn_train_weights() -> ok`: output: the first layer's weights, 784 per hidden neuron.
//! - `nn_train_model() -> ok`: text: the network in training as a model file.
//! - `nn_predict` answers with the network in training when no model is loaded.
//! - `nn_output() -> address`, `nn_output_len() -> count`: the last output, as `f32`s.
//! - `nn_text() -> address`, `nn_text_len() -> bytes`: the last text output, UTF-8.
//! - `nn_message() -> address`, `nn_message_len() -> bytes`: the last error, as UTF-8 text.
//!
//! `ok` is 1 on success and 0 on an error, whose text is then in `nn_message`.
//!
//! The exports are the crate's only `unsafe`: Rust calls naming a symbol (`no_mangle`)
//! unsafe, since two items of one name would clash at link time. No code here dereferences a
//! pointer: the page writes into and reads from memory the module's vectors own.

#![deny(unsafe_code)]

pub mod engine;
mod error;
mod sizes;
pub mod training;

use std::cell::RefCell;

pub use engine::{DIGITS, Engine, EngineError, PIXELS};

thread_local! {
    /// A page's instance runs on one thread; its whole state.
    static STATE: RefCell<State> = RefCell::new(State::default());
}

#[derive(Default)]
struct State {
    engine: Engine,
    message: String,
}

/// Runs `action` on the instance's state: 1 if it succeeded, 0 with its message kept if not.
fn status(action: impl FnOnce(&mut Engine) -> Result<(), EngineError>) -> u32 {
    STATE.with_borrow_mut(|state| {
        state.message.clear();
        match action(&mut state.engine) {
            Ok(()) => 1,
            Err(error) => {
                state.message = error.to_string();
                0
            }
        }
    })
}

/// A zeroed input buffer of `bytes`; its address, or 0 if refused.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_input(bytes: usize) -> usize {
    let mut address = 0;
    status(|engine| {
        engine.input(bytes)?;
        address = engine.input_address();
        Ok(())
    });
    address
}

/// Reads the input buffer as a model file; 1 if loaded.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_load_model() -> u32 {
    status(Engine::load_model)
}

/// Prepares the picture in the input buffer; 1 if prepared.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_prepare_image() -> u32 {
    status(|engine| engine.prepare_image().map(drop))
}

/// Predicts on the pixels in the input buffer; 1 if answered.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_predict() -> u32 {
    status(|engine| engine.predict().map(drop))
}

/// Reads the input buffer as the data set's file `part`; 1 if whole.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_data_part(part: u32) -> u32 {
    status(|engine| engine.add_data_part(part))
}

/// Begins a training with the options in the input buffer; 1 if begun.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_train_begin() -> u32 {
    status(Engine::begin_training)
}

/// Trains at most `batches` mini-batches; 1 if they trained.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_train(batches: usize) -> u32 {
    status(|engine| engine.train(batches).map(drop))
}

/// Evaluates the network in training on the test set; 1 if evaluated.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_train_evaluate() -> u32 {
    status(Engine::evaluate_training)
}

/// The first layer's weights of the network in training as the output; 1 if there is one.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_train_weights() -> u32 {
    status(Engine::first_layer)
}

/// The network in training as model-file text; 1 if written.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_train_model() -> u32 {
    status(|engine| engine.trained_model_file().map(drop))
}

/// Address of the last text output.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_text() -> usize {
    STATE.with_borrow(|state| state.engine.text_address())
}

/// Bytes of the last text output.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_text_len() -> usize {
    STATE.with_borrow(|state| state.engine.text_len())
}

/// Address of the last output's first `f32`.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_output() -> usize {
    STATE.with_borrow(|state| state.engine.output_address())
}

/// `f32`s in the last output.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_output_len() -> usize {
    STATE.with_borrow(|state| state.engine.output_len())
}

/// Address of the last error's text.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_message() -> usize {
    STATE.with_borrow(|state| state.message.as_ptr() as usize)
}

/// Bytes of the last error's text.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn nn_message_len() -> usize {
    STATE.with_borrow(|state| state.message.len())
}
