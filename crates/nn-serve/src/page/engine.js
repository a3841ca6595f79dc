// The page's own predictions (and, in train-worker.js, which loads this file too, its
// training): nn-core and mnist-data's image preparation compiled to
// WebAssembly (crates/nn-wasm). The module and each model file are downloaded once, checked
// against the size and SHA-256 that GET /api/engine lists (the browser refuses a download whose
// hash differs), and each model runs in an instance of its own, so that one that exhausts its
// memory or traps takes down only itself.
'use strict';

const wasmEngine = (() => {
  // Subresource Integrity takes the hash in base64.
  function integrity(hex) {
    const bytes = hex.match(/../g).map((pair) => parseInt(pair, 16));
    return 'sha256-' + btoa(String.fromCharCode(...bytes));
  }

  async function download(url, listing, what) {
    let response;
    try {
      response = await fetch(url, { integrity: integrity(listing.sha256), cache: 'no-store' });
    } catch (error) {
      throw new Error(`${what} did not arrive intact (size or SHA-256 differs, or the connection failed): ${error.message}`);
    }
    if (!response.ok) throw new Error(`${what}: ${response.status} ${response.statusText}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.length !== listing.bytes) {
      throw new Error(`${what} arrived with ${bytes.length} bytes, not ${listing.bytes}`);
    }
    return bytes;
  }

  // One instance of the module and the calls of its exports (see crates/nn-wasm/src/lib.rs).
  class Instance {
    constructor(exports) {
      this.exports = exports;
      this.dead = null;
    }

    message() {
      const e = this.exports;
      const length = e.nn_message_len() >>> 0;
      return new TextDecoder().decode(new Uint8Array(e.memory.buffer, e.nn_message() >>> 0, length));
    }

    // Runs an export; a trap (memory exhausted, a bug) leaves the instance unusable for good.
    run(action) {
      if (this.dead) throw new Error(this.dead);
      try {
        return action(this.exports);
      } catch (error) {
        this.dead = `the module stopped: ${error.message}`;
        throw new Error(this.dead);
      }
    }

    // Writes `bytes` into the module's input buffer, then calls `name` with `args`; the output
    // as numbers.
    call(name, bytes, ...args) {
      return this.run((e) => {
        const address = e.nn_input(bytes.length) >>> 0;
        if (e.nn_message_len() > 0) throw new Error(this.message());
        new Uint8Array(e.memory.buffer, address, bytes.length).set(bytes);
        if (e[name](...args) !== 1) throw new Error(this.message());
        return this.output();
      });
    }

    // 784 pixels in 0..1 through the instance's model (or network in training): the digit and
    // ten probabilities.
    predict(pixels) {
      const output = this.call('nn_predict', new Uint8Array(Float32Array.from(pixels).buffer));
      return { digit: output[0], probabilities: Array.from(output.subarray(1)) };
    }

    // Calls `name` with `args` alone (no input); the output as numbers.
    callWithout(name, ...args) {
      return this.run((e) => {
        if (e[name](...args) !== 1) throw new Error(this.message());
        return this.output();
      });
    }

    output() {
      const e = this.exports;
      return new Float32Array(e.memory.buffer, e.nn_output() >>> 0, e.nn_output_len() >>> 0).slice();
    }

    // The last text output (a model file).
    text() {
      const e = this.exports;
      return new TextDecoder().decode(new Uint8Array(e.memory.buffer, e.nn_text() >>> 0, e.nn_text_len() >>> 0));
    }
  }

  // Errors of the module's answers are the input's fault, not the instance's: keep them apart.
  class InputError extends Error {}

  function checked(instance, action) {
    try {
      return action(instance);
    } catch (error) {
      if (instance.dead) throw error;
      throw new InputError(error.message);
    }
  }

  let module = null;
  let preparer = null;
  const models = new Map();

  async function instantiate() {
    return new Instance((await WebAssembly.instantiate(module, {})).exports);
  }

  // Downloads and compiles the module; throws, with the reason, where it cannot run.
  async function start(listing) {
    if (typeof WebAssembly !== 'object' || typeof WebAssembly.instantiate !== 'function') {
      throw new Error('this browser cannot run WebAssembly');
    }
    const bytes = await download('/nn.wasm', listing, 'the WebAssembly module');
    module = await WebAssembly.compile(bytes);
    preparer = await instantiate();
  }

  // Downloads a model file and loads it in an instance of its own; throws with the reason.
  async function loadModel(listing) {
    if (!listing.sha256) throw new Error(listing.not_offered || 'the server does not offer its file');
    const bytes = await download('/api/model-file?model=' + encodeURIComponent(listing.name), listing, 'its file');
    const instance = await instantiate();
    instance.call('nn_load_model', bytes);
    models.set(listing.name, instance);
  }

  function hasModel(name) {
    const instance = models.get(name);
    return instance !== undefined && !instance.dead;
  }

  // A picture's bytes (PNG, JPEG or BMP) prepared as the server prepares it.
  function prepare(bytes) {
    const output = checked(preparer, (p) => p.call('nn_prepare_image', bytes));
    return { inverted: output[0] === 1, pixels: output.subarray(1) };
  }

  // 784 pixels in 0..1 through model `name`: the digit and ten probabilities.
  function predict(name, pixels) {
    return checked(models.get(name), (model) => model.predict(pixels));
  }

  // The compiled module, for the training panel's worker (null until `start` has run).
  function compiled() {
    return module;
  }

  return { start, loadModel, hasModel, prepare, predict, InputError, download, Instance, compiled };
})();
