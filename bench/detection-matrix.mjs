// Detection matrix (issue 16): how well the default scan decision and every registered detector
// find poison across datasets, victims, triggers, modes, rates and seeds, and whether the verdict
// can be trusted. Two stages, so that detection is re-run cheaply after the detectors change:
//
// - make: for each case, poison the training set with the library's attack registry (seeded),
//   train the victim, measure clean accuracy and ASR on the test set, and cache the poisoned
//   dataset directory, the trained model and the ground truth under --cache (default
//   /tmp/antidote-matrix), one folder per case key (src/eval/detection-matrix.ts);
// - detect: for each cached case, run the default decision (`scanDataset` with its default
//   detectors) and every registered detector that applies to the data on its own (detectors are
//   given no retraining context unless --with-retrain), scoring each against the ground truth.
//
// Flags: --grid core|full|unseen (default core; unseen: held-out targets, seeds and trigger places), --quick (a tiny smoke grid), --stage make|detect|all
// (default all; report: only write the results from the cache), --skip DETECTORS (not run on
// their own), --only-cases REGEX (on case keys), --reverse (cases in reverse order: a second
// process on the same cache; cases being made are locked), --cache DIR, --with-retrain, --seed N (the
// scan's seed, default 1), --no-results (do not write bench/results), --detect-dir DIR (where each
// case's detect.json is written and read, one folder per case key; default the cache: a shared,
// read-only cache keeps its made cases while several runs detect beside it), --save-reports (the
// default decision's reports beside detect.json, for replaying a decision rule). Results:
// bench/results/detection-matrix.json and .md (the table and the targets of the issue), built
// from every case of the grid that has been detected in the cache.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attackEntry } from '../dist/attacks/registry.js';
import { featureTriggerFromString } from '../dist/attacks/trigger-options.js';
import { writeDatasetDir } from '../dist/data/dataset-dir.js';
import { dataDomain, loadDataset } from '../dist/data/load.js';
import { stratifiedSplit } from '../dist/data/transform.js';
import {
  computeRepresentations,
  DETECTORS,
  reportToJSON,
  scanDataset,
  tabularScanContext,
} from '../dist/defenses/index.js';
import { FeatureModel, initEngine, loadModel, trainClassifier } from '../dist/engine/index.js';
import { evaluateDetection } from '../dist/eval/detection.js';
import {
  fraudLikeCsv,
  matrixCaseKey,
  matrixGrid,
  matrixRateDefinition,
  matrixTable,
  matrixTargets,
  matrixTargetsMarkdown,
} from '../dist/eval/detection-matrix.js';
import { evaluateFeatureBackdoor } from '../dist/eval/feature-backdoor.js';
import { accuracy, evaluateBackdoor, evaluateClean } from '../dist/eval/metrics.js';
import { poisonSeparability } from '../dist/eval/poison-separability.js';
import { Rng } from '../dist/util/rng.js';
import { hasFlag, machine, resultsDir, writeResult } from './common.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
};
const quick = hasFlag('--quick');
const gridName = quick ? 'quick' : arg('--grid', 'core');
const stage = arg('--stage', 'all');
const cacheDir = arg('--cache', '/tmp/antidote-matrix');
const detectDir = arg('--detect-dir', cacheDir);
const onlyCases = arg('--only-cases') ? new RegExp(arg('--only-cases')) : undefined;
const withRetrain = hasFlag('--with-retrain');
// --save-reports: the default decision's reports are written beside detect.json (reports.json:
// labels, ground truth, every report as JSON), so that a change to the decision rule alone can be
// replayed on them without running the detectors again.
const saveReports = hasFlag('--save-reports');
const scanSeed = Number(arg('--seed', '1'));
const writeResults = !hasFlag('--no-results');
// --skip a,b: detectors not run on their own (e.g. knn: about 11 minutes per 60,000 records on a
// loaded 2-core machine); they are listed as skipped, the default decision still runs them all.
const skip = new Set((arg('--skip') ?? '').split(',').filter(Boolean));
if (!['make', 'detect', 'all', 'report'].includes(stage)) {
  throw new Error(`--stage make|detect|all|report, got ${stage}`);
}
if (!['core', 'full', 'quick', 'unseen'].includes(gridName))
  throw new Error(`--grid core|full|quick|unseen, got ${gridName}`);
