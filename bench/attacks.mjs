// Attack benchmark (issue 3): full MNIST (60k train / 10k test), cnn, 2 epochs, seed 1, wasm.
// One clean model is trained once and is the baseline of every case (same architecture, same
// training seed). Cases: pattern trigger all-to-one target 0 at 1% and 10% of the training set,
// bright-square image insert (4×4, bottom-right) at 5%, random label flip at 10/30/50%, and the
// adversarial (farthest-first) flip at 10%. `--quick` trains on 6,000 records; `--only a,b` runs a
// subset of the cases (names below). Results are written after every case.

import { createTrigger } from '../dist/attacks/index.js';
import { loadMnist } from '../dist/data/mnist.js';
import { Rng } from '../dist/data/rng.js';
import { initEngine, trainClassifier } from '../dist/engine/index.js';
import { evaluateBackdoor, evaluateClean, runExperiment } from '../dist/eval/index.js';
import { hasFlag, writeResult } from './common.mjs';

const quick = hasFlag('--quick');
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? new Set(process.argv[onlyArg + 1].split(',')) : undefined;
const seed = 1;
const victim = { model: 'cnn', epochs: 2, batchSize: 64 };
const backdoor = (trigger, rate) => ({
  attack: 'backdoor',
  trigger,
  mode: 'all-to-one',
  target: 0,
  rate,
  rateDefinition: 'of-training-set',
  injection: 'replace',
});
const pattern = { kind: 'pattern' };
const square = { kind: 'image', image: 'bright-square', size: 4, position: 'bottom-right' };
const cases = [
  { name: 'pattern-1%', attack: backdoor(pattern, 0.01) },
  { name: 'pattern-10%', attack: backdoor(pattern, 0.1) },
  { name: 'bright-square-5%', attack: backdoor(square, 0.05) },
  { name: 'random-flip-10%', attack: { attack: 'label-flip', mode: 'random', rate: 0.1 } },
  {
    name: 'adversarial-flip-10%',
    attack: { attack: 'label-flip', mode: 'adversarial', rule: 'farthest-first', rate: 0.1 },
  },
  { name: 'random-flip-30%', attack: { attack: 'label-flip', mode: 'random', rate: 0.3 } },
  { name: 'random-flip-50%', attack: { attack: 'label-flip', mode: 'random', rate: 0.5 } },
].filter((c) => !only || only.has(c.name));

const train = await loadMnist('train', quick ? { limit: 6000 } : {});
const test = await loadMnist('test');
const backend = await initEngine({ backend: 'wasm' });
const log = (s) => process.stderr.write(`bench attacks: ${s}\n`);

const t0 = performance.now();
log(`training the clean ${victim.model} on ${train.shape[0]} records`);
const clean = await trainClassifier(train, { ...victim, seed });
const cleanSeconds = (performance.now() - t0) / 1000;
const cleanMetrics = await evaluateClean(clean, test);
log(`clean accuracy ${(cleanMetrics.accuracy * 100).toFixed(2)}% (${cleanSeconds.toFixed(0)} s)`);
const cleanAsr = {};
for (const [name, trig] of [
  ['pattern', pattern],
  ['bright-square', square],
]) {
  const m = await evaluateBackdoor(
    clean,
    test,
    createTrigger(trig),
    { mode: 'all-to-one', target: 0 },
    new Rng(seed).fork('eval-trigger'),
  );
  cleanAsr[name] = m.attackSuccessRate;
}

const results = {
  dataset: 'mnist',
  trainRecords: train.shape[0],
  testRecords: test.shape[0],
  backend,
  seed,
  victim,
  clean: {
    accuracy: cleanMetrics.accuracy,
    perClassAccuracy: cleanMetrics.perClassAccuracy,
    seconds: cleanSeconds,
    asrWithoutPoison: cleanAsr,
  },
  cases: {},
  targets: {
    'pattern-1%': 'ASR >= 97%, clean accuracy within 0.5 points of the clean model',
    'pattern-10%': 'ASR >= 99%, clean accuracy within 0.5 points of the clean model',
    'bright-square-5%': 'ASR >= 97%',
    'adversarial-flip-10%': 'costs more accuracy than random-flip-10% (same seed)',
  },
  checks: {},
};

function checks() {
  const c = results.cases;
  const out = {};
  const drop = (n) => c[n].accuracyDrop;
  if (c['pattern-1%'])
    out['pattern-1%'] = c['pattern-1%'].asr >= 0.97 && Math.abs(drop('pattern-1%')) <= 0.005;
  if (c['pattern-10%'])
    out['pattern-10%'] = c['pattern-10%'].asr >= 0.99 && Math.abs(drop('pattern-10%')) <= 0.005;
  if (c['bright-square-5%']) out['bright-square-5%'] = c['bright-square-5%'].asr >= 0.97;
  if (c['adversarial-flip-10%'] && c['random-flip-10%']) {
    out['adversarial-flip-10%'] = drop('adversarial-flip-10%') > drop('random-flip-10%');
  }
  return out;
}

for (const c of cases) {
  log(`${c.name}: poisoning and training the victim`);
  const r = await runExperiment(
    { name: c.name, train, test, attack: c.attack, victim, seed },
    { cleanModel: clean },
  );
  results.cases[c.name] = {
    attack: c.attack,
    poisoned: r.poison.count,
    achievedRate: r.poison.achievedRate,
    accuracy: r.poisoned.accuracy,
    cleanAccuracy: r.clean?.accuracy,
    accuracyDrop: r.accuracyDrop,
    ...(r.poisoned.backdoor
      ? {
          asr: r.poisoned.backdoor.attackSuccessRate,
          robustAccuracy: r.poisoned.backdoor.robustAccuracy,
          attacked: r.poisoned.backdoor.attacked,
        }
      : {}),
    perClassAccuracy: r.poisoned.perClassAccuracy,
    trainSeconds: r.seconds.victimTraining,
  };
  const e = results.cases[c.name];
  log(
    `${c.name}: accuracy ${(e.accuracy * 100).toFixed(2)}% (drop ${(e.accuracyDrop * 100).toFixed(2)} points)` +
      (e.asr !== undefined
        ? `, ASR ${(e.asr * 100).toFixed(2)}%, robust ${(e.robustAccuracy * 100).toFixed(2)}%`
        : '') +
      `, ${e.trainSeconds.toFixed(0)} s`,
  );
  results.checks = checks();
  writeResult(quick ? 'attacks-quick' : 'attacks', results);
}
clean.dispose();
log(`checks: ${JSON.stringify(results.checks)}`);
