import type { PoisonResult } from '../attacks/attack.js';
import { backdoorAttack } from '../attacks/backdoor.js';
import type { Trigger } from '../attacks/triggers.js';
import type { Dataset } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { stratifiedSplit } from '../data/transform.js';
import {
  applyReport,
  type CleanedDataset,
  type ModelScores,
  scoreModel,
  type TriggeredInputs,
} from '../defenses/mitigation.js';
import { type TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import { type TriggeredTestSet, triggeredTestSet } from '../eval/metrics.js';
import type { Rng } from '../util/rng.js';
import { type AuditProgressCallback, startStage } from './progress.js';

/*
 * The demo's own stages (train, poison, mitigate); the scan, the vulnerability assessment and
 * the report are the audit's.
 */

/** The demo's settings, validated (see `DemoOptions`). */
export interface DemoSettings {
  readonly seed: number;
  readonly rate: number;
  readonly target: number;
  readonly epochs: number;
  readonly trainRecords: number;
  readonly testRecords: number;
}

/** Batch size of every model the demo trains. */
export const DEMO_BATCH_SIZE = 64;

/** Stratified samples of the MNIST training and test sets (stage `load`). */
export async function loadDemoData(
  s: DemoSettings,
  rng: Rng,
  progress: AuditProgressCallback | undefined,
): Promise<{ train: Dataset; test: Dataset }> {
  const p = startStage(progress, 'load', 'load MNIST', 2);
  const full = await loadMnist('train');
  p.tick();
  const testFull = await loadMnist('test');
  p.tick();
  const train =
    s.trainRecords < 60_000
      ? stratifiedSplit(full, s.trainRecords / 60_000, rng.fork('train-sample')).test
      : full;
  const test =
    s.testRecords < 10_000
      ? stratifiedSplit(testFull, s.testRecords / 10_000, rng.fork('test-sample')).test
      : testFull;
  return { train, test };
}

/** Trains the demo's CNN on `ds` (seeded), reporting progress as stage `name`. */
export function trainDemoModel(
  ds: Dataset,
  s: DemoSettings,
  stage: { name: string; label: string; progress: AuditProgressCallback | undefined },
): Promise<TfClassifier> {
  const p = startStage(stage.progress, stage.name, stage.label);
  return trainClassifier(ds, {
    model: 'cnn',
    seed: s.seed,
    epochs: s.epochs,
    batchSize: DEMO_BATCH_SIZE,
    onProgress: p.train,
  });
}

/** The test set with the trigger stamped on every record not of the target class. */
export interface TriggerProbe {
  readonly set: TriggeredTestSet;
  /** The same records as `scoreModel` reads them. */
  readonly inputs: TriggeredInputs;
}

/** Stamps the trigger on the test records not of the target class (all-to-one). */
export function triggerProbe(
  test: Dataset,
  trigger: Trigger,
  s: DemoSettings,
  rng: Rng,
): TriggerProbe {
  const set = triggeredTestSet(
    test,
    trigger,
    { mode: 'all-to-one', target: s.target },
    rng.fork('test-trigger'),
  );
  return {
    set,
    inputs: { x: set.x, n: set.yTrue.length, yTrue: set.yTrue, targets: set.targets },
  };
}

/** The demo's attack: a copy of `train` poisoned with the backdoor (stage `poison`). */
export function poisonStage(
  train: Dataset,
  trigger: Trigger,
  s: DemoSettings,
  rng: Rng,
  progress: AuditProgressCallback | undefined,
): PoisonResult {
  const p = startStage(progress, 'poison', 'poison a copy', 1);
  const poison = backdoorAttack.poison(
    train,
    { trigger, mode: 'all-to-one', target: s.target, rate: s.rate },
    rng.fork('attack'),
  );
  p.tick();
  return poison;
}

/** What the mitigation stage produced. */
export interface Mitigation {
  readonly cleaned: CleanedDataset;
  readonly model: TfClassifier;
  readonly scores: ModelScores;
}

/**
 * The mitigation stage: drops the records the scan flagged from the poisoned copy, retrains from
 * scratch on the rest (stage `retrain`) and scores the new model.
 */
export async function mitigateStage(
  poisoned: Dataset,
  flagged: Uint8Array,
  s: DemoSettings,
  probe: { test: Dataset; inputs: TriggeredInputs },
  progress: AuditProgressCallback | undefined,
): Promise<Mitigation> {
  const cleaned = applyReport(poisoned, { flagged });
  const model = await trainDemoModel(cleaned.dataset, s, {
    name: 'retrain',
    label: 'retrain on cleaned data',
    progress,
  });
  const scores = await scoreModel(model, probe.test, probe.inputs);
  return { cleaned, model, scores };
}