// The held-out grid writes its own results (detection-matrix-unseen.{json,md}).
const resultName = gridName === 'unseen' ? 'detection-matrix-unseen' : 'detection-matrix';

const cases = matrixGrid(gridName).filter((c) => !onlyCases || onlyCases.test(matrixCaseKey(c)));
// --reverse: the cases in reverse order, so that a second process on the same cache meets the
// first in the middle (a case being made elsewhere is locked and skipped).
if (hasFlag('--reverse')) cases.reverse();
const r4 = (v) => (v === null || v === undefined || Number.isNaN(v) ? null : Number(v.toFixed(4)));
const log = (s) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const readJson = (f) => JSON.parse(readFileSync(f, 'utf8'));
const writeJson = (f, v) => writeFileSync(f, `${JSON.stringify(v, null, 2)}\n`);

/** Train and test specs of a case's dataset (the fraud CSV is written into the cache once). */
async function loadSplits(c) {
  if (c.dataset === 'mnist' || c.dataset === 'fashion-mnist') {
    const lim = c.limit !== undefined ? `:${c.limit}` : '';
    const testLim = c.limit !== undefined ? `:${Math.min(c.limit, 1000)}` : '';
    return {
      spec: `${c.dataset}:train${lim}`,
      train: await loadDataset(`${c.dataset}:train${lim}`),
      test: (await loadDataset(`${c.dataset}:test${testLim}`)).dataset,
    };
  }
  if (c.dataset === 'fraud') {
    const csv = join(cacheDir, 'fraud-like.csv');
    if (!existsSync(csv)) writeFileSync(csv, fraudLikeCsv(4000, 1));
    const all = await loadDataset(csv);
    const { train, test } = stratifiedSplit(all.dataset, 0.2, new Rng(1));
    return { spec: csv, train: { ...all, dataset: train }, test };
  }
  const lim = c.limit !== undefined ? `:${c.limit}` : '';
  return {
    spec: `${c.dataset}:train${lim}`,
    train: await loadDataset(`${c.dataset}:train${lim}`),
    test: (await loadDataset(`${c.dataset}:test`)).dataset,
  };
}

/** The attack registry entry and its raw options for a case (undefined for clean runs). */
function attackOf(c) {
  const targeting = {
    mode: c.mode,
    ...(c.target !== undefined ? { target: String(c.target) } : {}),
    ...(c.source !== undefined ? { source: String(c.source) } : {}),
    rate: c.rate,
    rateOf: matrixRateDefinition(c),
  };
  switch (c.attack) {
    case 'clean':
      return undefined;
    case 'label-flip':
      return { name: 'label-flip', raw: { mode: c.mode, rate: c.rate } };
    case 'backdoor': {
      const [spec, position] = c.trigger.split('@');
      const [kind, alpha] = spec.split('-');
      return {
        name: 'backdoor',
        raw: {
          trigger: kind,
          ...(alpha ? { alpha: Number(alpha) } : {}),
          ...(position ? { position } : {}),
          ...targeting,
        },
      };
    }
    case 'text-backdoor':
      return { name: 'text-backdoor', raw: { triggerWords: c.trigger.split(','), ...targeting } };
    case 'tabular-backdoor':
      return { name: 'tabular-backdoor', raw: { trigger: c.trigger, ...targeting } };
  }
  throw new Error(`unknown attack ${c.attack}`);
}

