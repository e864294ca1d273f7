// Attack benchmark, round two (issue 20): the clean-label backdoors (SIG; Turner et al.'s
// label-consistent backdoor, ingredient by ingredient) and the invisible / adaptive triggers
// (WaNet, Adaptive-Blend) on MNIST, cnn, target class 0. For every case and seed: the victim's
// clean accuracy (and its drop against a clean model of the same seed), the attack success rate
// (ASR) and robust accuracy with the attack's test-time trigger on the non-target test records,
// and the clean model's ASR with the same trigger (what the trigger does without poisoning).
//
//   node bench/attacks-round2.mjs [--train-limit N] [--epochs E] [--seeds 1,2,3] [--cases a,b]
//
// Default: full MNIST (60k / 10k), 2 epochs, seed 1, every case. The adversarially trained
// surrogate of the clean-label cases (PGD ε 0.3, 5 steps, half of each batch, 2 epochs) is trained
// on the first --surrogate-limit records (default 12000) of the training set. Results go to
// bench/results/attacks-round2.json (attacks-round2-<N>[-e<E>].json with --train-limit N and
// --epochs E other than 2), written after
// every case (merged with the cases of other runs already in the file). --surrogate-model DIR
// loads a saved robust surrogate instead of training one (its path is recorded).

import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adaptiveBlendAttack, adaptiveBlendTestTrigger } from '../dist/attacks/adaptive-blend.js';
import { cleanLabelBackdoor } from '../dist/attacks/clean-label-backdoor.js';
import { sigAttack, sigTestTrigger } from '../dist/attacks/sig.js';
import { blendNoiseKey } from '../dist/attacks/triggers.js';
import { wanetAttack, wanetTrigger } from '../dist/attacks/wanet.js';
import { loadMnist } from '../dist/data/mnist.js';
import { adversarialFit } from '../dist/defenses/adversarial-training.js';
import { initEngine, TfClassifier, trainClassifier } from '../dist/engine/index.js';
import { evaluateBackdoor, evaluateClean } from '../dist/eval/metrics.js';
import { Rng } from '../dist/util/rng.js';
import { firstRecords, resultsDir, writeResult } from './common.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const trainLimit = arg('--train-limit') ? Number(arg('--train-limit')) : undefined;
const surrogateLimit = Number(arg('--surrogate-limit', '12000'));
const epochs = Number(arg('--epochs', '2'));
const seeds = arg('--seeds', '1').split(',').map(Number);
const surrogateModel = arg('--surrogate-model');
const onlyCases = arg('--cases') ? new Set(arg('--cases').split(',')) : undefined;
const target = 0;
const victim = { model: 'cnn', epochs, batchSize: 64 };
const ADV = { pgd: { epsilon: 0.3, steps: 5, stepSize: 0.1 }, adversarialShare: 0.5, epochs: 2 };
const log = (s) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const round = (v, d = 4) => (v === undefined || v === null ? null : Number(v.toFixed(d)));

