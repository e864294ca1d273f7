// Scan speed (issue 16's target: "the default decision on 60,000 MNIST records with the cnn ≤ 10 s
// including the forward pass, on one core"). Times the default decision of `scanDataset` stage by
// stage, as `antidote scan` runs it: load (dataset, range check, model), forward (the
// representations, once for every detector), each default detector on those representations, and
// the decision (`mergeReports`). Wall seconds and CPU seconds (user + system, every thread of the
// process) per stage; the forward pass runs on one core (one TF.js thread, or ONNX Runtime with
// one intra-op thread). Writes bench/results/scan-speed.json.
//
// Flags: --model DIR --data DIR (a cached cnn and its data, e.g. a detection-matrix case:
// /tmp/antidote-matrix/mnist-cnn-e2-clean-s1/{model,data}); without them a cnn is trained 2 epochs
// on MNIST's 60,000 training records (slow: about 7 minutes or more on a loaded machine) and cached
// under --cache (default /tmp/antidote-scan-speed) for the next run. --inference auto,tfjs (the
// runtimes to time, interleaved; default auto), --repeats N (default 1; the median per stage is
// reported), --seed N (the scan's seed, default 1), --no-results (do not write bench/results).

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../dist/data/load.js';
import { normalizeRange } from '../dist/data/range.js';
import {
  computeRepresentations,
  defaultScanMethods,
  mergeReports,
  scanDataset,
} from '../dist/defenses/index.js';
import { initEngine, loadModel, trainClassifier } from '../dist/engine/index.js';
import { argValue as arg, hasFlag, writeResult } from './common.mjs';

const log = (s) => console.error(s);
const r3 = (v) => Math.round(v * 1000) / 1000;

const cacheDir = arg('--cache', '/tmp/antidote-scan-speed');
const engines = arg('--inference', 'auto').split(',');
const repeats = Number(arg('--repeats', '1'));
const seed = Number(arg('--seed', '1'));

/** The cached model and data, or a cnn trained 2 epochs on MNIST's training set (cached). */
async function source() {
  const model = arg('--model');
  const data = arg('--data');
  if (model && data) return { model, data, trained: false };
  if (model || data) throw new Error('give both --model DIR and --data DIR, or neither');
  const dir = join(cacheDir, 'mnist-cnn-e2');
  if (existsSync(join(dir, 'model.json')))
    return { model: dir, data: 'mnist:train', trained: false };
  log(
    'scan-speed: no --model/--data: training a cnn 2 epochs on MNIST (60,000 records; slow, ~7+ min)',
  );
  await initEngine();
  const t = performance.now();
  const train = await loadDataset('mnist:train');
  const victim = await trainClassifier(train.dataset, { model: 'cnn', seed: 1, epochs: 2 });
  mkdirSync(cacheDir, { recursive: true });
  await victim.save(dir);
  victim.dispose();
  log(`scan-speed: trained and cached ${dir} (${((performance.now() - t) / 1000).toFixed(0)} s)`);
  return { model: dir, data: 'mnist:train', trained: true };
}

/** Runs `fn` and returns its result with the wall and CPU seconds it took. */
async function timed(fn) {
  const c = process.cpuUsage();
  const t = performance.now();
  const value = await fn();
  const cpu = process.cpuUsage(c);
  return { value, wall: (performance.now() - t) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
}

/** One timed scan with `engine` (auto, onnx or tfjs). */
async function scanOnce(src, engine) {
  const stages = {};
  const load = await timed(async () => {
    const loaded = await loadDataset(src.data);
    const range = normalizeRange(loaded.dataset, src.data);
    const model = await loadModel(src.model);
    return { ds: model.featurize(range.dataset), model };
  });
  stages.load = load;
  const { ds, model } = load.value;
  try {
    const classifier = model.classifier;
    model.useThreads(1);
    classifier.useInference?.(engine);
    const runtime = (await classifier.inferenceRuntime?.()) ?? 'model';
    stages.forward = await timed(() => computeRepresentations(ds, classifier));
    const context = {};
    const methods = defaultScanMethods(context);
    const reports = [];
    for (const m of methods) {
      const t = await timed(() => scanDataset(ds, classifier, { methods: [m], seed, context }));
      reports.push(t.value.reports[0]);
      stages[m] = t;
    }
    stages.decision = await timed(async () => mergeReports(ds, reports, undefined, methods));
    const merged = stages.decision.value;
    const decision = ['forward', ...methods, 'decision'];
    const sum = (keys, k) => keys.reduce((a, s) => a + stages[s][k], 0);
    return {
      engine,
      runtime,
      records: ds.y.length,
      methods,
      flagged: merged.flagged.reduce((a, b) => a + b, 0),
      verdict: merged.verdict?.verdict ?? null,
      stages: Object.fromEntries(
        Object.entries(stages).map(([k, v]) => [k, { wall: r3(v.wall), cpu: r3(v.cpu) }]),
      ),
      decisionWall: r3(sum(decision, 'wall')),
      decisionCpu: r3(sum(decision, 'cpu')),
      totalWall: r3(sum(['load', ...decision], 'wall')),
      totalCpu: r3(sum(['load', ...decision], 'cpu')),
    };
  } finally {
    model.dispose();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await initEngine();
const src = await source();
const runs = [];
for (let r = 0; r < repeats; r++) {
  for (const engine of engines) {
    const run = await scanOnce(src, engine);
    runs.push(run);
    log(
      `scan-speed ${engine} (${run.runtime}): decision ${run.decisionWall} s wall, ${run.decisionCpu} s CPU; ` +
        `${Object.entries(run.stages)
          .map(([k, v]) => `${k} ${v.wall}/${v.cpu}`)
          .join(', ')}; ${run.flagged} flagged, verdict ${run.verdict}`,
    );
  }
}
const summary = {};
for (const engine of engines) {
  const mine = runs.filter((r) => r.engine === engine);
  const stageNames = Object.keys(mine[0].stages);
  summary[engine] = {
    runtime: mine[0].runtime,
    runs: mine.length,
    decisionWall: median(mine.map((r) => r.decisionWall)),
    decisionCpu: median(mine.map((r) => r.decisionCpu)),
    totalWall: median(mine.map((r) => r.totalWall)),
    stagesMedian: Object.fromEntries(
      stageNames.map((s) => [
        s,
        {
          wall: median(mine.map((r) => r.stages[s].wall)),
          cpu: median(mine.map((r) => r.stages[s].cpu)),
        },
      ]),
    ),
    // The same seed gives the same decision whatever the runtime (compared across engines).
    flagged: [...new Set(mine.map((r) => r.flagged))],
    targetSeconds: 10,
    meetsTarget: median(mine.map((r) => r.decisionWall)) <= 10,
  };
}
if (!hasFlag('--no-results')) {
  writeResult('scan-speed', {
    target:
      'default decision (forward pass, default detectors, decision) on 60,000 MNIST records with the cnn ≤ 10 s on one core',
    model: src.model,
    data: src.data,
    trainedHere: src.trained,
    seed,
    note: 'wall seconds depend on the machine load; CPU seconds (user + system, all threads) are the steadier figure',
    summary,
    runs,
  });
}