/** Trains the case's victim on `loaded` (poisoned); returns it with a raw-record predictor. */
async function trainVictim(c, loaded) {
  if (c.model === 'cnn' || (c.model === 'mlp' && dataDomain(loaded) === 'features')) {
    const classifier = await trainClassifier(loaded.dataset, {
      model: c.model,
      seed: c.seed,
      epochs: c.epochs,
      batchSize: 64,
      learningRate: 0.001,
    });
    return {
      image: classifier,
      save: (dir) => classifier.save(dir),
      dispose: () => classifier.dispose(),
    };
  }
  const presence = c.model === 'presence-logistic';
  const model = await FeatureModel.train(
    { dataset: loaded.dataset, ...(loaded.columns ? { columns: loaded.columns } : {}) },
    {
      kind: presence ? 'tfidf-logistic' : c.model,
      seed: c.seed,
      epochs: c.epochs,
      ...(presence ? { vectorizer: { weighting: 'binary' } } : {}),
    },
  );
  return { feature: model, save: (dir) => model.save(dir), dispose: () => model.dispose?.() };
}

/** Poisons, trains, measures and caches one case. */
async function makeCase(c) {
  const key = matrixCaseKey(c);
  const dir = join(cacheDir, key);
  if (existsSync(join(dir, 'case.json'))) {
    log(`make ${key}: cached`);
    return;
  }
  const lock = `${dir}.lock`;
  if (!takeLock(lock)) {
    log(`make ${key}: being made by another process (${lock})`);
    return;
  }
  try {
    await makeUnlocked(c, key, dir);
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Creates `lock` holding this process id; false when a live process holds it. */
function takeLock(lock) {
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    const pid = Number(readFileSync(lock, 'utf8'));
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      writeFileSync(lock, String(process.pid)); // its process is gone: take it over
      return true;
    }
  }
}

async function makeUnlocked(c, key, dir) {
  const t0 = performance.now();
  const { spec, train, test } = await loadSplits(c);
  const atk = attackOf(c);
  let poisoned = train;
  let record;
  let trigger;
  if (atk) {
    const entry = attackEntry(atk.name);
    const options = entry.options.parse(atk.raw);
    entry.check?.(options);
    const out = await entry.run(
      { loaded: train, data: spec, rng: new Rng(c.seed), loadData: (s) => loadDataset(s) },
      options,
    );
    poisoned = { ...train, dataset: out.dataset };
    record = out.record;
    trigger = out.trigger;
    log(`make ${key}: ${out.summary.split('\n')[0]}`);
  }
  const t1 = performance.now();
  const victim = await trainVictim(c, poisoned);
  const trainSeconds = (performance.now() - t1) / 1000;
  let cleanAccuracy;
  let asr = null;
  const targeting = {
    mode: c.mode,
    ...(c.target !== undefined ? { target: c.target } : {}),
    ...(c.source !== undefined ? { source: c.source } : {}),
  };
  const evalRng = new Rng(c.seed + 1000);
  if (victim.image) {
    cleanAccuracy = (await evaluateClean(victim.image, test)).accuracy;
    if (c.attack === 'backdoor') {
      asr = (await evaluateBackdoor(victim.image, test, trigger, targeting, evalRng))
        .attackSuccessRate;
    }
  } else {
    const f = victim.feature;
    cleanAccuracy = accuracy(await f.predictRaw(test), test.y);
    if (c.attack === 'text-backdoor' || c.attack === 'tabular-backdoor') {
      const spec =
        c.attack === 'text-backdoor'
          ? { kind: 'words', words: c.trigger.split(',') }
          : featureTriggerFromString(c.trigger, train.columns);
      asr = (await evaluateFeatureBackdoor((d) => f.predictRaw(d), test, spec, targeting, evalRng))
        .attackSuccessRate;
    }
  }
  // Written into a temporary folder, renamed when complete: a killed run leaves no half case.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const meta =
    dataDomain(train) === 'text'
      ? { type: 'text' }
      : train.columns
        ? { type: 'tabular', columns: train.columns.map((col) => ({ ...col })) }
        : undefined;
  await writeDatasetDir(join(tmp, 'data'), poisoned.dataset, {
    ...(record ? { attack: record } : {}),
    ...(meta ? { meta } : {}),
  });
  await victim.save(join(tmp, 'model'));
  victim.dispose();
  const makeSeconds = (performance.now() - t0) / 1000;
  writeJson(join(tmp, 'case.json'), {
    key,
    case: c,
    records: poisoned.dataset.y.length,
    poisoned: record ? record.indices.length : 0,
    truth: record ? record.indices : [],
    asr: r4(asr),
    cleanAccuracy: r4(cleanAccuracy),
    trainSeconds: r4(trainSeconds),
    makeSeconds: r4(makeSeconds),
    madeAt: new Date().toISOString(),
  });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  log(
    `make ${key}: clean acc ${cleanAccuracy.toFixed(4)}, ASR ${asr === null ? '–' : asr.toFixed(4)}, train ${trainSeconds.toFixed(1)} s, total ${makeSeconds.toFixed(1)} s`,
  );
}

