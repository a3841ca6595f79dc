// The "Train here" panel: a network of nn-train's `nielsen-ch3` recipe learns in a Web Worker
// (train-worker.js) on the data set the server was started with (`nn-cli serve --data DIR`).
// After each chunk of steps the panel draws the training loss and the test accuracy, the first
// layer's weights as 28x28 tiles and the speed, and the network in training answers the
// drawing beside the server's models. "Save" downloads it as a model file.
'use strict';

const TRAINED_HERE = 'trained here';

const trainForm = document.getElementById('train-form');
const trainButton = document.getElementById('train');
const stopButton = document.getElementById('stop');
const saveButton = document.getElementById('save');
const trainingStatus = document.getElementById('training-status');
const chart = document.getElementById('training-chart');
const tiles = document.getElementById('training-tiles');

let worker = null;
// Why the panel cannot train here, once known (null: it can).
let cannotTrain = 'the page is starting';
// The training running: its promise's callbacks and its points for the chart.
let running = null;
let trainedModel = null;
let predictionId = 0;
const predictions = new Map();

// For scripts and tests: what the panel's button does, and the last trained network's file.
window.digits.train = trainInPage;
window.digits.model = () => trainedModel;

// Trains with `options` ({hidden, activation, learning_rate, seed, epochs}; each left out takes
// the recipe's value, and the seed 1 and one epoch): a Promise of {accuracy, loss, steps,
// seconds, images_per_second}: the test set's accuracy and mean loss at the end, the steps
// trained, the seconds from the first step to the end (the evaluations after each chunk
// included), and the training images a second while training.
async function trainInPage(options = {}) {
  await starting;
  if (cannotTrain !== null) throw new Error(cannotTrain);
  if (running !== null) throw new Error('a training is already running: stop it first');
  return new Promise((resolve, reject) => {
    running = { resolve, reject, points: [], hidden: 0 };
    trainButton.disabled = true;
    stopButton.disabled = false;
    saveButton.disabled = true;
    trainingStatus.textContent = 'Starting…';
    drawChart([]);
    worker.postMessage({ type: 'train', module: wasmEngine.compiled(), data: engineListing.training_data, options });
  });
}

function formOptions() {
  const form = new FormData(trainForm);
  return {
    hidden: Number(form.get('hidden')),
    activation: form.get('activation'),
    learning_rate: Number(form.get('learning_rate')),
    seed: Number(form.get('seed')),
    epochs: Number(form.get('epochs')),
  };
}

// The network in training's answer to prepared pixels, computed in the worker between chunks.
function predictInWorker(pixels) {
  return new Promise((resolve, reject) => {
    predictionId += 1;
    predictions.set(predictionId, { resolve, reject });
    worker.postMessage({ type: 'predict', id: predictionId, pixels: Array.from(pixels) });
  });
}

function finish(outcome) {
  const { resolve, reject } = running;
  running = null;
  trainButton.disabled = false;
  stopButton.disabled = true;
  saveButton.disabled = trainedModel === null;
  if (outcome instanceof Error) reject(outcome); else resolve(outcome);
}

function onWorkerMessage(event) {
  const message = event.data;
  if (message.type === 'prediction') {
    const pending = predictions.get(message.id);
    predictions.delete(message.id);
    if (message.error) pending.reject(new Error(message.error)); else pending.resolve(message);
  } else if (message.type === 'status') {
    trainingStatus.textContent = message.text;
  } else if (message.type === 'begun') {
    addPageModel(TRAINED_HERE, message.description, predictInWorker);
  } else if (message.type === 'progress') {
    running.points.push(message);
    drawChart(running.points);
    drawTiles(message.weights);
    trainingStatus.textContent = `Step ${message.steps.toLocaleString('en')} · epochs done: ${message.epochs}`
      + ` · loss ${message.loss.toFixed(4)} · test accuracy ${(100 * message.accuracy).toFixed(2)}%`
      + ` · ${Math.round(message.imagesPerSecond).toLocaleString('en')} images/s`;
    answerWithPageModel(TRAINED_HERE);
  } else if (message.type === 'done') {
    trainedModel = message.model;
    const { result } = message;
    trainingStatus.textContent = `${result.stopped ? 'Stopped' : 'Trained'}: ${(100 * result.accuracy).toFixed(2)}% `
      + `of the test images right after ${result.steps} steps, in ${result.seconds.toFixed(1)} s `
      + `(${Math.round(result.images_per_second).toLocaleString('en')} images/s while training).`;
    document.body.dataset.trained = 'true';
    const { accuracy, loss, steps, seconds, images_per_second: imagesPerSecond } = result;
    finish({ accuracy, loss, steps, seconds, images_per_second: imagesPerSecond });
  } else if (message.type === 'failed') {
    trainingStatus.textContent = 'Training stopped: ' + message.error;
    finish(new Error(message.error));
  }
}

