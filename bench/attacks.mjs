// Attack benchmark (issue 20, round two): the clean-label backdoors (SIG, Turner et al.'s
// label-consistent backdoor with its robust surrogate, four-corner trigger and reduced amplitude)
// and the invisible / adaptive triggers (WaNet, Adaptive-Blend, Adaptive-Patch, low-rate variants)
// on MNIST and Fashion-MNIST, cnn, target class 0, seeds 1–3. For every dataset, case and seed:
// the victim's clean accuracy and its drop against a clean model of the same seed, the attack
// success rate (ASR) and robust accuracy with the attack's test-time trigger on the non-target
// test records, the clean model's ASR with the same trigger, and how the scan sees the poisoned
// set: the default decision (`scanDataset`, default detectors, seed 1) and each default
// detector's precision / recall / F1 against the attack's ground truth (every record the attacker
// modified: poisons and, for WaNet / Adaptive-*, the regularization records).
//
//   npm run bench -- --only attacks [--quick] [--records N] [--test-records N] [--seeds 1,2,3]
//     [--datasets mnist,fashion-mnist] [--cases a,b] [--epochs E] [--no-detect] [--merge]
//     [--also DETECTORS]
//
// Default: full training and test sets, seeds 1,2,3, both datasets, every case; 2 epochs except
// WaNet (8 epochs: what it needs on MNIST, bench/results/attacks-round2-12000-e8.json). --records N
// trains on the first N records; --quick: 600 training / 200 test records, 1 epoch, seed 1, a
// tiny surrogate (a smoke test of the pipeline, not a measurement). A dataset whose files are
// missing (Fashion-MNIST: `apt-get install dataset-fashion-mnist`) is recorded as skipped.
// Results: bench/results/attacks.json (attacks-quick.json with --quick), written after every case;
// --merge adds this run's datasets, seeds and cases to the file's (a partial run per call).
// --also sca,spectre: those detectors also run on their own and are scored beside the default ones.
// The ingredient study of the clean-label backdoor stays in bench/attacks-round2.mjs.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFashionMnist } from '../dist/data/fashion-mnist.js';
import { loadMnist } from '../dist/data/mnist.js';
import { adversarialFit } from '../dist/defenses/adversarial-training.js';
import { scanDataset } from '../dist/defenses/index.js';
import { initEngine, TfClassifier, trainClassifier } from '../dist/engine/index.js';
import { evaluateBackdoor, evaluateClean } from '../dist/eval/metrics.js';
import { Rng } from '../dist/util/rng.js';
import { attackCases, flagScore, poisonCase } from './attack-cases.mjs';
import { firstRecords, hasFlag, resultsDir, writeResult } from './common.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const quick = hasFlag('--quick');
const detect = !hasFlag('--no-detect');
const records = arg('--records') ? Number(arg('--records')) : quick ? 600 : undefined;
const testRecords = arg('--test-records') ? Number(arg('--test-records')) : quick ? 200 : undefined;
const epochsArg = arg('--epochs') ? Number(arg('--epochs')) : undefined;
const seeds = arg('--seeds', quick ? '1' : '1,2,3')
  .split(',')
  .map(Number);
const datasets = arg('--datasets', 'mnist,fashion-mnist').split(',');
const onlyCases = arg('--cases') ? arg('--cases').split(',') : undefined;
const merge = hasFlag('--merge');
const also = (arg('--also') ?? '').split(',').filter(Boolean);
const target = 0;
const epochsFor = (c) => epochsArg ?? (quick ? 1 : (c.epochs ?? 2));
// The robust surrogate of the clean-label backdoor (bench/attacks-round2.mjs, docs/attacks.md):
// PGD ε 0.3, 5 steps, half of each batch, 2 epochs, on the first 12,000 training records.
const ADV = quick
  ? { pgd: { epsilon: 0.3, steps: 2, stepSize: 0.2 }, adversarialShare: 0.5, epochs: 1 }
  : { pgd: { epsilon: 0.3, steps: 5, stepSize: 0.1 }, adversarialShare: 0.5, epochs: 2 };
