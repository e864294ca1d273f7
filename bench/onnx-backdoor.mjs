// Does the default scan find a backdoor as well with a PyTorch model exported to ONNX as with a
// model Antidote trains itself? (issue 17). `npm run bench -- --only onnx-backdoor` (after
// `npm run build`; PyTorch from /usr/bin/python3, else this suite says so and exits 0).
// 1. `antidote attack backdoor` poisons MNIST training records (pattern trigger, all-to-one to
//    class 0, 5 % of the records; the dataset keeps the attack's ground truth);
// 2. bench/onnx_backdoor_torch.py trains the fixtures' CNN on it with PyTorch and exports it to
//    ONNX (with its normalisation in the sidecar); `antidote train` trains its zoo CNN on it;
// 3. `antidote scan` (default detectors) with each model; F1 of the merged decision and of each
//    detector against the ground truth, from report.json; `antidote evaluate --trigger` gives each
//    model's clean accuracy and attack success rate on mnist:test.
// Each seed S poisons, trains and scans anew (the attack's and `antidote train`'s seed S, the
// PyTorch weights' initialisation 16 + S; seed 1 is the first runs' 17); the ONNX model is also
// scanned on the input of its last Gemm (`--layer`, the default before the classifier-head rule
// of src/engine/onnx/onnx-representation.ts). The result holds every seed and the mean F1s.
// `--records N` (default 12,000), `--epochs E` (default 2, both models), `--seeds 1,2,3`
// (default), `--keep DIR` (keep each seed's poisoned set, models and scan reports in DIR/seed-S).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeResult } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'dist', 'cli', 'main.js');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const records = arg('--records', 12_000);
const epochs = arg('--epochs', 2);
const seedsAt = process.argv.indexOf('--seeds');
const seeds = (seedsAt > 0 ? process.argv[seedsAt + 1] : '1,2,3').split(',').map(Number);
const keepAt = process.argv.indexOf('--keep');
const keep = keepAt > 0 ? process.argv[keepAt + 1] : undefined;
if (spawnSync('/usr/bin/python3', ['-c', 'import torch']).status !== 0) {
  console.error('bench onnx-backdoor: skipped, /usr/bin/python3 has no torch (python3-torch)');
  process.exit(0);
}
const load = { before: loadavg().map((v) => Number(v.toFixed(2))) };

/** Runs a command; its stdout; exits on failure. Also the seconds it took. */
function run(cmd, args) {
  const t = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  // The scan and the audit exit 1 when their policy fails; their reports are written.
  if (r.status !== 0 && r.status !== 1) {
    console.error(`${cmd} ${args.join(' ')}\n${r.stderr}`);
    process.exit(1);
  }
  return { stdout: r.stdout, seconds: (performance.now() - t) / 1000 };
}

const attack = ['--trigger', 'pattern', '--target', '0'];
const json = (args) => JSON.parse(run(process.execPath, [cli, ...args]).stdout);

/** Scan F1 (decision and per detector) of `model` on `data`, report in `out`. */
function scan(data, model, out, extra = []) {
  const s = run(process.execPath, [
    cli,
    'scan',
    '--data',
    data,
    '--model',
    model,
    '--out',
    out,
    '--quiet',
    '--force',
    ...extra,
  ]);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const f1 = Object.fromEntries(
    Object.entries(report.evaluation ?? {}).map(([k, v]) => [k, Number(v.f1.toFixed(4))]),
  );
  return {
    f1,
    flagged: report.decision.flaggedIds.length,
    scanSeconds: Number(s.seconds.toFixed(1)),
  };
}

/** Clean accuracy and attack success rate of `model` on mnist:test. */
function evaluate(model) {
  const ev = json([
    'evaluate',
    '--model',
    model,
    '--data',
    'mnist:test',
    ...attack,
    '--json',
    '--quiet',
  ]);
  return {
    accuracy: ev.accuracy,
    attackSuccessRate: ev.backdoor.attackSuccessRate,
  };
}

/** One seed: poison, train both models, scan. */
function oneSeed(seed) {
  const work = keep
    ? join(keep, `seed-${seed}`)
    : mkdtempSync(join(tmpdir(), 'antidote-bench-onnx-backdoor-'));
  mkdirSync(work, { recursive: true });
  const poisoned = join(work, 'poisoned');
  run(process.execPath, [
    cli,
    'attack',
    'backdoor',
    '--data',
    `mnist:train:${records}`,
    ...attack,
    '--rate',
    '0.05',
    '--seed',
    String(seed),
    '--out',
    poisoned,
    '--force',
    '--quiet',
  ]);
  const onnx = join(work, 'torch-cnn.onnx');
  const torchTrain = run('/usr/bin/python3', [
    join(here, 'onnx_backdoor_torch.py'),
    poisoned,
    onnx,
    String(epochs),
    String(16 + seed),
  ]);
  const zoo = join(work, 'antidote-cnn');
  const zooTrain = run(process.execPath, [
    cli,
    'train',
    '--data',
    poisoned,
    '--model',
    'cnn',
    '--epochs',
    String(epochs),
    '--seed',
    String(seed),
    '--out',
    zoo,
    '--force',
    '--quiet',
  ]);
  const info = json(['info', onnx, '--json']);
  const result = {
    seed,
    pytorchOnnx: {
      train: JSON.parse(torchTrain.stdout.trim().split('\n').at(-1)),
      ...evaluate(onnx),
      layer: info.defaultLayer,
      ...scan(poisoned, onnx, join(work, 'scan-onnx')),
    },
    // The same model scanned on the last Gemm's input (32 wide), the earlier default.
    pytorchOnnxLastGemm: {
      layer: info.pruneLayer,
      ...scan(poisoned, onnx, join(work, 'scan-onnx-last-gemm'), ['--layer', info.pruneLayer]),
    },
    antidote: {
      trainSeconds: Number(zooTrain.seconds.toFixed(1)),
      ...evaluate(zoo),
      ...scan(poisoned, zoo, join(work, 'scan-zoo')),
    },
  };
  if (!keep) rmSync(work, { recursive: true, force: true });
  console.error(`seed ${seed}: ${JSON.stringify(result)}`);
  return result;
}

const runs = seeds.map(oneSeed);
load.after = loadavg().map((v) => Number(v.toFixed(2)));
/** Mean (4 decimals) of one F1 over the seeds. */
const mean = (pick) => Number((runs.reduce((a, r) => a + pick(r), 0) / runs.length).toFixed(4));
const summary = Object.fromEntries(
  ['pytorchOnnx', 'pytorchOnnxLastGemm', 'antidote'].map((k) => [
    k,
    {
      decision: runs.map((r) => r[k].f1.decision),
      meanDecision: mean((r) => r[k].f1.decision),
      meanAc: mean((r) => r[k].f1.ac),
      meanSs: mean((r) => r[k].f1.ss),
    },
  ]),
);
const result = {
  note: 'Default scan (ac, ss merged) of a backdoored MNIST training set with a PyTorch CNN exported to ONNX and with a CNN Antidote trained, per seed; F1 against the attack ground truth. The CPU is shared: see load.',
  load,
  setup: { records, poisonRate: 0.05, trigger: 'pattern', target: 0, epochs, seeds },
  summary,
  runs,
};
console.log(JSON.stringify(result, null, 2));
writeResult('onnx-backdoor', result);
