// Defense benchmark (issue 4): full MNIST (60k train / 10k test), cnn, 2 epochs, seed 1, wasm.
// Cases: BadNets pattern trigger all-to-one into class 0 at 10% and 1% of the target class,
// all-to-all at 10% of the training set, clean MNIST, random label flip at 20%. For each case a
// model is trained on the (poisoned) set, its penultimate activations are computed once (timed
// separately), and every detector runs on them; F1 / precision / recall / AUC / FPR on unattacked
// classes are measured against the attack's ground truth, next to the naive "always the smaller
// cluster" rule. For pattern-10% the best detector's flags are mitigated (drop + retrain) and
// clean accuracy, ASR, robust accuracy before/after and DER are reported. Label flip: confident
// learning with out-of-sample probabilities from k-fold training, and k-NN label consistency.
// `--quick` uses 6,000 training records; `--only a,b` runs a subset of the cases.
// Results are written after every case to bench/results/defenses.json.

import { backdoorAttack, createTrigger, labelFlipAttack } from '../dist/attacks/index.js';
import { loadMnist } from '../dist/data/mnist.js';
import { Rng } from '../dist/data/rng.js';
import {
  activationClustering,
  computeRepresentations,
  crossValidatedProbabilities,
  findLabelIssues,
  knnConsistency,
  labelIssuesReport,
  mitigate,
  scoreModel,
  spectralSignatures,
  spectre,
} from '../dist/defenses/index.js';
import { initEngine, trainClassifier } from '../dist/engine/index.js';
import { evaluateDetection } from '../dist/eval/detection.js';
import { triggeredTestSet } from '../dist/eval/metrics.js';
import { hasFlag, writeResult } from './common.mjs';

const quick = hasFlag('--quick');
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? new Set(process.argv[onlyArg + 1].split(',')) : undefined;
const foldsArg = process.argv.indexOf('--folds');
const folds = foldsArg > 0 ? Number(process.argv[foldsArg + 1]) : 4;
const seed = 1;
const victim = { model: 'cnn', epochs: 2, batchSize: 64 };
const pattern = { kind: 'pattern' };
const cases = [
  {
    name: 'pattern-10%-of-target',
    attack: { mode: 'all-to-one', target: 0, rate: 0.1, rateDefinition: 'of-target-class' },
    mitigate: true,
  },
  {
    name: 'pattern-1%-of-target',
    attack: { mode: 'all-to-one', target: 0, rate: 0.01, rateDefinition: 'of-target-class' },
  },
  {
    name: 'pattern-all-to-all-10%',
    attack: { mode: 'all-to-all', rate: 0.1, rateDefinition: 'of-training-set' },
  },
  { name: 'clean' },
  { name: 'random-flip-20%', flip: 0.2 },
].filter((c) => !only || only.has(c.name));

const round = (v, d = 4) => (v === null || Number.isNaN(v) ? null : Number(v.toFixed(d)));
const summarise = (report, truth, y, seconds) => {
  const flagged = report.flagged.reduce((a, b) => a + b, 0);
  const base = { seconds: round(seconds, 3), flagged, flaggedShare: round(flagged / y.length) };
  if (!truth) return base;
  const ev = evaluateDetection(report, { poisoned: truth, y });
  return {
    ...base,
    precision: round(ev.precision),
    recall: round(ev.recall),
    f1: round(ev.f1),
    auc: round(ev.auc),
    fpr: round(ev.fpr),
    unattackedFpr: round(ev.unattackedFpr),
    suspiciousClasses: report.perClass.filter((c) => c.suspicious).map((c) => c.className),
  };
};
const time = async (fn) => {
  const t = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t) / 1000 };
};

await initEngine();
const train = await loadMnist('train', quick ? { limit: 6000 } : {});
const test = await loadMnist('test', quick ? { limit: 2000 } : {});
const results = { quick, victim, folds, cases: {} };
const save = () => writeResult('defenses', results);