const surrogateRecords = quick ? 300 : 12000;
const log = (s) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const round = (v, d = 4) => (v === undefined || v === null ? null : Number(v.toFixed(d)));

const cases = attackCases(target);
const run = onlyCases
  ? onlyCases.map((name) => {
      if (!cases[name])
        throw new Error(`no case ${name} (cases: ${Object.keys(cases).join(', ')})`);
      return [name, cases[name]];
    })
  : Object.entries(cases);

const backend = await initEngine({ backend: 'wasm' });
const loaders = { mnist: loadMnist, 'fashion-mnist': loadFashionMnist };
const file = quick ? 'attacks-quick' : records ? `attacks-${records}` : 'attacks';
const results = {
  backend,
  quick,
  victim: { model: 'cnn', batchSize: 64, epochs: quick ? 1 : '2 (WaNet 8)' },
  target,
  seeds,
  surrogate: { records: surrogateRecords, adversarialTraining: ADV },
  scan: detect ? { seed: 1, methods: 'default' } : 'not run (--no-detect)',
  targets: {
    'sig-*, clean-label-*': 'ASR >= 80% at <= 20% of the target class, accuracy drop <= 1 point',
    'wanet-10%': 'ASR >= 90%',
  },
  datasets: {},
};
if (merge && existsSync(join(resultsDir, `${file}.json`))) {
  // A partial run adds to the earlier ones: seeds and cases merge per dataset.
  const before = JSON.parse(readFileSync(join(resultsDir, `${file}.json`), 'utf8'));
  results.datasets = before.datasets ?? {};
  results.seeds = [...new Set([...(before.seeds ?? []), ...seeds])].sort((a, b) => a - b);
}
const save = () => writeResult(file, results);

const score = (flagged, truth, y) => flagScore(flagged, truth, y);

/** The default scan decision and each default detector's own report, scored. */
async function scanScores(model, ds, truth) {
  const t = performance.now();
  const merged = await scanDataset(ds, model, { seed: 1 });
  const methods = [...(merged.detectors ?? merged.methods)];
  const detectors = Object.fromEntries(
    methods.map((m, k) => [
      m,
      merged.reports[k] ? score(merged.reports[k].flagged, truth, ds.y) : null,
    ]),
  );
  return {
    decision: {
      ...score(merged.flagged, truth, ds.y),
      verdict: merged.verdict?.verdict ?? null,
      methods,
    },
    detectors,
    seconds: round((performance.now() - t) / 1000, 1),
    ...(also.length ? { alone: await aloneScores(model, ds, truth) } : {}),
  };
}

/** Each `--also` detector run on its own (not in the default decision), scored. */
async function aloneScores(model, ds, truth) {
  const out = {};
  for (const m of also) {
    const t = performance.now();
    const r = await scanDataset(ds, model, { seed: 1, methods: [m] });
    out[m] = {
      ...score(r.flagged, truth, ds.y),
      seconds: round((performance.now() - t) / 1000, 1),
    };
  }
  return out;
}

