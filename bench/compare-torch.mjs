// Side-by-side with PyTorch (issue 10): the same architectures, data, batch size (64) and optimiser
// (Adam 1e-3) on the same machine in the same run. PyTorch comes from Debian (`apt-get install
// python3-torch libopenblas0-pthread`, run with /usr/bin/python3: without OpenBLAS, Debian's torch
// falls back to the reference BLAS, ~30× slower matrix products); without torch this suite says so
// and exits 0.
// Reports Antidote / PyTorch(2 threads) for training samples/s, forward (activations) samples/s and
// input-gradient time per batch. Antidote runs on 1 thread and data-parallel on 2; the better is
// in the table, both in the JSON. `--records N` (default 12,800); `--repeat R` rounds (default 3),
// alternating Antidote and PyTorch: the table shows each figure's median and the median of the
// rounds' ratios, the JSON every round.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMnist } from '../dist/data/mnist.js';
import { initEngine, trainClassifier } from '../dist/engine/index.js';
import { writeResult } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const recordsArg = process.argv.indexOf('--records');
const n = recordsArg > 0 ? Number(process.argv[recordsArg + 1]) : 12_800;
const repeatArg = process.argv.indexOf('--repeat');
const repeat = repeatArg > 0 ? Number(process.argv[repeatArg + 1]) : 3;
const py = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
if (py.status !== 0) {
  console.error(
    'bench compare-torch: skipped, /usr/bin/python3 has no torch (apt-get install python3-torch)',
  );
  process.exit(0);
}

await initEngine({ backend: 'wasm' });
const train = await loadMnist('train', { limit: n });

/** One measurement of Antidote: training on 1 and 2 threads, forward and input gradients. */
async function measureOurs() {
  const ours = {};
  for (const arch of ['cnn', 'mlp']) {
    const model = arch === 'mlp' ? { arch: 'mlp', hidden: [256] } : 'cnn';
    // One thread, then data-parallel over two (both cores, like PyTorch with 2 threads).
    const opts = { model, seed: 1, epochs: 1, batchSize: 64, learningRate: 0.001 };
    const single = await trainClassifier(train, opts);
    const h1 = single.lastHistory;
    single.dispose();
    const c = await trainClassifier(train, { ...opts, threads: 2 });
    const h2 = c.lastHistory;
    // The better of the two is reported (data parallelism only pays for compute-heavy steps).
    const sps1 = h1.samples / h1.seconds;
    const sps2 = h2.samples / h2.seconds;
    // Forward passes and input gradients on this thread, then split over two.
    const xb = train.x.subarray(0, 64 * 784);
    const yb = train.y.subarray(0, 64);
    const inference = {};
    for (const threads of [1, 2]) {
      c.useThreads(threads);
      await c.activations(train.x.subarray(0, 640 * 784), 640); // warm-up (starts the workers)
      let t = performance.now();
      await c.activations(train.x, n);
      const forward = n / ((performance.now() - t) / 1000);
      await c.lossGradient(xb, yb);
      t = performance.now();
      for (let i = 0; i < 20; i++) await c.lossGradient(xb, yb);
      inference[threads] = { forward, gradBatch: (performance.now() - t) / 1000 / 20 };
    }
    const forward = Math.max(inference[1].forward, inference[2].forward);
    const gradBatch = Math.min(inference[1].gradBatch, inference[2].gradBatch);
    ours[arch] = {
      trainSamplesPerSecond: Math.round(Math.max(sps1, sps2)),
      trainThreads: sps2 > sps1 ? 2 : 1,
      trainSamplesPerSecondByThreads: { 1: Math.round(sps1), 2: Math.round(sps2) },
      forwardSamplesPerSecond: Math.round(forward),
      inputGradientSecondsPerBatch: gradBatch,
      // Best of 1 and 2 threads is reported above; both here.
      inferenceByThreads: {
        1: {
          forwardSamplesPerSecond: Math.round(inference[1].forward),
          inputGradientSecondsPerBatch: inference[1].gradBatch,
        },
        2: {
          forwardSamplesPerSecond: Math.round(inference[2].forward),
          inputGradientSecondsPerBatch: inference[2].gradBatch,
        },
      },
    };
    c.dispose();
  }
  return ours;
}

