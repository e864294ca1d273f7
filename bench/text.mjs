// Text and tabular poisoning benchmark (issue 7). Cases (each a clean model and a victim, seed 1):
// - sentiment: UCI sentences (3000, 80/20 split), rare word "cf" at 10% of the training set,
//   all-to-one → positive; embedding-bag and TF-IDF logistic; detectors: keyword discovery (on
//   probabilities and on logit margins), spectral signatures, activation clustering on the
//   victim's representation; mitigation: drop what either keyword detector flags, retrain, ASR /
//   accuracy after. Run-time detection on test inputs:
//   text STRIP (STRIP-ViTA) with half the test split as the defender's clean held-out texts (word
//   pool and calibration, a quarter each), FRR on the other half's clean texts and FAR on their
//   triggered copies, at calibrated FRR 1% and 5%.
// - imdb: the same on 10,000 reviews (needs `antidote datasets fetch imdb`).
// - spam: SpamAssassin, spam → ham at 5% of the training set, a presence-feature logistic filter:
//   four rare words ("cf mn bb tq"), and "cf" alone (also with TF-IDF); detect, drop, retrain.
// - credit-flip: German Credit targeted flip bad → good at 20% of the bad class; confident
//   learning (4-fold out-of-sample probabilities); drop flagged, retrain; accuracy vs clean.
// - spambase: feature trigger (two rare, class-neutral word-frequency features set to 0.2%), spam →
//   nonspam at 5%.
// Fetched sets are read from $ANTIDOTE_DATASETS (default ~/.cache/antidote/datasets); missing ones
// are skipped. `--only a,b` runs a subset. Results: bench/results/text.json.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveFeatureTrigger } from '../dist/attacks/tabular-backdoor.js';
import { triggeredTexts } from '../dist/attacks/text-backdoor.js';
import { selectRecords } from '../dist/data/dataset.js';
import { isDatasetAvailable, loadNamedDataset } from '../dist/data/datasets/registry.js';
import { Rng } from '../dist/data/rng.js';
import { sampleRecords, stratifiedSplit } from '../dist/data/transform.js';
import { activationClustering } from '../dist/defenses/activation-clustering.js';
import { discoverKeywords } from '../dist/defenses/keyword-discovery.js';
import { confidentLearningDetector } from '../dist/defenses/label-noise.js';
import { computeRepresentations } from '../dist/defenses/representations.js';
import { spectralSignatures } from '../dist/defenses/spectral-signatures.js';
import { stripRates, stripThreshold } from '../dist/defenses/strip.js';
import { fitTextStrip, textStripDetect } from '../dist/defenses/text-strip.js';
import {
  buildDenseModel,
  denseDefaultLayer,
  LayersClassifier,
} from '../dist/engine/text-models.js';
import { fitModel } from '../dist/engine/train.js';
import { runFeatureExperiment } from '../dist/eval/text-experiment.js';
import { resultsDir, writeResult } from './common.mjs';

const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? new Set(process.argv[onlyArg + 1].split(',')) : undefined;
const want = (n) => !only || only.has(n);
const r4 = (v) => (v === null || v === undefined || Number.isNaN(v) ? null : Number(v.toFixed(4)));
// With --only, the other cases' figures in the results file are kept (read again at each save,
// so that runs of different cases can go side by side).
const resultFile = join(resultsDir, 'text.json');
const results = {};
const save = () => {
  const kept =
    only && existsSync(resultFile)
      ? (JSON.parse(readFileSync(resultFile, 'utf8')).cases ?? {})
      : {};
  writeResult('text', { cases: { ...kept, ...results } });
};
const cf = { kind: 'words', words: ['cf'] };

const repsDetectors = {
  keywords: async (v, ds) => discoverKeywords(ds, (t) => v.text.predictProbaTexts(t)),
  'keywords-logits': async (v, ds) =>
    discoverKeywords(ds, (t) => v.text.predictLogitsTexts(t), { output: 'logits' }),
  spectral: async (v, ds) => {
    const f = v.featurize(ds);
    return spectralSignatures({
      reps: await computeRepresentations(f, v.text.classifier),
      y: f.y,
      classes: f.classes,
    });
  },
  'activation-clustering': async (v, ds) => {
    const f = v.featurize(ds);
    return activationClustering({
      reps: await computeRepresentations(f, v.text.classifier),
      y: f.y,
      classes: f.classes,
    });
  },
};

function summary(result) {
  const det = Object.fromEntries(
    Object.entries(result.detection).map(([k, d]) => [
      k,
      {
        f1: r4(d.metrics.f1),
        precision: r4(d.metrics.precision),
        recall: r4(d.metrics.recall),
        auc: r4(d.metrics.auc),
        seconds: r4(d.seconds),
        ...(d.extra?.ranking ? { top3: d.extra.ranking.slice(0, 3).map((x) => x.token) } : {}),
      },
    ]),
  );
  return {
    poison: result.poison,
    clean: result.clean,
    poisoned: result.poisoned,
    accuracyDrop: r4(result.accuracyDrop),
    detection: det,
    seconds: result.seconds,
  };
}