// Training loss (left scale, from 0 to its largest value) and test accuracy (right scale, 0 to
// 100%) against the images trained on.
function drawChart(points) {
  const ctx = chart.getContext('2d');
  const { width, height } = chart;
  const left = 30;
  const right = width - 34;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = '#888';
  ctx.lineWidth = 1;
  ctx.strokeRect(left, 4, right - left, height - 28);
  ctx.fillStyle = '#888';
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillText('100%', right + 3, 12);
  ctx.fillText('0%', right + 3, height - 24);
  ctx.fillText('0', left - 10, height - 24);
  if (points.length === 0) return;
  const lastImages = points[points.length - 1].images;
  const maxLoss = Math.max(...points.map((p) => p.loss)) || 1;
  ctx.fillText(maxLoss.toPrecision(2), 2, 12);
  ctx.textAlign = 'right';
  ctx.fillText(`${lastImages.toLocaleString('en')} images`, right, height - 10);
  ctx.textAlign = 'left';
  const x = (p) => left + (right - left) * (p.images / lastImages);
  const plot = (color, y) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p), y(p)) : ctx.lineTo(x(p), y(p))));
    ctx.stroke();
  };
  const top = 4;
  const bottom = height - 24;
  plot('#c0392b', (p) => bottom - (bottom - top) * (p.loss / maxLoss));
  plot('#1a7f37', (p) => bottom - (bottom - top) * p.accuracy);
}

// Each hidden neuron's 784 weights as a 28x28 tile, scaled by its largest magnitude.
function drawTiles(weights) {
  const neurons = weights.length / 784;
  const columns = Math.min(neurons, 10);
  const rows = Math.ceil(neurons / columns);
  const width = columns * 29 - 1;
  const height = rows * 29 - 1;
  if (tiles.width !== width || tiles.height !== height) {
    tiles.width = width;
    tiles.height = height;
    // Twice the size for a few neurons, less for many, so that 100 tiles fit a laptop's screen.
    tiles.style.width = `${(neurons > 30 ? 1.5 : 2) * width}px`;
  }
  const image = new ImageData(width, height);
  for (let n = 0; n < neurons; n += 1) {
    const w = weights.subarray(784 * n, 784 * (n + 1));
    const largest = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
    const left = 29 * (n % columns);
    const top = 29 * Math.floor(n / columns);
    for (let i = 0; i < 784; i += 1) {
      const a = w[i] / largest;
      const at = 4 * ((top + Math.floor(i / 28)) * width + left + (i % 28));
      const rgb = a >= 0 ? [255 * a, 64 * a, 32 * a] : [-32 * a, -96 * a, -255 * a];
      image.data.set([rgb[0], rgb[1], rgb[2], 255], at);
    }
  }
  tiles.getContext('2d').putImageData(image, 0, 0);
}

function save() {
  if (trainedModel === null) return;
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([trainedModel], { type: 'application/json' }));
  link.download = 'trained-here.json';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

trainForm.addEventListener('submit', (event) => {
  event.preventDefault();
  trainInPage(formOptions()).catch((error) => { trainingStatus.textContent = 'Training stopped: ' + error.message; });
});
stopButton.addEventListener('click', () => worker && worker.postMessage({ type: 'stop' }));
saveButton.addEventListener('click', save);

starting.then(() => {
  if (window.digits.engine !== 'wasm') {
    cannotTrain = 'training in the page needs WebAssembly, which this browser cannot run';
  } else if (!engineListing || !engineListing.training_data) {
    cannotTrain = 'this server offers no data set to train on: start it with '
      + '`nn-cli serve --model MODEL --data data/mnist`';
  } else {
    cannotTrain = null;
    worker = new Worker('/train-worker.js');
    worker.onmessage = onWorkerMessage;
    worker.onerror = (event) => {
      cannotTrain = `the training worker failed: ${event.message}`;
      if (running !== null) finish(new Error(cannotTrain));
    };
    trainButton.disabled = false;
  }
  const { train_images: trainImages } = engineListing?.training_data ?? {};
  trainingStatus.textContent = cannotTrain === null
    ? `Ready to train on the server's ${trainImages.toLocaleString('en')} training images.`
    : `Cannot train here: ${cannotTrain}.`;
  document.body.dataset.training = cannotTrain === null ? 'ready' : 'unavailable';
});
