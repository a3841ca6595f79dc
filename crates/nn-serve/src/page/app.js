// The draw-a-digit page: strokes on a canvas (pointer events: mouse, pen and touch alike) are
// made a PNG, at most every UPDATE_MS while drawing, prepared and answered by every model loaded,
// and each model's answer is shown as a digit, ten bars and the 28x28 input it saw. The page
// prepares and predicts itself with the server's own code compiled to WebAssembly (engine.js);
// where that cannot run, for the whole page or for one model, it asks POST /api/predict.
'use strict';

const UPDATE_MS = 120;
const INK_WIDTH = 20;

const pad = document.getElementById('pad');
const context = pad.getContext('2d');
const answers = document.getElementById('answers');
const statusLine = document.getElementById('status');
const fileInput = document.getElementById('file');
const drop = document.getElementById('drop');
const engineLine = document.getElementById('engine');

// For scripts and tests: where answers come from, and a prediction on prepared pixels.
window.digits = { engine: null, predict: predictPixels };

let models = [];
const cards = new Map();
// Networks that live in the page itself (the training panel's): name → answer(pixels), a
// Promise of {digit, probabilities}.
const pageModels = new Map();
// The last drawing's prepared pixels, which a page model answers again as it learns.
let lastPrepared = null;
// What GET /api/engine listed, once the engine has started.
let engineListing = null;
let last = null;
let timer = null;
let inFlight = false;
let again = false;
let blank = true;
// Answers to an older drawing are dropped when a newer one was asked for.
let generation = 0;

function clearPad() {
  context.fillStyle = '#fff';
  context.fillRect(0, 0, pad.width, pad.height);
  blank = true;
  lastPrepared = null;
  generation += 1;
  for (const card of cards.values()) resetCard(card, 'Draw a digit');
  statusLine.textContent = '';
}

function point(event) {
  const rect = pad.getBoundingClientRect();
  return {
    x: (event.clientX - rect.left) * (pad.width / rect.width),
    y: (event.clientY - rect.top) * (pad.height / rect.height),
  };
}

function stroke(from, to) {
  context.strokeStyle = '#000';
  context.lineWidth = INK_WIDTH;
  context.lineCap = 'round';
  context.lineJoin = 'round';
  context.beginPath();
  context.moveTo(from.x, from.y);
  context.lineTo(to.x, to.y);
  context.stroke();
}

pad.addEventListener('pointerdown', (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  last = point(event);
  stroke(last, last);
  blank = false;
  schedule();
});

pad.addEventListener('pointermove', (event) => {
  if (last === null) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) {
    const next = point(e);
    stroke(last, next);
    last = next;
  }
  schedule();
});

function endStroke() {
  if (last === null) return;
  last = null;
  schedule();
}
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);

// While drawing, at most one update every UPDATE_MS, and never two requests at once.
function schedule() {
  if (timer === null) timer = setTimeout(() => { timer = null; predictDrawing(); }, UPDATE_MS);
  showPending();
}

// Whether an answer to the drawing is still to come (for tests: the answers shown are final).
function showPending() {
  document.body.dataset.pending = String(timer !== null || inFlight);
}

function predictDrawing() {
  if (blank) return;
  if (inFlight) { again = true; return; }
  inFlight = true;
  const asked = generation;
  pad.toBlob(async (blob) => {
    try {
      if (blob && asked === generation) await predictAll(blob, 'image/png', asked);
    } finally {
      inFlight = false;
      if (again) { again = false; predictDrawing(); }
      showPending();
    }
  }, 'image/png');
}

// Prepares `body` (a picture) once in the page and answers it with every model; the server
// answers the models the page cannot run, from the same prepared pixels.
async function predictAll(body, type, asked) {
  if (window.digits.engine !== 'wasm') return predictAllOnServer(body, type, asked);
  const started = performance.now();
  let prepared;
  try {
    prepared = wasmEngine.prepare(new Uint8Array(await body.arrayBuffer()));
  } catch (error) {
    if (error instanceof wasmEngine.InputError) {
      if (asked === generation) for (const card of cards.values()) resetCard(card, error.message);
      return;
    }
    fallBack(error.message);
    return predictAllOnServer(body, type, asked);
  }
  const preparing = performance.now() - started;
  lastPrepared = prepared.pixels;
  await Promise.all([
    ...models.map(async (model) => {
      const card = cards.get(model.name);
      try {
        const answer = await answerPixels(model.name, prepared.pixels);
        answer.elapsed_ms += preparing;
        if (asked === generation) showAnswer(card, answer);
      } catch (error) {
        if (asked === generation) resetCard(card, error.message);
      }
    }),
    ...Array.from(pageModels.keys(), (name) => answerWithPageModel(name, asked)),
  ]);
}