/** Precision / recall / F1 of `flagged` against `truth` (null where undefined). */
function score(flagged, truth, y, seconds) {
  const n = flagged.reduce((a, b) => a + b, 0);
  const ev = evaluateDetection(
    { scores: Float32Array.from(flagged), flagged },
    { poisoned: truth, y },
  );
  const hasPoison = truth.some((v) => v === 1);
  return {
    precision: n ? r4(ev.precision) : null,
    recall: hasPoison ? r4(ev.recall) : null,
    f1: hasPoison ? r4(ev.f1) : null,
    flagged: n,
    seconds: r4(seconds),
  };
}

/** The scan context of a loaded model: raw texts for keyword discovery, retraining on demand. */
function scanContext(model, loaded, c) {
  const feature = model.feature;
  return {
    ...(withRetrain && model.capabilities.training
      ? {
          trainLike: (train, o) =>
            model.trainLike(
              train,
              model.input.kind === 'tensor'
                ? { seed: o.seed, epochs: o.epochs ?? c.epochs, batchSize: 64, learningRate: 0.001 }
                : { seed: o.seed, ...(o.epochs !== undefined ? { epochs: o.epochs } : {}) },
            ),
        }
      : {}),
    ...(feature && model.input.kind === 'text'
      ? {
          text: {
            dataset: loaded.dataset,
            predict: (texts, output) =>
              output === 'logits'
                ? feature.predictLogitsTexts(texts)
                : feature.predictProbaTexts(texts),
            ...(feature.tokenizer ? { tokenizer: feature.tokenizer } : {}),
          },
        }
      : {}),
    ...tabularScanContext(model),
  };
}

/** The result of a detector that did not run, and why. */
const notRun = (skipped, seconds = 0) => ({
  precision: null,
  recall: null,
  f1: null,
  flagged: 0,
  seconds,
  skipped,
});

const logDetector = (name, d) =>
  log(
    `  ${name}: F1 ${d.f1} P ${d.precision} R ${d.recall} flagged ${d.flagged} (${d.seconds} s)${d.skipped ? ` skipped: ${d.skipped}` : ''}`,
  );

/** Whether a registry entry says it retrains (read defensively: the field may not exist). */
const retrains = (entry) =>
  entry.retrains === true || entry.needsRetraining === true || entry.requiresTraining === true;

