// Clean-label and adaptive poison against the detectors (issues 16 and 20): confusion training
// (`ct`, Qi et al. USENIX Security 2023) next to ac / ss / ln (the default scan), sca and abl.
//
// The attacks of bench/attacks.mjs with its settings (target 0; SIG ramp 20%; Turner et al.'s
// clean-label backdoor with the robust surrogate, four corners, amplitude 0.5; WaNet 10% in noise
// mode, 8 epochs; Adaptive-Blend and Adaptive-Patch), on the first --records (default 12,000)
// MNIST training records, cnn 2 epochs (WaNet 8), seed 1. Each case: the poisoned set, the victim,
// its ASR on --test-records test records, and every detector's precision / recall / F1 against the
// attack's ground truth, with its seconds. A visible BadNets patch (1%) is the reference case. `ct` runs twice: with a trusted clean base set (records
// --records.. of the training set, --trusted-per-class per class, as `scan --trusted` gives it) and
// without one (its base set drawn from the data). Clean runs (no attack) check the false alarms.
// Victims are cached under --cache (default /tmp/ct-bench). Writes
// bench/results/clean-label-detection.json.
//
//   node bench/clean-label-detection.mjs [--cases a,b] [--detectors ct,ac,...] [--records N]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { backdoorAttack } from '../dist/attacks/backdoor.js';
import { createTrigger } from '../dist/attacks/triggers.js';
import { selectRecords } from '../dist/data/dataset.js';
import { loadMnist } from '../dist/data/mnist.js';
import { adversarialFit } from '../dist/defenses/adversarial-training.js';
import { scanDataset } from '../dist/defenses/index.js';
import { initEngine, TfClassifier, trainClassifier } from '../dist/engine/index.js';
import { evaluateBackdoor, evaluateClean } from '../dist/eval/metrics.js';
import { Rng } from '../dist/util/rng.js';
import { attackCases, flagScore, poisonCase } from './attack-cases.mjs';
import { argValue, firstRecords, writeResult } from './common.mjs';

const records = Number(argValue('--records', '12000'));
const testRecords = Number(argValue('--test-records', '2000'));
const trustedPerClass = Number(argValue('--trusted-per-class', '50'));
const cache = argValue('--cache', '/tmp/ct-bench');
const seed = 1;
const target = 0;
const detectors = argValue('--detectors', 'ct,ct-data,ac,ss,ln,sca,abl').split(',');
const log = (s) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const round = (v, d = 4) => (v === undefined || v === null ? null : Number(v.toFixed(d)));

const shared = attackCases(target);
const cases = {
  clean: { family: 'none' },
  // A visible dirty-label patch (BadNets), the reference case every detector should find.
  'badnets-pattern-1%': {
    family: 'backdoor',
    options: { trigger: { kind: 'pattern' }, rate: 0.01, mode: 'all-to-one', target },
  },
  ...Object.fromEntries(
    [
      'sig-ramp-20%',
      'clean-label-10%',
      'clean-label-20%',
      'wanet-10%',
      'adaptive-blend-0.3%',
      'adaptive-blend-1%',
      'adaptive-patch-0.3%',
    ].map((name) => [name, shared[name]]),
  ),
};
const only = argValue('--cases');
const run = only ? only.split(',').map((c) => [c, cases[c]]) : Object.entries(cases);
for (const [name, c] of run) if (!c) throw new Error(`no case ${name}`);

const ADV = { pgd: { epsilon: 0.3, steps: 5, stepSize: 0.1 }, adversarialShare: 0.5, epochs: 2 };

const backend = await initEngine({ backend: 'wasm' });
const full = await loadMnist('train', { limit: records + trustedPerClass * 30 });
const first = firstRecords(full, records);
// firstRecords keeps the full provenance array; cut it to the records kept.
const train = first.source ? { ...first, source: first.source.slice(0, records) } : first;
const test = await loadMnist('test', { limit: testRecords });
const shape = train.shape.slice(1);
// The trusted subset: the first `trustedPerClass` records of each class after the scanned ones.
const trustedIdx = [];
const perClass = new Array(10).fill(0);
for (let i = records; i < full.y.length; i++) {
  const c = full.y[i];
  if (perClass[c] < trustedPerClass) {
    perClass[c]++;
    trustedIdx.push(i);
  }
}
const trusted = selectRecords(full, trustedIdx);

