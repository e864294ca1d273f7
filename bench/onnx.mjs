// ONNX models beside PyTorch (issue 17): `npm run bench -- --only onnx` (after `npm run build`).
// PyTorch runs in the same run through /usr/bin/python3 (Debian's python3-torch) and
// bench/onnx_torch.py, which rebuilds the fixtures' models (same seeds, checked byte for byte
// against the committed .onnx files). Without torch the PyTorch columns are null, with a note,
// and predictions are compared with the fixtures' recorded expectations only.
// Measures:
// - predictions: Antidote (OnnxModel / OnnxTextModel through loadModel) vs PyTorch on 10,000 MNIST
//   test records (MLP, CNN), 10,000 coloured 32x32 records (ResNet-style), 2,000 texts (text
//   model): argmax agreement and the largest probability difference;
// - forward throughput (records/s) of the CNN and the ResNet: Antidote's path (predictProba on
//   the raw records, which runs the derived graph of src/engine/onnx/onnx-input-graph.ts with the
//   preprocessing inside: the first convolution folded onto the raw records, or the transpose
//   and the normalisation where it does not fold; ONNX Runtime's default threads, and 1 and 2
//   threads), its derived graph's raw sessions (1 and 2 threads, batches of 256; also the
//   Transpose + BatchNormalization variant, `transposed`, and the derived graph with its narrow
//   convolutions packed for ONNX Runtime's channel block, `packed`, which is what predictProba
//   runs: src/engine/onnx/onnx-record-pack.ts), ONNX Runtime sessions on the original graph with
//   intraOpNumThreads 1 and 2 in batches of 64, 256 and 1,024, one 2-thread session without
//   spinning, and two 1-thread sessions in two worker threads taking batches in turn; vs PyTorch
//   on 1 and 2 threads in the same batch sizes, eager (NCHW and channels_last) and as frozen
//   TorchScript (bench/onnx_torch.py). The ratio compares the best of each side (`ratio`: against
//   PyTorch's best of every variant; `ratioEager`: against eager PyTorch only);
// - activation extraction for the 60,000 MNIST training records with the CNN (featurize +
//   classifier.activations of the default layer; and OnnxModel.activationsOf, the preprocessing
//   in the graph), and raw sessions over batch sizes and threads.
// The CPU may be shared: the load average before and after is recorded. `--no-torch` skips
// PyTorch; `--quick` extracts activations of 6,000 records instead (smoke runs; not recorded).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { loadMnist } from '../dist/data/mnist.js';
import { loadModel } from '../dist/engine/model.js';
import { withRawInput } from '../dist/engine/onnx/onnx-input-graph.js';
import { withGraphOutputs } from '../dist/engine/onnx/onnx-proto.js';
import { nchwcBlockSize, packRecords } from '../dist/engine/onnx/onnx-record-pack.js';
import { hasFlag, writeResult } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(here, '..', 'src', 'engine', 'onnx', 'fixtures');
const expectations = JSON.parse(readFileSync(join(FIXTURES, 'expectations.json'), 'utf8'));
const load = { before: loadavg().map((v) => Number(v.toFixed(2))) };

/** Seconds of the best of `repeats` runs of `fn`. */
async function best(fn, repeats = 3) {
  let s = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await fn();
    s = Math.min(s, (performance.now() - t) / 1000);
  }
  return s;
}

/** Argmax agreement and largest absolute difference of two `[n, k]` probability arrays. */
function compare(ours, theirs, k) {
  const n = theirs.length / k;
  let same = 0;
  let maxDiff = 0;
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < k; j++) {
      if (ours[i * k + j] > ours[i * k + a]) a = j;
      if (theirs[i * k + j] > theirs[i * k + b]) b = j;
      maxDiff = Math.max(maxDiff, Math.abs(ours[i * k + j] - theirs[i * k + j]));
    }
    if (a === b) same++;
  }
  return {
    records: n,
    argmaxIdentical: same === n,
    argmaxAgreement: same / n,
    maxProbDiff: maxDiff,
  };
}

