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
// `--records N` (default 12,000), `--epochs E` (default 2, both models), `--seed S` (default 1:
// the attack's seed and `antidote train`'s; PyTorch's is 16 + S, so seed 1 is the first runs'
// 17), `--keep DIR` (keep the poisoned set, models and scan reports there for analysis).
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
const seed = arg('--seed', 1);
const keepAt = process.argv.indexOf('--keep');
const keep = keepAt > 0 ? process.argv[keepAt + 1] : undefined;
if (spawnSync('/usr/bin/python3', ['-c', 'import torch']).status !== 0) {
  console.error('bench onnx-backdoor: skipped, /usr/bin/python3 has no torch (python3-torch)');
  process.exit(0);
}
const load = { before: loadavg().map((v) => Number(v.toFixed(2))) };
const work = keep ?? mkdtempSync(join(tmpdir(), 'antidote-bench-onnx-backdoor-'));
mkdirSync(work, { recursive: true });

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

const poisoned = join(work, 'poisoned');
const attack = ['--trigger', 'pattern', '--target', '0'];
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

/** Scan F1 (decision and per detector) and evaluation of one model. */
function measure(model, extra = []) {
  const out = join(work, `scan-${model === onnx ? 'onnx' : 'zoo'}${extra.length ? '-layer' : ''}`);
  const scan = run(process.execPath, [
    cli,
    'scan',
    '--data',
    poisoned,
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
  const ev = JSON.parse(
    run(process.execPath, [
      cli,
      'evaluate',
      '--model',
      model,
      '--data',
      'mnist:test',
      ...attack,
      '--json',
      '--quiet',
    ]).stdout,
  );
  return {
    f1,
    flagged: report.decision.flaggedIds.length,
    scanSeconds: Number(scan.seconds.toFixed(1)),
    evaluation: ev,
  };
}

const pytorch = {
  train: JSON.parse(torchTrain.stdout.trim().split('\n').at(-1)),
  ...measure(onnx),
};
// The same scan of the ONNX model on its convolution features (the Flatten output, 784 wide)
// instead of the default layer (the input of its last Gemm, 32 wide).
const pytorchConvLayer = {
  layer: '/Flatten_output_0',
  ...measure(onnx, ['--layer', '/Flatten_output_0']),
};
const antidote = { trainSeconds: Number(zooTrain.seconds.toFixed(1)), ...measure(zoo) };
if (!keep) rmSync(work, { recursive: true, force: true });
load.after = loadavg().map((v) => Number(v.toFixed(2)));
const result = {
  note: 'Default scan (ac, ss, spectre merged) of a backdoored MNIST training set with a PyTorch CNN exported to ONNX and with a CNN Antidote trained; F1 against the attack ground truth. The CPU is shared: see load.',
  load,
  setup: { records, poisonRate: 0.05, trigger: 'pattern', target: 0, epochs, seed },
  pytorchOnnx: pytorch,
  pytorchOnnxConvLayer: pytorchConvLayer,
  antidote,
};
console.log(JSON.stringify(result, null, 2));
writeResult('onnx-backdoor', result);