/** One measurement of PyTorch (1 and 2 threads), in a child process. */
function measureTorch() {
  const torchRun = spawnSync('/usr/bin/python3', [join(here, 'torch_compare.py'), String(n)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '2' },
  });
  if (torchRun.status !== 0) {
    console.error(torchRun.stderr);
    process.exit(1);
  }
  return JSON.parse(torchRun.stdout);
}

const median = (values) => {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

// Rounds alternate Antidote and PyTorch, so that both see the same (shared, noisy) machine; each
// round's ratios pair measurements taken minutes apart at most, and the table shows medians.
const rounds = [];
for (let r = 0; r < repeat; r++) {
  const ours = await measureOurs();
  const torch = measureTorch();
  const round = {};
  for (const arch of ['cnn', 'mlp']) {
    const t2 = torch.results[`${arch}/2`];
    round[arch] = {
      antidote: ours[arch],
      torch2: t2,
      torch1: torch.results[`${arch}/1`],
      ratioTrain: ours[arch].trainSamplesPerSecond / t2.trainSamplesPerSecond,
      ratioForward: ours[arch].forwardSamplesPerSecond / t2.forwardSamplesPerSecond,
      // time ratio inverted so that higher is better, like the others
      ratioInputGradient: t2.inputGradientSecondsPerBatch / ours[arch].inputGradientSecondsPerBatch,
    };
  }
  rounds.push({ torchVersion: torch.torch, round });
  if (repeat > 1) console.error(`bench compare-torch: round ${r + 1}/${repeat} done`);
}
const pick = (arch, side, key) => median(rounds.map((x) => x.round[arch][side][key]));
const table = {};
for (const arch of ['cnn', 'mlp']) {
  const side = (name) => ({
    trainSamplesPerSecond: Math.round(pick(arch, name, 'trainSamplesPerSecond')),
    forwardSamplesPerSecond: Math.round(pick(arch, name, 'forwardSamplesPerSecond')),
    inputGradientSecondsPerBatch: pick(arch, name, 'inputGradientSecondsPerBatch'),
  });
  table[arch] = {
    antidote: side('antidote'),
    torch2: side('torch2'),
    torch1: side('torch1'),
    ratioTrain: median(rounds.map((x) => x.round[arch].ratioTrain)),
    ratioForward: median(rounds.map((x) => x.round[arch].ratioForward)),
    ratioInputGradient: median(rounds.map((x) => x.round[arch].ratioInputGradient)),
  };
}
console.error(
  `arch  metric            antidote   torch(2 thr)  torch(1 thr)  ratio   (medians of ${repeat} rounds; antidote: best of 1 and 2 threads)`,
);
for (const [arch, r] of Object.entries(table)) {
  console.error(
    `${arch.padEnd(5)} train samples/s   ${String(r.antidote.trainSamplesPerSecond).padStart(8)}   ${String(r.torch2.trainSamplesPerSecond).padStart(12)}  ${String(r.torch1.trainSamplesPerSecond).padStart(12)}  ${r.ratioTrain.toFixed(2)}`,
  );
  console.error(
    `${arch.padEnd(5)} forward samples/s ${String(r.antidote.forwardSamplesPerSecond).padStart(8)}   ${String(r.torch2.forwardSamplesPerSecond).padStart(12)}  ${String(r.torch1.forwardSamplesPerSecond).padStart(12)}  ${r.ratioForward.toFixed(2)}`,
  );
  console.error(
    `${arch.padEnd(5)} input grad ms/batch ${(r.antidote.inputGradientSecondsPerBatch * 1000).toFixed(2).padStart(6)}   ${(r.torch2.inputGradientSecondsPerBatch * 1000).toFixed(2).padStart(12)}  ${(r.torch1.inputGradientSecondsPerBatch * 1000).toFixed(2).padStart(12)}  ${r.ratioInputGradient.toFixed(2)}`,
  );
}
writeResult('compare-torch', {
  records: n,
  batchSize: 64,
  epochs: 1,
  torchVersion: rounds[0].torchVersion,
  rounds: rounds.map((x) => x.round),
  table,
});