const sig = (rate, signal, delta, testDeltas) => ({
  family: 'sig',
  options: { target, rate, signal, delta, ...(signal === 'sin' ? { frequency: 6 } : {}) },
  testDeltas,
});
const corner = (corners, amplitude = 1) => ({ kind: 'corner', size: 3, corners, amplitude });
const clb = (surrogate, epsilon, trigger, rate = 0.2) => ({
  family: 'clean-label',
  surrogate,
  options: { target, rate, epsilon, trigger, pgd: { steps: 20 } },
});
const cases = {
  // SIG (Barni et al. 2019): α of the target class, Δ on the [0, 1] scale.
  'sig-sin-10%': sig(0.1, 'sin', 20 / 255, [20 / 255, 0.2, 0.3]),
  'sig-sin-20%': sig(0.2, 'sin', 20 / 255, [20 / 255, 0.2, 0.3]),
  'sig-ramp-20%': sig(0.2, 'ramp', 0.2, [0.2, 0.4, 0.6]),
  // Turner et al. 2019, one ingredient at a time, 20% of the target class.
  'clb-trigger-only': clb('standard', 0, corner('one')),
  'clb-standard-pgd': clb('standard', 0.3, corner('one')),
  'clb-robust-pgd': clb('robust', 0.3, corner('one')),
  'clb-robust-pgd-4corner': clb('robust', 0.3, corner('four')),
  'clb-robust-pgd-4corner-eps0.4': clb('robust', 0.4, corner('four')),
  'clb-robust-pgd-4corner-amp0.5': clb('robust', 0.3, corner('four', 0.5)),
  'clb-robust-pgd-4corner-eps0.5': clb('robust', 0.5, corner('four')),
  'clb-robust-pgd-4corner-amp0.5-10%': clb('robust', 0.3, corner('four', 0.5), 0.1),
  // Reduced amplitude without the other ingredients.
  'clb-trigger-only-4corner-amp0.5': clb('standard', 0, corner('four', 0.5)),
  'clb-standard-pgd-4corner-amp0.5': clb('standard', 0.3, corner('four', 0.5)),
  // WaNet (Nguyen & Tran 2021), MNIST settings: k 4, s 0.5, cross ratio 2.
  'wanet-10%': { family: 'wanet', options: { target, rate: 0.1, crossRatio: 2 } },
  'wanet-10%-no-noise': { family: 'wanet', options: { target, rate: 0.1, crossRatio: 0 } },
  'wanet-0.5%': { family: 'wanet', options: { target, rate: 0.005, crossRatio: 2 } },
  // Adaptive-Blend (Qi et al. 2023): 16 pieces, 8 masked, α 0.15 / 0.2, noise key.
  'adaptive-blend-0.3%': {
    family: 'adaptive-blend',
    options: { target, rate: 0.003, coverRate: 0.003 },
  },
  'adaptive-blend-1%': {
    family: 'adaptive-blend',
    options: { target, rate: 0.01, coverRate: 0.01 },
  },
};
// In the order of --cases when given.
const run = onlyCases
  ? [...onlyCases].map((name) => {
      if (!cases[name])
        throw new Error(`no case ${name} (cases: ${Object.keys(cases).join(', ')})`);
      return [name, cases[name]];
    })
  : Object.entries(cases);

const backend = await initEngine({ backend: 'wasm' });
const train = await loadMnist('train', trainLimit ? { limit: trainLimit } : {});
const test = await loadMnist('test');
const shape = train.shape.slice(1);
const results = {
  dataset: 'mnist',
  trainRecords: train.shape[0],
  testRecords: test.shape[0],
  backend,
  victim,
  target,
  surrogate: { records: surrogateLimit, adversarialTraining: ADV },
  cases: {},
  targets: {
    'clean-label (SIG, clb-*)':
      'ASR >= 80% at <= 20% of the target class, accuracy drop <= 1 point',
    'wanet-10%': 'ASR >= 90%',
  },
};
const file = `attacks-round2${trainLimit ? `-${trainLimit}` : ''}${epochs !== 2 ? `-e${epochs}` : ''}`;

/**
 * A model trained on `train` with the victim spec and `seed`, kept in the OS temp folder between
 * runs (training is deterministic for a seed: a cached copy is the same model).
 */
async function trained(seed) {
  const dir = join(tmpdir(), 'antidote-bench-round2', `clean-${train.shape[0]}-${epochs}-${seed}`);
  if (existsSync(join(dir, 'model.json'))) return TfClassifier.load(dir);
  const m = await trainClassifier(train, { ...victim, seed });
  await m.save(dir, { overwrite: true });
  return m;
}

/** Writes the results, keeping the cases of other runs already in the file (runs may overlap). */
function save() {
  const path = join(resultsDir, `${file}.json`);
  const old = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
  const merged = { ...old, ...results, surrogate: { ...old.surrogate, ...results.surrogate } };
  merged.cases = { ...old.cases };
  for (const [name, bySeed] of Object.entries(results.cases)) {
    merged.cases[name] = { ...merged.cases[name], ...bySeed };
  }
  const { suite: _s, machine: _m, ...rest } = merged;
  writeResult(file, rest);
}

async function backdoorMetrics(model, apply) {
  const m = await evaluateBackdoor(
    model,
    test,
    { apply },
    { mode: 'all-to-one', target },
    new Rng(1),
  );
  return { asr: round(m.attackSuccessRate), robustAccuracy: round(m.robustAccuracy) };
}