// A page model's card, added once: it answers every drawing from then on.
function addPageModel(name, description, answer) {
  if (!cards.has(name)) {
    const card = makeCard({ name, architecture: description });
    showWhere(card, 'Trained in this page (WebAssembly, in a worker)');
    cards.set(name, card);
  }
  pageModels.set(name, answer);
}

// The page model `name`'s answer to the last drawing (again, as it learns).
async function answerWithPageModel(name, asked = generation) {
  const card = cards.get(name);
  if (blank || lastPrepared === null) return;
  const pixels = lastPrepared;
  try {
    const started = performance.now();
    const answer = shownAnswer(await pageModels.get(name)(pixels), pixels, started);
    if (asked === generation) showAnswer(card, answer);
  } catch (error) {
    if (asked === generation) resetCard(card, error.message);
  }
}

// A prediction made in the page, in the form of the server's answers that a card shows.
function shownAnswer({ digit, probabilities }, pixels, started) {
  const elapsed = performance.now() - started;
  return { digit, confidence: probabilities[digit], probabilities, prepared: Array.from(pixels), elapsed_ms: elapsed };
}

// Model `name`'s answer to prepared pixels, computed in the page if it can, else by the server.
async function answerPixels(name, pixels) {
  if (wasmEngine.hasModel(name)) {
    const started = performance.now();
    try {
      return shownAnswer(wasmEngine.predict(name, pixels), pixels, started);
    } catch (error) {
      if (error instanceof wasmEngine.InputError) throw error;
      showWhere(cards.get(name), 'Answered by the server: ' + error.message);
    }
  }
  const response = await fetch('/api/predict?model=' + encodeURIComponent(name), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ pixels: Array.from(pixels) }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

// `window.digits.predict`: 784 prepared pixels in 0..1 through model `name` (the first one by
// default): a Promise of {digit, probabilities}.
async function predictPixels(pixels, name) {
  await starting;
  const model = name === undefined ? models[0] : models.find((m) => m.name === name);
  if (!model) throw new Error(`no model named ${JSON.stringify(name)}`);
  if (pixels.length !== 784) throw new Error(`expected 784 pixels, got ${pixels.length}`);
  const { digit, probabilities } = await answerPixels(model.name, Array.from(pixels));
  return { digit, probabilities };
}

async function predictAllOnServer(body, type, asked) {
  await Promise.all(models.map(async (model) => {
    const card = cards.get(model.name);
    try {
      const response = await fetch('/api/predict?model=' + encodeURIComponent(model.name), {
        method: 'POST',
        headers: { 'Content-Type': type },
        body,
      });
      const answer = await response.json();
      if (asked !== generation) return;
      if (response.ok) showAnswer(card, answer); else resetCard(card, answer.error || response.statusText);
    } catch (error) {
      if (asked === generation) resetCard(card, 'No answer: ' + error.message);
    }
  }));
}

function makeCard(model) {
  const card = document.createElement('article');
  card.className = 'answer';
  card.dataset.model = model.name;
  const title = document.createElement('h2');
  title.textContent = model.name;
  const meta = document.createElement('p');
  meta.className = 'meta';
  const where = document.createElement('p');
  where.className = 'meta where';
  const accuracy = model.test_accuracy == null ? '' : ` · ${(100 * model.test_accuracy).toFixed(2)}% on the test set`;
  meta.textContent = model.architecture + accuracy;
  const result = document.createElement('div');
  result.className = 'result';
  const digit = document.createElement('div');
  digit.className = 'digit';
  digit.setAttribute('aria-label', 'predicted digit');
  const confidence = document.createElement('div');
  confidence.className = 'confidence';
  const seen = document.createElement('figure');
  seen.className = 'seen';
  const prepared = document.createElement('canvas');
  prepared.className = 'prepared';
  prepared.width = 28;
  prepared.height = 28;
  prepared.setAttribute('role', 'img');
  prepared.setAttribute('aria-label', 'the 28x28 input the network saw');
  const caption = document.createElement('figcaption');
  caption.textContent = 'what the network sees';
  seen.append(prepared, caption);
  result.append(digit, confidence, seen);
  const bars = document.createElement('ol');
  bars.className = 'bars';
  bars.start = 0;
  for (let d = 0; d < 10; d += 1) {
    const item = document.createElement('li');
    const label = document.createElement('span');
    label.textContent = d;
    const bar = document.createElement('span');
    bar.className = 'bar';
    const fill = document.createElement('span');
    fill.className = 'fill';
    bar.append(fill);
    const pct = document.createElement('span');
    pct.className = 'pct';
    item.append(label, bar, pct);
    bars.append(item);
  }
  card.append(title, meta, where, result, bars);
  answers.append(card);
  const parts = { card, digit, confidence, prepared, bars, where };
  resetCard(parts, 'Draw a digit');
  return parts;
}

function resetCard(parts, message) {
  parts.card.classList.remove('answered');
  delete parts.card.dataset.digit;
  parts.digit.textContent = '–';
  parts.confidence.textContent = message;
  parts.confidence.className = 'confidence message';
  for (const item of parts.bars.children) {
    item.classList.remove('top');
    item.querySelector('.fill').style.width = '0%';
    item.querySelector('.pct').textContent = '';
    item.setAttribute('aria-label', `digit ${item.firstChild.textContent}`);
  }
  const ctx = parts.prepared.getContext('2d');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, 28, 28);
}