// Text STRIP on the test inputs of a victim: FRR on clean texts, FAR on triggered copies.
async function textStrip(victim, test, attack) {
  const t0 = performance.now();
  const defender = stratifiedSplit(test, 0.5, new Rng(3));
  const halves = stratifiedSplit(defender.train, 0.5, new Rng(4));
  const evalSet = defender.test;
  const trig = triggeredTexts(evalSet, attack.trigger, attack, new Rng(5));
  const f = (t) => victim.text.predictProbaTexts(t);
  const fit = await fitTextStrip(f, halves.test.text, halves.train.text, { seed: 7, frr: 0.01 });
  const clean = await textStripDetect(f, evalSet.text, fit);
  const triggered = await textStripDetect(f, trig.texts, fit);
  const seconds = (performance.now() - t0) / 1000;
  const at = (frr) => {
    const th = frr === fit.frr ? fit.threshold : stripThreshold(fit.cleanEntropy, frr);
    const r = stripRates(
      Uint8Array.from(clean.entropy, (h) => (h < th ? 1 : 0)),
      Uint8Array.from(triggered.entropy, (h) => (h < th ? 1 : 0)),
    );
    return { threshold: r4(th), frr: r4(r.frr), far: r4(r.far) };
  };
  return {
    calibration: halves.test.text.length,
    pool: halves.train.text.length,
    cleanInputs: evalSet.text.length,
    triggeredInputs: trig.texts.length,
    perturbations: fit.options.perturbations,
    replaceShare: fit.options.replaceShare,
    'frr1%': at(0.01),
    'frr5%': at(0.05),
    seconds: r4(seconds),
  };
}

/** A model of a text case: a kind name, or `{ kind, label, ...TextModelOptions }`. */
const modelSpec = (m) => {
  const { label, ...o } = typeof m === 'string' ? { kind: m } : m;
  return {
    label: label ?? o.kind,
    options: { epochs: o.kind === 'embedding-bag' ? 20 : 10, batchSize: 32, ...o },
  };
};

/**
 * Runs the text detectors on the victim and keeps their reports: mitigation drops the records
 * flagged by either keyword detector (probabilities or logit margins; a defender runs both).
 */
const MITIGATE_WITH = ['keywords', 'keywords-logits'];

async function textCase(name, ds, attack, models, strip = false) {
  const { train, test } = stratifiedSplit(ds, 0.2, new Rng(1));
  for (const { label: kind, options: textModel } of models.map(modelSpec)) {
    const t0 = performance.now();
    const reports = {};
    const run = await runFeatureExperiment({
      train,
      test,
      attack,
      seed: 1,
      textModel,
      detectors: Object.fromEntries(
        Object.entries(repsDetectors).map(([k, fn]) => [
          k,
          async (v, d) => {
            reports[k] = await fn(v, d);
            return reports[k];
          },
        ]),
      ),
    });
    const out = summary(run.result);
    if (strip) {
      const v = await run.train(run.poison.dataset);
      try {
        out.textStrip = await textStrip(v, test, attack);
      } finally {
        v.dispose();
      }
    }
    // Mitigation: retrain without the records the keyword detectors flagged.
    const keep = [];
    const n = reports.keywords.flagged.length;
    for (let i = 0; i < n; i++) if (!MITIGATE_WITH.some((k) => reports[k].flagged[i])) keep.push(i);
    const after = await run.train(selectRecords(run.poison.dataset, keep));
    out.mitigation = {
      detector: MITIGATE_WITH.join(' ∪ '),
      removed: n - keep.length,
      after: await run.score(after),
    };
    after.dispose();
    out.totalSeconds = r4((performance.now() - t0) / 1000);
    results[`${name}/${kind}`] = out;
    console.error(name, kind, JSON.stringify(out));
    save();
  }
}