const surrogates = new Map();
async function surrogate(kind, seed) {
  const key = `${kind}-${seed}`;
  if (!surrogates.has(key)) {
    const t = performance.now();
    let m;
    if (kind === 'standard') {
      m = await trained(seed + 100);
    } else if (surrogateModel) {
      m = await TfClassifier.load(surrogateModel);
      results.surrogate.model = surrogateModel;
    } else {
      const part = firstRecords(train, surrogateLimit);
      m = await TfClassifier.create('cnn', shape, train.classes, seed + 100);
      await adversarialFit(m, part, { seed: seed + 100, ...ADV });
    }
    const acc = (await evaluateClean(m, test)).accuracy;
    log(
      `${kind} surrogate (seed ${seed}): accuracy ${(acc * 100).toFixed(2)}%, ${((performance.now() - t) / 1000).toFixed(0)} s`,
    );
    results.surrogate[key] = {
      accuracy: round(acc),
      seconds: round((performance.now() - t) / 1000, 0),
    };
    surrogates.set(key, m);
  }
  return surrogates.get(key);
}

async function poison(c, rng, seed) {
  switch (c.family) {
    case 'sig': {
      const r = sigAttack.poison(train, c.options, rng);
      const tests = c.testDeltas.map((d) => ({
        label: `testDelta ${round(d, 3)}`,
        apply: sigTestTrigger({ ...c.options, testDelta: d }).apply,
      }));
      return { r, tests };
    }
    case 'clean-label': {
      const r = await cleanLabelBackdoor(train, await surrogate(c.surrogate, seed), c.options, rng);
      return {
        r,
        tests: [{ label: 'full-amplitude trigger', apply: r.testTrigger.apply }],
        extra: {
          surrogateMisclassified: round(r.surrogateMisclassified),
          perturbationMaxLinf: round(r.perturbation.maxLinf, 3),
        },
      };
    }
    case 'wanet': {
      const r = wanetAttack.poison(train, c.options, rng);
      const grid = Float32Array.from(r.record.params.controlGrid);
      return { r, tests: [{ label: 'warp', apply: wanetTrigger(grid, r.record.params).apply }] };
    }
    case 'adaptive-blend': {
      const key = blendNoiseKey(shape, 0);
      const r = adaptiveBlendAttack.poison(
        train,
        { ...c.options, key, keyInfo: { blendSeed: 0 } },
        rng,
      );
      return {
        r,
        tests: [{ label: 'full trigger, α 0.2', apply: adaptiveBlendTestTrigger(key, 0.2).apply }],
      };
    }
    default:
      throw new Error(c.family);
  }
}

for (const seed of seeds) {
  const t0 = performance.now();
  const clean = await trained(seed);
  const cleanAcc = (await evaluateClean(clean, test)).accuracy;
  log(
    `seed ${seed}: clean accuracy ${(cleanAcc * 100).toFixed(2)}% (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
  results[`clean-seed${seed}`] = { accuracy: round(cleanAcc) };
  for (const [name, c] of run) {
    const t = performance.now();
    const { r, tests, extra } = await poison(c, new Rng(seed).fork('attack'), seed);
    const m = await trainClassifier(r.dataset, { ...victim, seed });
    const acc = (await evaluateClean(m, test)).accuracy;
    const asr = {};
    for (const tt of tests) {
      asr[tt.label] = {
        ...(await backdoorMetrics(m, tt.apply)),
        cleanModelAsr: (await backdoorMetrics(clean, tt.apply)).asr,
      };
    }
    m.dispose();
    const p = r.record.params;
    const entry = {
      params: Object.fromEntries(Object.entries(c.options).filter(([k]) => k !== 'pgd')),
      ...(c.surrogate ? { surrogate: c.surrogate } : {}),
      poisoned: r.record.indices.length,
      ...(p.poisons !== undefined ? { poisons: p.poisons, regularization: p.regularization } : {}),
      achievedRate: round(r.record.achievedRate),
      rateDefinition: r.record.rateDefinition,
      labelsUnchanged: r.record.originalLabels.every((l, i) => l === r.record.poisonedLabels[i]),
      accuracy: round(acc),
      accuracyDrop: round(cleanAcc - acc),
      backdoor: asr,
      ...extra,
      seconds: round((performance.now() - t) / 1000, 0),
    };
    results.cases[name] ??= {};
    results.cases[name][`seed${seed}`] = entry;
    log(
      `${name} seed ${seed}: accuracy ${(acc * 100).toFixed(2)}% (drop ${((cleanAcc - acc) * 100).toFixed(2)}), ${Object.entries(
        asr,
      )
        .map(
          ([k, v]) =>
            `${k}: ASR ${(v.asr * 100).toFixed(2)}% robust ${(v.robustAccuracy * 100).toFixed(2)}% (clean model ${(v.cleanModelAsr * 100).toFixed(2)}%)`,
        )
        .join('; ')}`,
    );
    save();
  }
  clean.dispose();
}
for (const m of surrogates.values()) m.dispose();
