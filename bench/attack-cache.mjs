// Cached attack sets for the detectors of issue 16 (clean-label and adaptive backdoors): the
// make stage poisons the full training set with a case of bench/attack-cases.mjs, trains the cnn
// victim (the attack bench's epochs: 2, WaNet 8), measures its accuracy and ASR, and saves the
// poisoned set, the victim and the ground truth under <cache>/<dataset>-<case>-s<seed>/ (the
// robust surrogate of Turner et al.'s attack is built once per dataset and seed, and cached too).
// The detect stage reads them back and runs the default scan decision, each of its detectors
// scored alone, and any --also detectors on their own; it records each detector's F1 and its
// strongest class finding.
//
//   node bench/attack-cache.mjs --stage make|detect|all [--cache DIR] [--datasets mnist,fashion-mnist]
//     [--cases a,b] [--seeds 1] [--also nc] [--results FILE] [--force]
//
// Default cache: /work/cache/attacks; results: bench/results/attacks-cache.json (merged per case).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDatasetDir } from '../dist/data/dataset-dir.js';
import { loadFashionMnist } from '../dist/data/fashion-mnist.js';
import { loadDataset } from '../dist/data/load.js';
import { loadMnist } from '../dist/data/mnist.js';
import { adversarialFit } from '../dist/defenses/adversarial-training.js';
import { scanDataset } from '../dist/defenses/index.js';
import { initEngine, loadModel, TfClassifier, trainClassifier } from '../dist/engine/index.js';
import { evaluateBackdoor, evaluateClean } from '../dist/eval/metrics.js';
import { Rng } from '../dist/util/rng.js';
import { attackCases, flagScore, poisonCase } from './attack-cases.mjs';
import { firstRecords, hasFlag, resultsDir } from './common.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const stage = arg('--stage', 'all');
const cacheDir = arg('--cache', '/work/cache/attacks');
const datasets = arg('--datasets', 'mnist,fashion-mnist').split(',');
const seeds = arg('--seeds', '1').split(',').map(Number);
const DEFAULT_CASES = [
  'clean-label-10%',
  'clean-label-20%',
  'wanet-10%',
  'adaptive-blend-1%',
  'adaptive-patch-1%',
  'sig-sin-20%',
];
const caseNames = arg('--cases') ? arg('--cases').split(',') : DEFAULT_CASES;
const also = (arg('--also') ?? '').split(',').filter(Boolean);
const resultsFile = arg('--results', join(resultsDir, 'attacks-cache.json'));
const force = hasFlag('--force');
// --records N: the first N training records (a smoke test of the pipeline, not a measurement).
const records = arg('--records') ? Number(arg('--records')) : undefined;
const target = 0;
// The robust surrogate of bench/attacks.mjs: PGD ε 0.3, 5 steps, half of each batch, 2 epochs, on
// the first 12,000 training records.
const ADV = { pgd: { epsilon: 0.3, steps: 5, stepSize: 0.1 }, adversarialShare: 0.5, epochs: 2 };
const log = (s) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const r4 = (v) => (v === undefined || v === null ? null : Number(v.toFixed(4)));
const readJson = (f) => JSON.parse(readFileSync(f, 'utf8'));
const writeJson = (f, v) => writeFileSync(f, `${JSON.stringify(v, null, 2)}\n`);

const cases = attackCases(target);
for (const n of caseNames) {
  if (!cases[n]) throw new Error(`no case ${n} (cases: ${Object.keys(cases).join(', ')})`);
}
await initEngine({ backend: 'wasm' });
const loaders = { mnist: loadMnist, 'fashion-mnist': loadFashionMnist };

/** The cached robust surrogate of `name`/`seed` (trained and saved on first use). */
async function surrogateFor(name, seed, train, shape) {
  const dir = join(cacheDir, `${name}-surrogate-s${seed}`);
  if (existsSync(join(dir, 'model', 'model.json'))) return TfClassifier.load(join(dir, 'model'));
  const t = performance.now();
  const robust = await TfClassifier.create('cnn', shape, train.classes, seed + 100);
  await adversarialFit(robust, firstRecords(train, Math.min(12000, records ?? 12000)), {
    seed: seed + 100,
    ...ADV,
  });
  await robust.save(join(dir, 'model'), { overwrite: true });
  log(`${name} seed ${seed}: surrogate ${((performance.now() - t) / 1000).toFixed(0)} s`);
  return robust;
}