// ---- PyTorch, in a child process (first: it writes the records Antidote reads too) ----
const work = mkdtempSync(join(tmpdir(), 'antidote-bench-onnx-'));
let torch = null;
let torchNote = null;
const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
const quick = hasFlag('--quick');
if (hasFlag('--no-torch')) {
  torchNote = 'run with --no-torch: PyTorch not measured';
} else if (hasTorch.status !== 0) {
  torchNote = '/usr/bin/python3 has no torch (apt-get install python3-torch): PyTorch not measured';
} else {
  const r = spawnSync('/usr/bin/python3', [join(here, 'onnx_torch.py'), work], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) {
    console.error(r.stderr);
    process.exit(1);
  }
  torch = JSON.parse(r.stdout.trim().split('\n').at(-1));
}
const f32 = (name) => {
  const b = readFileSync(join(work, name));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

// ---- Predictions ----
const digits = Array.from({ length: 10 }, (_, k) => String(k));
const mnistTest = await loadMnist('test');
const models = {};
for (const name of ['mlp', 'cnn', 'resnet', 'text']) {
  models[name] = await loadModel(join(FIXTURES, `${name}.onnx`));
}
function recorded(name) {
  const e = expectations[name];
  if (name === 'text') {
    const n = e.texts.length;
    return {
      x: new Float32Array(0),
      shape: [n, 0],
      y: Int32Array.from(e.labels),
      classes: ['negative', 'positive'],
      ids: e.texts.map((_, i) => `t${i}`),
      text: e.texts,
    };
  }
  const shape = name === 'resnet' ? [32, 32, 3] : [28, 28, 1];
  return {
    x: Float32Array.from(e.pixels.flat(), (v) => v / 255),
    shape: [e.pixels.length, ...shape],
    y: Int32Array.from(e.labels),
    classes: digits,
    ids: e.pixels.map((_, i) => `r${i}`),
  };
}
let resnetData = null;
let textData = null;
if (torch) {
  const px = readFileSync(join(work, 'resnet.u8'));
  const n = px.length / 3072;
  resnetData = {
    x: Float32Array.from(px, (v) => v / 255),
    shape: [n, 32, 32, 3],
    y: new Int32Array(n),
    classes: digits,
    ids: Array.from({ length: n }, (_, i) => `c${i}`),
  };
  const t = JSON.parse(readFileSync(join(work, 'texts.json'), 'utf8'));
  textData = {
    x: new Float32Array(0),
    shape: [t.texts.length, 0],
    y: Int32Array.from(t.labels),
    classes: ['negative', 'positive'],
    ids: t.texts.map((_, i) => `t${i}`),
    text: t.texts,
  };
}
const predictions = {};
for (const name of ['mlp', 'cnn', 'resnet', 'text']) {
  const m = models[name];
  const k = m.classes.length;
  const rec = recorded(name);
  const entry = {
    recorded: compare(await m.predictProba(rec), expectations[name].probabilities, k),
  };
  if (torch) {
    const data = name === 'resnet' ? resnetData : name === 'text' ? textData : mnistTest;
    entry.pytorch = compare(await m.predictProba(data), f32(`${name}.f32`), k);
  }
  predictions[name] = entry;
}

// ---- Forward throughput ----
/** Runs `session` over `n` records of `x` in batches of `batch`, fetching `fetch`. */
async function runAll(session, x, n, recordShape, fetch, batch) {
  const size = recordShape.reduce((a, b) => a * b, 1);
  const input = session.inputNames[0];
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    const r = await session.run(
      { [input]: new Tensor('float32', x.subarray(i * size, (i + m) * size), [m, ...recordShape]) },
      [fetch],
    );
    r[fetch].dispose();
  }
}

/**
 * Records/s of raw sessions on `bytes` with 1 and 2 intra-op threads, batches of `batches`
 * (keys `threads/batch`), best of 2 passes after a warm-up pass.
 */