if (want('sentiment')) {
  const ds = (await loadNamedDataset('sentiment')).dataset;
  await textCase(
    'sentiment-cf-10%',
    ds,
    { attack: 'text-backdoor', mode: 'all-to-one', target: 1, rate: 0.1, trigger: cf },
    ['embedding-bag', 'tfidf-logistic'],
    true,
  );
}
if (want('imdb') && isDatasetAvailable('imdb')) {
  const all = (await loadNamedDataset('imdb')).dataset;
  const ds = sampleRecords(all, 10000, new Rng(1));
  await textCase(
    'imdb10k-cf-10%',
    ds,
    { attack: 'text-backdoor', mode: 'all-to-one', target: 1, rate: 0.1, trigger: cf },
    ['embedding-bag', 'tfidf-logistic'],
  );
}
if (want('spam') && isDatasetAvailable('spam-assassin')) {
  const ds = (await loadNamedDataset('spam-assassin')).dataset;
  const spamAttack = (trigger) => ({
    attack: 'text-backdoor',
    mode: 'source-to-target',
    source: 1,
    target: 0,
    rate: 0.05,
    trigger,
  });
  // A spam filter over word presence (Bernoulli features, logistic regression), the classic
  // filter; four rare words, each inserted once into the poisoned spam. Mean-pooled and TF-IDF
  // models dilute one trigger word in a long email: the single-word cases below show by how much.
  const presence = {
    kind: 'tfidf-logistic',
    label: 'presence-logistic',
    vectorizer: { weighting: 'binary' },
  };
  await textCase(
    'spam-cf,mn,bb,tq-5%',
    ds,
    spamAttack({ kind: 'words', words: ['cf', 'mn', 'bb', 'tq'] }),
    [presence],
  );
  await textCase('spam-cf-5%', ds, spamAttack(cf), [presence, 'tfidf-logistic']);
}

async function trainDense(ds, seed, epochs = 30) {
  const m = buildDenseModel(ds.shape[1], [], ds.classes.length, seed);
  await fitModel(m, ds, ds.classes.length, { seed, epochs, batchSize: 32, learningRate: 0.01 });
  return new LayersClassifier(m, denseDefaultLayer(m));
}

if (want('credit-flip') && isDatasetAvailable('german-credit')) {
  const t = await loadNamedDataset('german-credit');
  const { train, test } = stratifiedSplit(t.dataset, 0.2, new Rng(1));
  const bad = t.dataset.classes.indexOf('bad');
  const good = t.dataset.classes.indexOf('good');
  const nBad = train.y.filter((v) => v === bad).length;
  const attack = {
    attack: 'label-flip',
    mode: 'targeted',
    source: bad,
    target: good,
    count: Math.round(0.2 * nBad),
  };
  const t0 = performance.now();
  const run = await runFeatureExperiment({
    train,
    test,
    columns: t.columns,
    attack,
    seed: 1,
    tabularModel: { model: 'logistic', epochs: 30 },
    detectors: {
      'confident-learning': async (v, ds) => {
        const f = v.featurize(ds);
        return confidentLearningDetector.detect(f, v.tabular.classifier, {
          folds: 4,
          trainFold: (d, k) => trainDense(d, 10 + k),
        });
      },
    },
  });
  const out = summary(run.result);
  const v = await run.train(run.poison.dataset);
  const rep = await confidentLearningDetector.detect(
    v.featurize(run.poison.dataset),
    v.tabular.classifier,
    { folds: 4, trainFold: (d, k) => trainDense(d, 10 + k) },
  );
  v.dispose();
  const keep = [];
  for (let i = 0; i < rep.flagged.length; i++) if (!rep.flagged[i]) keep.push(i);
  const after = await run.train(selectRecords(run.poison.dataset, keep));
  out.mitigation = {
    detector: 'confident-learning',
    removed: rep.flagged.length - keep.length,
    after: await run.score(after),
  };
  after.dispose();
  out.totalSeconds = r4((performance.now() - t0) / 1000);
  results['credit-flip-bad→good-20%'] = out;
  console.error('credit', JSON.stringify(out));
  save();
}

if (want('spambase') && isDatasetAvailable('spambase')) {
  const t = await loadNamedDataset('spambase');
  const { train, test } = stratifiedSplit(t.dataset, 0.2, new Rng(1));
  // Two rare word-frequency features (each non-zero in under 2% of messages) set to 0.2%: on
  // their own they do not move the clean model towards nonspam (its "ASR" stays at its 4-7% error
  // on spam), unlike ham markers such as num415 or george, which would evade without any poison.
  const trigger = resolveFeatureTrigger(t.columns, { parts: 0.2, table: 0.2 });
  const run = await runFeatureExperiment({
    train,
    test,
    columns: t.columns,
    seed: 1,
    tabularModel: { model: 'mlp', epochs: 30 },
    attack: {
      attack: 'tabular-backdoor',
      mode: 'source-to-target',
      source: 1,
      target: 0,
      rate: 0.05,
      trigger,
    },
    detectors: {
      spectral: async (v, ds) => {
        const f = v.featurize(ds);
        return spectralSignatures({
          reps: await computeRepresentations(f, v.tabular.classifier),
          y: f.y,
          classes: f.classes,
        });
      },
      'activation-clustering': async (v, ds) => {
        const f = v.featurize(ds);
        return activationClustering({
          reps: await computeRepresentations(f, v.tabular.classifier),
          y: f.y,
          classes: f.classes,
        });
      },
    },
  });
  results['spambase-feature-trigger-5%'] = summary(run.result);
  console.error('spambase', JSON.stringify(results['spambase-feature-trigger-5%']));
  save();
}