async function makeCase(name, seed, caseName, train, test) {
  const key = `${name}-${caseName}-s${seed}`;
  const dir = join(cacheDir, key);
  if (existsSync(join(dir, 'case.json')) && !force) {
    log(`make ${key}: cached`);
    return;
  }
  const c = cases[caseName];
  const shape = train.shape.slice(1);
  const t0 = performance.now();
  let robust;
  const made = await poisonCase(train, shape, c, new Rng(seed).fork('attack'), async () => {
    robust ??= await surrogateFor(name, seed, train, shape);
    return robust;
  });
  robust?.dispose();
  const { r, apply, test: trigger } = made;
  const epochs = c.epochs ?? 2;
  const m = await trainClassifier(r.dataset, { model: 'cnn', epochs, batchSize: 64, seed });
  const accuracy = (await evaluateClean(m, test)).accuracy;
  const bd = await evaluateBackdoor(m, test, { apply }, { mode: 'all-to-one', target }, new Rng(1));
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await writeDatasetDir(join(tmp, 'data'), r.dataset, { attack: r.record });
  await m.save(join(tmp, 'model'));
  m.dispose();
  const p = r.record.params;
  writeJson(join(tmp, 'case.json'), {
    key,
    dataset: name,
    case: caseName,
    seed,
    epochs,
    target,
    records: r.dataset.y.length,
    poisoned: r.record.indices.length,
    ...(p.poisons !== undefined ? { poisons: p.poisons, regularization: p.regularization } : {}),
    truth: r.record.indices,
    trigger,
    accuracy: r4(accuracy),
    asr: r4(bd.attackSuccessRate),
    makeSeconds: r4((performance.now() - t0) / 1000),
    madeAt: new Date().toISOString(),
  });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  log(
    `make ${key}: accuracy ${(accuracy * 100).toFixed(2)}%, ASR ${(bd.attackSuccessRate * 100).toFixed(2)}%, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
}

/** The strongest class finding of a report (by strength), in short. */
function strongest(report) {
  let best = null;
  for (const f of report.perClass) {
    if (f.strength === undefined) continue;
    if (!best || f.strength > best.strength) best = f;
  }
  return best
    ? {
        class: best.className,
        strength: r4(best.strength),
        flagged: best.flagged,
        reason: best.reason,
      }
    : null;
}

async function detectCase(name, seed, caseName) {
  const key = `${name}-${caseName}-s${seed}`;
  const dir = join(cacheDir, key);
  if (!existsSync(join(dir, 'case.json'))) {
    log(`detect ${key}: not made yet`);
    return null;
  }
  const made = readJson(join(dir, 'case.json'));
  const loaded = await loadDataset(join(dir, 'data'));
  const model = await loadModel(join(dir, 'model'));
  try {
    const ds = model.featurize(loaded.dataset);
    const truth = new Uint8Array(ds.y.length);
    for (const i of made.truth) truth[i] = 1;
    const t = performance.now();
    const merged = await scanDataset(ds, model.classifier, { seed: 1 });
    const seconds = r4((performance.now() - t) / 1000);
    const methods = [...(merged.detectors ?? merged.methods)];
    const detectors = {};
    methods.forEach((mname, k) => {
      const rep = merged.reports[k];
      detectors[mname] = rep
        ? { ...flagScore(rep.flagged, truth, ds.y), strongest: strongest(rep) }
        : null;
    });
    const alone = {};
    for (const mname of also) {
      const ta = performance.now();
      const r = await scanDataset(ds, model.classifier, { seed: 1, methods: [mname] });
      alone[mname] = {
        ...flagScore(r.flagged, truth, ds.y),
        verdict: r.verdict?.verdict ?? null,
        strongest: strongest(r.reports[0]),
        seconds: r4((performance.now() - ta) / 1000),
      };
    }
    const entry = {
      asr: made.asr,
      accuracy: made.accuracy,
      poisoned: made.poisoned,
      decision: {
        ...flagScore(merged.flagged, truth, ds.y),
        verdict: merged.verdict?.verdict ?? null,
        reason: merged.verdict?.reason ?? null,
        methods,
        seconds,
      },
      detectors,
      ...(also.length ? { alone } : {}),
      detectedAt: new Date().toISOString(),
    };
    log(
      `detect ${key}: ASR ${made.asr}, verdict ${entry.decision.verdict}, F1 ${entry.decision.f1} (${Object.entries(
        detectors,
      )
        .map(([k, v]) => `${k} ${v?.f1} s${v?.strongest?.strength ?? '–'}`)
        .join(', ')})${Object.entries(alone)
        .map(([k, v]) => ` | ${k}: F1 ${v.f1}, ${v.verdict}, ${JSON.stringify(v.strongest)}`)
        .join('')}`,
    );
    return entry;
  } finally {
    model.dispose?.();
  }
}

mkdirSync(cacheDir, { recursive: true });
const results = existsSync(resultsFile)
  ? readJson(resultsFile)
  : {
      note: 'bench/attack-cache.mjs: full training sets, cnn, target 0; cases of bench/attack-cases.mjs',
      cases: {},
    };
for (const name of datasets) {
  const load = loaders[name];
  if (!load) throw new Error(`no dataset ${name}`);
  let train;
  let test;
  if (stage !== 'detect') {
    train = await load('train', records ? { limit: records } : {});
    test = await load('test', records ? { limit: 500 } : {});
  }
  for (const seed of seeds) {
    for (const caseName of caseNames) {
      if (stage !== 'detect') await makeCase(name, seed, caseName, train, test);
      if (stage !== 'make') {
        const entry = await detectCase(name, seed, caseName);
        if (entry) {
          results.cases[`${name}-${caseName}-s${seed}`] = entry;
          writeJson(resultsFile, results);
        }
      }
    }
  }
}