/** Runs the default decision and every applicable detector on one cached case. */
async function detectCase(c) {
  const key = matrixCaseKey(c);
  const dir = join(cacheDir, key);
  if (!existsSync(join(dir, 'case.json'))) {
    log(`detect ${key}: not made yet (run --stage make)`);
    return;
  }
  const made = readJson(join(dir, 'case.json'));
  const loaded = await loadDataset(join(dir, 'data'));
  const model = await loadModel(join(dir, 'model'));
  try {
    const ds = model.featurize(loaded.dataset);
    const classifier = model.classifier;
    const truth = new Uint8Array(ds.y.length);
    for (const i of made.truth) truth[i] = 1;
    const context = scanContext(model, loaded, c);
    // Each default detector's own time, from its progress events (the scan runs them in turn).
    const spans = new Map();
    const t0 = performance.now();
    let last = t0;
    const merged = await scanDataset(ds, classifier, {
      seed: scanSeed,
      context,
      onProgress: (method) => {
        const now = performance.now();
        const span = spans.get(method) ?? { start: last, end: now };
        span.end = now;
        spans.set(method, span);
        last = now;
      },
    });
    const decisionSeconds = (performance.now() - t0) / 1000;
    if (saveReports) {
      mkdirSync(join(detectDir, key), { recursive: true });
      writeJson(join(detectDir, key, 'reports.json'), {
        classes: ds.classes,
        y: Array.from(ds.y),
        truth: made.truth,
        detectors: [...(merged.detectors ?? merged.methods)],
        reports: merged.reports.map((r) => reportToJSON(r)),
      });
    }
    const decision = {
      ...score(merged.flagged, truth, ds.y, decisionSeconds),
      methods: [...(merged.detectors ?? merged.methods)],
      verdict: merged.verdict?.verdict ? String(merged.verdict.verdict).toUpperCase() : null,
      reason: merged.verdict?.reason ?? null,
      suspiciousClasses: merged.perClass
        .filter((p) => p.suspiciousBy.length > 0)
        .map((p) => `${p.className} (${p.suspiciousBy.map((s) => s.method).join(', ')})`),
    };
    log(
      `detect ${key}: default [${decision.methods.join(',')}] F1 ${decision.f1} P ${decision.precision} R ${decision.recall} flagged ${decision.flagged} verdict ${decision.verdict} (${decisionSeconds.toFixed(1)} s)`,
    );
    // Where the poison sits: held-out linear separability in the default layer (the scan's
    // cached forward pass), telling a representation that hides it from detectors that miss it.
    const separability = made.truth.length
      ? (poisonSeparability(await computeRepresentations(ds, classifier), ds.y, truth) ?? null)
      : null;
    if (separability)
      log(`  separability (default layer): AUC ${separability.auc} F1 ${separability.f1}`);
    const domain = dataDomain(loaded);
    const detectors = {};
    for (const entry of DETECTORS) {
      if (!entry.domains.includes(domain)) continue;
      if (entry.name === 'kw' && !context.text) continue;
      if (retrains(entry) && !withRetrain) {
        detectors[entry.name] = notRun('retrains (run with --with-retrain)');
        continue;
      }
      // A default detector's report is the one the decision used (same data, model and seed).
      const k = decision.methods.indexOf(entry.name);
      if (k >= 0 && merged.reports[k]) {
        const report = merged.reports[k];
        const span = spans.get(entry.name);
        detectors[entry.name] = {
          ...score(report.flagged, truth, ds.y, span ? (span.end - span.start) / 1000 : null),
          suspiciousClasses: report.perClass.filter((p) => p.suspicious).map((p) => p.className),
          fromDefaultDecision: true,
        };
        logDetector(entry.name, detectors[entry.name]);
        continue;
      }
      if (skip.has(entry.name)) {
        detectors[entry.name] = notRun('not run (--skip)');
        continue;
      }
      const t = performance.now();
      try {
        const one = await scanDataset(ds, classifier, {
          methods: [entry.name],
          seed: scanSeed,
          context,
        });
        const report = one.reports[0];
        detectors[entry.name] = {
          ...score(report.flagged, truth, ds.y, (performance.now() - t) / 1000),
          suspiciousClasses: report.perClass.filter((p) => p.suspicious).map((p) => p.className),
        };
      } catch (e) {
        detectors[entry.name] = notRun(
          `${!withRetrain && e.code === 'INVALID_STATE' ? 'needs retraining (--with-retrain); ' : ''}${e.code ?? 'error'}: ${String(e.message ?? e).slice(0, 200)}`,
          r4((performance.now() - t) / 1000),
        );
      }
      logDetector(entry.name, detectors[entry.name]);
    }
    mkdirSync(join(detectDir, key), { recursive: true });
    writeJson(join(detectDir, key, 'detect.json'), {
      detectedAt: new Date().toISOString(),
      commit: gitCommit(),
      withRetrain,
      scanSeed,
      detectors,
      decision,
      separability,
    });
  } finally {
    model.dispose();
  }
}