async function sessionRates(bytes, x, n, recordShape, fetch, batches) {
  const out = {};
  for (const threads of [1, 2]) {
    const s = await InferenceSession.create(bytes, {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
    for (const batch of batches) {
      const run = () => runAll(s, x, n, recordShape, fetch, batch);
      await run();
      out[`${threads}/${batch}`] = Math.round(n / (await best(run, 2)));
    }
    await s.release();
  }
  return out;
}

/** Records/s of one 2-thread session whose threads sleep between ops instead of spinning. */
async function noSpinRate(bytes, x, n, recordShape, batch) {
  const s = await InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const run = () => runAll(s, x, n, recordShape, 'output', batch);
  await run();
  const rate = Math.round(n / (await best(run, 2)));
  await s.release();
  return rate;
}

const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
/** A worker thread holding a 1-thread session; answers `{ id, data, dims }` with the outputs. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { InferenceSession, Tensor } = require(workerData.ort);
InferenceSession.create(workerData.bytes, {
  graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1,
}).then((s) => {
  parentPort.on('message', async ({ id, data, dims }) => {
    const r = await s.run({ input: new Tensor('float32', data, dims) }, ['output']);
    const out = r.output.data.slice();
    r.output.dispose();
    parentPort.postMessage({ id, out }, [out.buffer]);
  });
  parentPort.postMessage('ready');
});`;

/**
 * Records/s of two 1-thread sessions in two worker threads, each taking the next batch when it
 * is done (the records copied to the worker, the probabilities copied back).
 */
async function poolRate(bytes, x, n, recordShape, batch) {
  const size = recordShape.reduce((a, b) => a * b, 1);
  const workers = await Promise.all(
    [0, 1].map(
      () =>
        new Promise((resolve, reject) => {
          const w = new Worker(WORKER, { eval: true, workerData: { bytes, ort: ortPath } });
          w.once('message', () => resolve(w));
          w.once('error', reject);
        }),
    ),
  );
  let nextId = 0;
  const waiting = new Map();
  for (const w of workers) w.on('message', ({ id, out }) => waiting.get(id)(out));
  const call = (w, start, m) =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      const data = x.slice(start * size, (start + m) * size);
      w.postMessage({ id, data, dims: [m, ...recordShape] }, [data.buffer]);
    });
  const run = async () => {
    let next = 0;
    await Promise.all(
      workers.map(async (w) => {
        while (next < n) {
          const start = next;
          next += batch;
          await call(w, start, Math.min(batch, n - start));
        }
      }),
    );
  };
  await run();
  const rate = Math.round(n / (await best(run, 2)));
  await Promise.all(workers.map((w) => w.terminate()));
  return rate;
}

const FORWARD_BATCHES = [64, 256, 1024];
/** The best PyTorch figure among `keys` of the grid `model/variant/threads/batch`. */
function bestTorch(name, variants) {
  if (!torch) return null;
  const rates = Object.entries(torch.forwardRecordsPerSecond)
    .filter(([k]) => k.startsWith(`${name}/`) && variants.includes(k.split('/')[1]))
    .map(([, v]) => v);
  return rates.length ? Math.max(...rates) : null;
}
const forward = {};
for (const [name, data] of [
  ['cnn', mnistTest],
  ['resnet', resnetData ?? mnistTest],
]) {
  if (name === 'resnet' && !resnetData) continue;
  const m = models[name];
  const n = data.y.length;
  const antidote = {};
  for (const threads of ['default', 1, 2]) {
    if (threads !== 'default') m.useThreads(threads);
    await m.predictProba(data);
    antidote[threads] = Math.round(n / (await best(() => m.predictProba(data))));
  }
  const f = m.featurize(data);
  const shape = m.classifier.inputShape;
  const bytes = readFileSync(join(FIXTURES, `${name}.onnx`));
  const sessions = await sessionRates(bytes, f.x, n, shape, 'output', FORWARD_BATCHES);
  sessions['2/256 no spinning'] = await noSpinRate(bytes, f.x, n, shape, 256);
  sessions['2 workers x 1/256'] = await poolRate(bytes, f.x, n, shape, 256);
  // The derived graph Antidote's path runs (src/engine/onnx/onnx-input-graph.ts): raw HWC
  // records, the first convolution folded onto them (keys threads/batch), and the variant
  // before it, Transpose + BatchNormalization in front of the user's graph (`transposed`).
  const spec = {
    inputName: 'input',
    layout: m.layout,
    rawShape: m.input.shape,
    ...(m.normalization ? { normalization: m.normalization } : {}),
  };
  const raw = withRawInput(bytes, m.graph, spec);
  const derived = await sessionRates(raw.bytes, data.x, n, m.input.shape, 'output', [256]);
  const packed = packRecords(raw.bytes, await nchwcBlockSize());
  for (const [k, v] of Object.entries(
    await sessionRates(packed.bytes, data.x, n, m.input.shape, 'output', [256]),
  )) {
    derived[`packed (factor ${packed.factor}) ${k}`] = v;
  }
  const transposed = withRawInput(bytes, m.graph, { ...spec, foldFirstConv: false });
  for (const [k, v] of Object.entries(
    await sessionRates(transposed.bytes, data.x, n, m.input.shape, 'output', [256]),
  )) {
    derived[`transposed ${k}`] = v;
  }
  const ours = Math.max(
    ...Object.values(antidote),
    ...Object.values(sessions),
    ...Object.values(derived),
  );
  const theirs = bestTorch(name, ['eager', 'channels_last', 'torchscript']);
  const theirsEager = bestTorch(name, ['eager', 'channels_last']);
  forward[name] = {
    records: n,
    antidoteRecordsPerSecond: antidote,
    onnxruntimeSessions: sessions,
    derivedGraphSessions: derived,
    bestOursRecordsPerSecond: ours,
    pytorch: torch
      ? Object.fromEntries(
          Object.entries(torch.forwardRecordsPerSecond)
            .filter(([k]) => k.startsWith(`${name}/`))
            .map(([k, v]) => [k.slice(name.length + 1), v]),
        )
      : null,
    bestPytorchRecordsPerSecond: theirs,
    bestPytorchEagerRecordsPerSecond: theirsEager,
    ratio: theirs ? Number((ours / theirs).toFixed(2)) : null,
    ratioEager: theirsEager ? Number((ours / theirsEager).toFixed(2)) : null,
  };
}