const resultFile = join('bench', 'results', 'clean-label-detection.json');
const previous = existsSync(resultFile)
  ? JSON.parse((await import('node:fs')).readFileSync(resultFile, 'utf8'))
  : undefined;
const results = {
  backend,
  data: `MNIST, first ${records} training records, ${testRecords} test records`,
  victim: { model: 'cnn', batchSize: 64, epochs: '2 (WaNet 8)', seed },
  target,
  trusted: `${trusted.y.length} clean records (${trustedPerClass} per class) after the scanned ones`,
  detectors,
  cases: previous?.cases ?? {},
};
const save = () => writeResult('clean-label-detection', results);

const score = (flagged, truth, y) => flagScore(flagged, truth, y, 3);

let robust;
async function surrogate() {
  if (!robust) {
    const dir = join(cache, 'robust-surrogate');
    if (existsSync(join(dir, 'model.json'))) robust = await TfClassifier.load(dir);
    else {
      robust = await TfClassifier.create('cnn', shape, train.classes, seed + 100);
      await adversarialFit(robust, train, { seed: seed + 100, ...ADV });
      await robust.save(dir, { overwrite: true });
    }
  }
  return robust;
}

async function poison(c, rng) {
  if (c.family === 'none') {
    return { r: { dataset: train, poisoned: new Uint8Array(train.y.length) } };
  }
  if (c.family === 'backdoor') {
    const r = backdoorAttack.poison(train, c.options, rng);
    return { r, apply: createTrigger(c.options.trigger).apply };
  }
  return poisonCase(train, shape, c, rng, surrogate);
}

for (const [name, c] of run) {
  const epochs = c.epochs ?? 2;
  const t0 = performance.now();
  const { r, apply } = await poison(c, new Rng(seed).fork('attack'));
  const dir = join(cache, `victim-${name}-${records}`);
  let m;
  if (existsSync(join(dir, 'model.json'))) m = await TfClassifier.load(dir);
  else {
    m = await trainClassifier(r.dataset, { model: 'cnn', epochs, batchSize: 64, seed });
    await m.save(dir, { overwrite: true });
  }
  const accuracy = (await evaluateClean(m, test)).accuracy;
  const asr = apply
    ? (await evaluateBackdoor(m, test, { apply }, { mode: 'all-to-one', target }, new Rng(1)))
        .attackSuccessRate
    : null;
  const poisoned = r.poisoned.reduce((a, b) => a + b, 0);
  log(`${name}: ${poisoned} poisoned, accuracy ${round(accuracy)}, ASR ${round(asr)}`);
  const entry = results.cases[name] ?? {};
  Object.assign(entry, { poisoned, accuracy: round(accuracy), asr: round(asr), epochs });
  entry.detectors ??= {};
  const trainLike = (ds, o) =>
    trainClassifier(ds, { model: 'cnn', epochs: o.epochs ?? epochs, batchSize: 64, seed: o.seed });
  for (const d of detectors) {
    const t = performance.now();
    const method = d === 'ct-data' ? 'ct' : d;
    const scan = await scanDataset(r.dataset, m, {
      methods: [method],
      seed,
      context: { trainLike },
      ...(d === 'ct' ? { trusted } : {}),
    });
    const report = scan.reports[0];
    const s = score(report.flagged, r.poisoned, r.dataset.y);
    const strong = report.perClass
      .filter((f) => f.suspicious)
      .map((f) => `${f.className} (${round(f.strength ?? 0, 2)})`);
    entry.detectors[d] = {
      ...s,
      suspiciousClasses: strong,
      targetStrength: round(report.perClass[target]?.strength ?? null, 2),
      seconds: round((performance.now() - t) / 1000, 1),
    };
    log(`  ${d}: ${JSON.stringify(entry.detectors[d])}`);
    results.cases[name] = entry;
    save();
  }
  entry.seconds = round((performance.now() - t0) / 1000, 0);
  m.dispose();
  save();
}
