// The training panel's worker: nn-train's training loop, compiled into the page's WebAssembly
// module (crates/nn-wasm/src/training.rs), runs here, so that drawing stays smooth while it
// trains. It trains in chunks of mini-batches; after each it evaluates the test set and posts
// the loss, the accuracy, the first layer's weights and the speed; between chunks it answers
// the page's predictions with the network in training.
//
// Messages in: {type: 'train', module, data, options}, {type: 'stop'},
// {type: 'predict', id, pixels}. Messages out: {type: 'status', text}, {type: 'begun', description},
// {type: 'progress', ...},
// {type: 'done', result, model}, {type: 'failed', error}, {type: 'prediction', id, ...}.
'use strict';

importScripts('/engine.js');

// Mini-batches between two reports: 5,000 images at the recipe's batches of 10.
const CHUNK_BATCHES = 500;

let instance = null;
let dataLoaded = false;
let stopRequested = false;

async function train({ module, data, options }) {
  stopRequested = false;
  if (instance === null || instance.dead) {
    instance = new wasmEngine.Instance((await WebAssembly.instantiate(module, {})).exports);
    dataLoaded = false;
  }
  if (!dataLoaded) await loadData(data);
  instance.call('nn_train_begin', new TextEncoder().encode(JSON.stringify(options)));
  postMessage({ type: 'begun', description: instance.text() });
  postMessage({ type: 'status', text: 'Training…' });
  const started = performance.now();
  let trainingMs = 0;
  let images = 0;
  let chunk;
  let test;
  do {
    const before = performance.now();
    chunk = instance.callWithout('nn_train', CHUNK_BATCHES);
    trainingMs += performance.now() - before;
    images += chunk[1];
    test = instance.callWithout('nn_train_evaluate');
    const weights = instance.callWithout('nn_train_weights');
    postMessage({
      type: 'progress',
      steps: chunk[3],
      epochs: chunk[4],
      images,
      loss: chunk[2],
      accuracy: test[0],
      testLoss: test[1],
      imagesPerSecond: images / (trainingMs / 1000),
      weights,
    }, [weights.buffer]);
    // Lets the page's predictions and a stop in between chunks.
    await new Promise((resolve) => setTimeout(resolve, 0));
  } while (chunk[5] !== 1 && !stopRequested);
  instance.callWithout('nn_train_model');
  const result = {
    accuracy: test[0],
    loss: test[1],
    steps: chunk[3],
    seconds: (performance.now() - started) / 1000,
    images_per_second: images / (trainingMs / 1000),
    stopped: chunk[5] !== 1,
  };
  postMessage({ type: 'done', result, model: instance.text() });
}

// The four files of the data set, each checked against the size and SHA-256 the server lists
// (the browser refuses a download whose hash differs), then checked whole by the module.
async function loadData(data) {
  for (const [index, part] of data.parts.entries()) {
    postMessage({ type: 'status', text: `Downloading the data set (${part.name}, ${(part.bytes / 1e6).toFixed(1)} MB)…` });
    const bytes = await wasmEngine.download('/api/training-data?part=' + encodeURIComponent(part.name), part, `the data set's ${part.name}`);
    instance.call('nn_data_part', bytes, index);
  }
  dataLoaded = true;
}

function predict({ id, pixels }) {
  try {
    if (instance === null) throw new Error('no training has begun');
    postMessage({ type: 'prediction', id, ...instance.predict(pixels) });
  } catch (error) {
    postMessage({ type: 'prediction', id, error: error.message });
  }
}

onmessage = (event) => {
  const message = event.data;
  if (message.type === 'train') {
    train(message).catch((error) => postMessage({ type: 'failed', error: error.message }));
  } else if (message.type === 'stop') {
    stopRequested = true;
  } else if (message.type === 'predict') {
    predict(message);
  }
};