for (const name of datasets) {
  const load = loaders[name];
  if (!load) throw new Error(`no dataset ${name} (datasets: ${Object.keys(loaders).join(', ')})`);
  let train;
  let test;
  try {
    train = await load('train', records ? { limit: records } : {});
    test = await load('test', testRecords ? { limit: testRecords } : {});
  } catch (e) {
    log(`${name}: skipped (${e.code ?? 'error'}: ${e.message})`);
    results.datasets[name] = { skipped: `${e.code ?? 'error'}: ${e.message}` };
    save();
    continue;
  }
  const shape = train.shape.slice(1);
  const before = results.datasets[name];
  const out = {
    trainRecords: train.shape[0],
    testRecords: test.shape[0],
    clean: before?.clean ?? {},
    cases: before?.cases ?? {},
  };
  results.datasets[name] = out;
  for (const seed of seeds) {
    const cleanModels = new Map();
    /** The clean model of this seed trained for `epochs` (the baseline of each case). */
    const clean = async (epochs) => {
      if (!cleanModels.has(epochs)) {
        const m = await trainClassifier(train, { model: 'cnn', epochs, batchSize: 64, seed });
        const accuracy = (await evaluateClean(m, test)).accuracy;
        out.clean[`seed${seed}-e${epochs}`] = { accuracy: round(accuracy) };
        log(
          `${name} seed ${seed}: clean model (${epochs} epochs) accuracy ${(accuracy * 100).toFixed(2)}%`,
        );
        cleanModels.set(epochs, { m, accuracy });
      }
      return cleanModels.get(epochs);
    };
    let robust;
    const surrogate = async () => {
      if (!robust) {
        const part = firstRecords(train, surrogateRecords);
        robust = await TfClassifier.create('cnn', shape, train.classes, seed + 100);
        await adversarialFit(robust, part, { seed: seed + 100, ...ADV });
        out.clean[`seed${seed}-robust-surrogate`] = {
          accuracy: round((await evaluateClean(robust, test)).accuracy),
        };
      }
      return robust;
    };
    for (const [caseName, c] of run) {
      const t = performance.now();
      const epochs = epochsFor(c);
      const base = await clean(epochs);
      let made;
      try {
        made = await poisonCase(train, shape, c, new Rng(seed).fork('attack'), surrogate);
      } catch (e) {
        // e.g. a rate that poisons no record of a small --records set
        log(`${name} ${caseName} seed ${seed}: not run (${e.code ?? 'error'}: ${e.message})`);
        out.cases[caseName] ??= {};
        out.cases[caseName][`seed${seed}`] = { skipped: `${e.code ?? 'error'}: ${e.message}` };
        save();
        continue;
      }
      const { r, apply, test: trigger } = made;
      const m = await trainClassifier(r.dataset, { model: 'cnn', epochs, batchSize: 64, seed });
      const accuracy = (await evaluateClean(m, test)).accuracy;
      const targeting = { mode: 'all-to-one', target };
      const bd = await evaluateBackdoor(m, test, { apply }, targeting, new Rng(1));
      const cleanBd = await evaluateBackdoor(base.m, test, { apply }, targeting, new Rng(1));
      let scan = null;
      if (detect) scan = await scanScores(m, r.dataset, r.poisoned);
      m.dispose();
      const p = r.record.params;
      const entry = {
        epochs,
        poisoned: r.record.indices.length,
        ...(p.poisons !== undefined
          ? { poisons: p.poisons, regularization: p.regularization }
          : {}),
        achievedRate: round(r.record.achievedRate),
        rateDefinition: r.record.rateDefinition,
        labelsUnchanged: r.record.originalLabels.every((l, i) => l === r.record.poisonedLabels[i]),
        accuracy: round(accuracy),
        accuracyDrop: round(base.accuracy - accuracy),
        trigger,
        asr: round(bd.attackSuccessRate),
        robustAccuracy: round(bd.robustAccuracy),
        cleanModelAsr: round(cleanBd.attackSuccessRate),
        ...(scan ? { scan } : {}),
        seconds: round((performance.now() - t) / 1000, 0),
      };
      out.cases[caseName] ??= {};
      out.cases[caseName][`seed${seed}`] = entry;
      const f1s = scan
        ? ` | scan F1 ${scan.decision.f1} (${Object.entries(scan.detectors)
            .map(([k, v]) => `${k} ${v?.f1}`)
            .join(', ')})`
        : '';
      log(
        `${name} ${caseName} seed ${seed}: accuracy ${(accuracy * 100).toFixed(2)}% (drop ${((base.accuracy - accuracy) * 100).toFixed(2)}), ASR ${(bd.attackSuccessRate * 100).toFixed(2)}% (clean model ${(cleanBd.attackSuccessRate * 100).toFixed(2)}%)${f1s}`,
      );
      save();
    }
    for (const { m } of cleanModels.values()) m.dispose();
    robust?.dispose();
  }
}
save();