function showAnswer(parts, answer) {
  parts.card.classList.add('answered');
  parts.card.dataset.digit = String(answer.digit);
  parts.digit.textContent = String(answer.digit);
  parts.confidence.textContent = `${(100 * answer.confidence).toFixed(1)}% sure · ${answer.elapsed_ms.toFixed(1)} ms`;
  parts.confidence.className = 'confidence';
  answer.probabilities.forEach((p, d) => {
    const item = parts.bars.children[d];
    const percent = (100 * p).toFixed(1);
    item.classList.toggle('top', d === answer.digit);
    item.querySelector('.fill').style.width = `${100 * p}%`;
    item.querySelector('.pct').textContent = `${percent}%`;
    item.setAttribute('aria-label', `digit ${d}: ${percent}%`);
  });
  // MNIST's way: white ink on black.
  const image = new ImageData(28, 28);
  answer.prepared.forEach((v, i) => {
    const level = Math.round(255 * v);
    image.data.set([level, level, level, 255], 4 * i);
  });
  parts.prepared.getContext('2d').putImageData(image, 0, 0);
}

// A file is sent as it is, so the server prepares it exactly as `nn-cli predict` would; the
// pad shows it, and drawing over it asks again about the pad.
async function predictFile(file) {
  if (!file) return;
  generation += 1;
  const asked = generation;
  statusLine.textContent = `Reading ${file.name}…`;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    const w = bitmap.width * scale;
    const h = bitmap.height * scale;
    context.fillStyle = '#fff';
    context.fillRect(0, 0, pad.width, pad.height);
    context.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    blank = false;
  } catch (error) {
    // The server says what is wrong with a file the browser cannot show.
  }
  await predictAll(file, file.type || 'application/octet-stream', asked);
  if (asked === generation) statusLine.textContent = file.name;
}

fileInput.addEventListener('change', () => {
  predictFile(fileInput.files[0]);
  fileInput.value = '';
});
drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  predictFile(event.dataTransfer.files[0]);
});
drop.addEventListener('click', () => fileInput.click());
drop.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); fileInput.click(); }
});
document.getElementById('clear').addEventListener('click', clearPad);
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') clearPad();
});
// A page dropped outside the zone would otherwise be opened by the browser.
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => event.preventDefault());

async function start() {
  clearPad();
  try {
    const response = await fetch('/api/models');
    models = await response.json();
  } catch (error) {
    statusLine.textContent = 'Cannot reach the server: ' + error.message;
    return;
  }
  for (const model of models) cards.set(model.name, makeCard(model));
  await startEngine();
  document.body.dataset.ready = 'true';
}

function showWhere(parts, text) {
  parts.where.textContent = text;
}

// The module, then each model in it; a model it cannot run is answered by the server, and
// where the module cannot run at all, every model is.
async function startEngine() {
  try {
    const response = await fetch('/api/engine');
    if (!response.ok) throw new Error(`GET /api/engine: ${response.status} ${response.statusText}`);
    const listing = await response.json();
    engineListing = listing;
    await wasmEngine.start(listing.module);
    await Promise.all(listing.models.map(async (model) => {
      const card = cards.get(model.name);
      if (!card) return;
      try {
        await wasmEngine.loadModel(model);
        showWhere(card, 'Answered in the page (WebAssembly)');
      } catch (error) {
        showWhere(card, 'Answered by the server: ' + error.message);
      }
    }));
    setEngine('wasm', 'The page prepares and predicts itself (WebAssembly): drawing sends no request.');
  } catch (error) {
    fallBack(error.message);
  }
}

function fallBack(reason) {
  for (const card of cards.values()) showWhere(card, 'Answered by the server');
  setEngine('server', `The page cannot predict itself (${reason}): the server answers (POST /api/predict).`);
}

function setEngine(engine, line) {
  window.digits.engine = engine;
  document.body.dataset.engine = engine;
  engineLine.textContent = line;
}

const starting = start();