// ---- Activations of 60,000 MNIST records with the CNN ----
const train = await loadMnist('train', quick ? { limit: 6000 } : {});
// A fresh model: the forward figures above left `models.cnn` on 2 threads; this one runs with
// ONNX Runtime's default threads, as `scan` does without `--threads`.
const cnn = await loadModel(join(FIXTURES, 'cnn.onnx'));
const n60 = train.y.length;
const antidoteSeconds = await best(async () => {
  const f = cnn.featurize(train);
  await cnn.classifier.activations(f.x, n60);
}, 2);
// The same activations through the derived graph (raw records, preprocessing in the graph).
const activationsOfSeconds = await best(() => cnn.activationsOf(train), 2);
const layer = cnn.classifier.defaultLayer;
const augmented = withGraphOutputs(readFileSync(join(FIXTURES, 'cnn.onnx')), [layer]);
const featurized = cnn.featurize(train);
const rates = await sessionRates(
  augmented,
  featurized.x,
  n60,
  cnn.classifier.inputShape,
  layer,
  [64, 256, 1024, 4096],
);
const activations = {
  records: n60,
  layer,
  antidoteSeconds: Number(antidoteSeconds.toFixed(3)),
  antidoteActivationsOfSeconds: Number(activationsOfSeconds.toFixed(3)),
  targetSeconds: 3,
  sessionsSeconds: Object.fromEntries(
    Object.entries(rates).map(([k, r]) => [k, Number((n60 / r).toFixed(3))]),
  ),
  pytorchSeconds: torch ? torch.activations60kSeconds : null,
};
for (const m of Object.values(models)) m.dispose();
cnn.dispose();
rmSync(work, { recursive: true, force: true });
load.after = loadavg().map((v) => Number(v.toFixed(2)));

const result = {
  note: 'Measured on a CPU shared with other processes (see load: 1/5/15-minute load averages before and after); sessions keys are threads/batch, pytorch keys variant/threads/batch.',
  load,
  pytorch: torch
    ? {
        version: torch.torch,
        sameWeightsAsCommittedOnnx: torch.sameWeightsAsCommittedOnnx,
        batch: torch.batch,
        forwardBatches: torch.forwardBatches,
      }
    : null,
  ...(torchNote ? { pytorchNote: torchNote } : {}),
  predictions,
  forward,
  activations,
};
console.log(JSON.stringify(result, null, 2));
if (!quick) writeResult('onnx', result);