for (const c of cases) {
  console.error(`bench defenses: ${c.name}`);
  let ds = train;
  let truth;
  let attackOptions;
  if (c.attack) {
    attackOptions = { ...c.attack, trigger: pattern };
    const r = backdoorAttack.poison(train, attackOptions, new Rng(seed));
    ds = r.dataset;
    truth = r.poisoned;
  } else if (c.flip) {
    const r = labelFlipAttack.poison(train, { mode: 'random', rate: c.flip }, new Rng(seed));
    ds = r.dataset;
    truth = r.poisoned;
  }
  const { value: model, seconds: trainSeconds } = await time(() =>
    trainClassifier(ds, { ...victim, seed }),
  );
  const { value: reps, seconds: forwardSeconds } = await time(() =>
    computeRepresentations(ds, model),
  );
  const input = { reps, y: ds.y, classes: ds.classes };
  const out = {
    records: ds.y.length,
    poisoned: truth ? truth.reduce((a, b) => a + b, 0) : 0,
    trainSeconds: round(trainSeconds, 1),
    forwardPassSeconds: round(forwardSeconds, 2),
    representationDim: reps.dim,
    detectors: {},
  };
  const run = async (name, fn) => {
    const { value, seconds } = await time(fn);
    out.detectors[name] = summarise(value, truth, ds.y, seconds);
    console.error(`  ${name}: ${JSON.stringify(out.detectors[name])}`);
    return value;
  };
  const reports = {};
  if (!c.flip) {
    reports.ac = await run('activation-clustering', () => activationClustering(input));
    await run('activation-clustering (naive: always smaller, PCA)', () =>
      activationClustering(input, { analysis: 'smaller', reduce: 'pca' }),
    );
    await run('activation-clustering (separated, plain PCA)', () =>
      activationClustering(input, { reduce: 'pca' }),
    );
    reports.ss = await run('spectral-signatures (estimated ε)', () => spectralSignatures(input));
    if (c.attack) {
      await run('spectral-signatures (given ε = true rate)', () =>
        spectralSignatures(input, { epsilon: c.attack.rate }),
      );
    }
    reports.spectre = await run('spectre', () => spectre(input));
    out.acPlusSsSeconds = round(
      out.detectors['activation-clustering'].seconds +
        out.detectors['spectral-signatures (estimated ε)'].seconds,
      3,
    );
    // The same two again: the first calls above include JIT and wasm warm-up.
    const { seconds: warm } = await time(async () => {
      await activationClustering(input);
      spectralSignatures(input);
    });
    out.acPlusSsSecondsWarm = round(warm, 3);
  }
  if (c.flip || c.name === 'clean') {
    reports.knn = await run('knn-consistency', () => knnConsistency(input));
    reports.cl = await run(`confident-learning (${folds}-fold)`, async () => {
      const probs = await crossValidatedProbabilities(
        ds,
        (t, fold) => trainClassifier(t, { ...victim, seed: seed + 1 + fold }),
        { folds, seed },
      );
      const res = findLabelIssues(ds.y, probs, { numClasses: ds.classes.length });
      return labelIssuesReport(res, ds.y, ds.classes, { folds });
    });
  }
  if (c.mitigate && truth) {
    let best = 'ac';
    for (const [k, name] of [
      ['ss', 'spectral-signatures (estimated ε)'],
      ['spectre', 'spectre'],
    ]) {
      if ((out.detectors[name]?.f1 ?? 0) > (out.detectors['activation-clustering'].f1 ?? 0)) {
        best = k;
      }
    }
    const trigger = createTrigger(pattern);
    const triggered = triggeredTestSet(test, trigger, attackOptions, new Rng(seed));
    const { value: m } = await time(() =>
      mitigate(ds, reports[best], {
        before: model,
        retrain: (clean) => trainClassifier(clean, { ...victim, seed }),
        evaluate: (mm) => scoreModel(mm, test, triggered),
      }),
    );
    out.mitigation = {
      detector: best,
      dropped: m.droppedIds.length,
      before: m.before,
      after: m.after,
      der: round(m.der),
    };
    console.error(`  mitigation: ${JSON.stringify(out.mitigation)}`);
    m.model.dispose?.();
  }
  model.dispose?.();
  results.cases[c.name] = out;
  save();
}