function gitCommit() {
  if (process.env.MATRIX_COMMIT) return process.env.MATRIX_COMMIT;
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

/** The rows of every case of the grid that has been made and detected. */
function collectRows() {
  const rows = [];
  for (const c of matrixGrid(gridName)) {
    const dir = join(cacheDir, matrixCaseKey(c));
    const detected = join(detectDir, matrixCaseKey(c), 'detect.json');
    if (!existsSync(detected) || !existsSync(join(dir, 'case.json'))) continue;
    const made = readJson(join(dir, 'case.json'));
    const det = readJson(detected);
    const { truth: _truth, ...rest } = made;
    rows.push({
      ...rest,
      detectors: det.detectors,
      decision: det.decision,
      ...(det.separability ? { separability: det.separability } : {}),
      detectedAt: det.detectedAt,
      commit: det.commit,
    });
  }
  return rows;
}

function writeAll() {
  const rows = collectRows();
  const targets = matrixTargets(rows);
  const make = rows.map((r) => r.makeSeconds ?? 0);
  writeResult(resultName, {
    grid: gridName,
    cache: cacheDir,
    withRetrain,
    commit: gitCommit(),
    cases: rows.length,
    casesInGrid: matrixGrid(gridName).length,
    makeSecondsTotal: r4(make.reduce((a, b) => a + b, 0)),
    targets,
    rows,
  });
  const m = machine();
  const reasons = rows
    .map(
      (r) =>
        `- \`${r.key}\` (code ${r.commit ?? '?'}): ${r.decision.verdict ?? 'no verdict'}${r.decision.reason ? ` — ${r.decision.reason.split('\n')[0]}` : ''}`,
    )
    .join('\n');
  const md = [
    '# Detection matrix (issue 16)',
    '',
    `Grid \`${gridName}\`: ${rows.length} of ${matrixGrid(gridName).length} cases detected; code ${gitCommit() ?? '?'}; ${m.cores} × ${m.cpu}, Node ${m.node}, ${m.date}.`,
    `Default decision: \`scanDataset\` with its default detectors${rows[0] ? ` (${rows[0].decision.methods.join(', ')})` : ''}; detectors run one by one without retraining${withRetrain ? ' (and with it: --with-retrain)' : ''}. F1 against the attack's ground truth; – where undefined (no poison, skipped). ASR on the triggered test set.`,
    `Wall time of the make stage (poison + train + measure): ${rows.reduce((a, r) => a + (r.makeSeconds ?? 0), 0).toFixed(0)} s over ${rows.length} cases.`,
    '',
    '## Targets',
    '',
    matrixTargetsMarkdown(targets),
    '## Cases',
    '',
    matrixTable(rows),
    '## Verdicts',
    '',
    reasons,
    '',
  ].join('\n');
  writeFileSync(join(resultsDir, `${resultName}.md`), md);
  log(`wrote ${join(resultsDir, `${resultName}.md`)} (${rows.length} cases)`);
}

if (stage === 'report') {
  writeAll();
  process.exit(0);
}
await initEngine();
mkdirSync(cacheDir, { recursive: true });
log(`detection matrix: grid ${gridName}, ${cases.length} cases, stage ${stage}, cache ${cacheDir}`);
let failed = 0;
for (const c of cases) {
  try {
    if (stage === 'make' || stage === 'all') await makeCase(c);
    if (stage === 'detect' || stage === 'all') {
      await detectCase(c);
      if (writeResults) writeAll();
    }
  } catch (e) {
    failed++;
    log(`case ${matrixCaseKey(c)} failed: ${e.code ?? ''} ${e.stack ?? e}`);
  }
}
if (writeResults && stage !== 'make') writeAll();
process.exit(failed ? 1 : 0);
