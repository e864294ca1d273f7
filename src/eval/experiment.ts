/**
 * The experiment harness: data → attack → train the victim → metrics, as one JSON-serialisable
 * result. The clean model (same architecture, same training seed, clean data) is the baseline
 * for the accuracy drop and the source of the adversarial label flip's probabilities.
 */
import type { PoisonRateDefinition, PoisonResult } from '../attacks/attack.js';
import { type BackdoorOptions, backdoorAttack } from '../attacks/backdoor.js';
import {
  cleanModelProbabilities,
  type LabelFlipOptions,
  labelFlipAttack,
} from '../attacks/label-flip.js';
import { loadTrigger, type Trigger, type TriggerSpec } from '../attacks/triggers.js';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import {
  type BackdoorMetrics,
  type CleanMetrics,
  evaluateBackdoor,
  evaluateClean,
} from './metrics.js';

/** A backdoor attack as data (the trigger as a spec, so it serialises). */
export type BackdoorAttackSpec = { readonly attack: 'backdoor' } & Omit<
  BackdoorOptions,
  'trigger'
> & {
    readonly trigger: TriggerSpec;
  };
/** A label-flip attack as data (the adversarial probabilities come from the clean model). */
export type LabelFlipAttackSpec = { readonly attack: 'label-flip' } & Omit<
  LabelFlipOptions,
  'probabilities'
>;
/** The attack of an experiment; `'none'` trains on clean data (a baseline). */
export type AttackSpec = BackdoorAttackSpec | LabelFlipAttackSpec | { readonly attack: 'none' };

/** How the victim is trained (passed to the trainer with the experiment's seed). */
export interface VictimSpec {
  /** Architecture name (`'logistic' | 'mlp' | 'cnn'`) or a spec object the engine accepts. */
  readonly model: string | { readonly arch: string; readonly [key: string]: unknown };
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
}

/** Progress of one training run as a trainer reports it. */
export interface TrainerProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly batch: number;
  readonly batches: number;
  readonly loss: number;
}

/** A trained model; `dispose` frees engine memory when present. */
export type TrainedModel = Classifier & { dispose?(): void };

/**
 * Trains a fresh model on `ds`; the same seed must give the same model. The default is the
 * engine's `trainClassifier`.
 */
export type Trainer = (
  ds: Dataset,
  options: VictimSpec & { seed: number; onProgress?: (p: TrainerProgress) => void },
) => Promise<TrainedModel>;

/** An experiment: data, attack, victim, seed. */
export interface ExperimentSpec {
  /** A label for reports. */
  readonly name?: string;
  readonly train: Dataset;
  readonly test: Dataset;
  readonly attack: AttackSpec;
  readonly victim: VictimSpec;
  /** Seeds the attack (`fork('attack')`), training (as is) and test-time triggers. */
  readonly seed: number;
}

/** Stages reported through {@link ExperimentOptions.onProgress}. */
export type ExperimentStage = 'train-clean' | 'poison' | 'train-victim' | 'evaluate' | 'done';

/** A progress event of {@link runExperiment}. */
export interface ExperimentProgress {
  readonly stage: ExperimentStage;
  /** Present while a model trains. */
  readonly training?: TrainerProgress;
}

/** Options of {@link runExperiment}. */
export interface ExperimentOptions {
  /** Defaults to the engine's trainer. */
  readonly trainer?: Trainer;
  /**
   * A clean model trained on `spec.train` with the same victim spec and seed (sweeps reuse one);
   * `null` skips the clean baseline (no accuracy drop; adversarial flips then fail).
   */
  readonly cleanModel?: Classifier | null;
  /** A loaded trigger matching the spec's (saves re-reading its PNG). */
  readonly trigger?: Trigger;
  /** Evaluation batch size; default 1024. */
  readonly batchSize?: number;
  readonly onProgress?: (e: ExperimentProgress) => void;
}

/** Metrics of one model. */
export interface ModelMetrics extends Omit<CleanMetrics, 'confusion'> {
  readonly confusion?: number[][];
  /** Backdoor experiments only. */
  readonly backdoor?: BackdoorMetrics;
}

/** The JSON result of {@link runExperiment}. */
export interface ExperimentResult {
  readonly name?: string;
  readonly seed: number;
  readonly attack: AttackSpec;
  readonly victim: VictimSpec;
  readonly trainSize: number;
  readonly testSize: number;
  /** What the attack did (the full attack record, with indices, is not repeated here). */
  readonly poison: {
    readonly count: number;
    readonly poisonedSize: number;
    readonly rateDefinition?: PoisonRateDefinition;
    readonly achievedRate?: number;
  };
  /** The clean model's metrics (ASR here is the trigger's effect without poisoning). */
  readonly clean?: ModelMetrics;
  /** The victim's metrics. */
  readonly poisoned: ModelMetrics;
  /** `clean.accuracy − poisoned.accuracy` (positive = the attack cost accuracy). */
  readonly accuracyDrop?: number;
  /** Seconds spent training the clean model and the victim. */
  readonly seconds: { readonly cleanTraining?: number; readonly victimTraining: number };
}

/** The engine's trainer, loaded on first use (keeps TF.js out of processes that never train). */
export const engineTrainer: Trainer = async (ds, options) => {
  const engine = await import('../engine/index.js');
  const { seed, onProgress, model, ...rest } = options;
  return engine.trainClassifier(ds, {
    ...rest,
    model: model as Parameters<typeof engine.trainClassifier>[1]['model'],
    seed,
    ...(onProgress ? { onProgress } : {}),
  });
};

/** Checks an attack spec's shape before any work (the attacks check the values). */
export function checkAttackSpec(attack: AttackSpec): void {
  if (attack === null || typeof attack !== 'object') {
    throw new AntidoteError('INVALID_ARGUMENT', 'attack must be an object', { field: 'attack' });
  }
  const kind = (attack as { attack: unknown }).attack;
  if (kind !== 'backdoor' && kind !== 'label-flip' && kind !== 'none') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `attack must be backdoor, label-flip or none, got ${String(kind)}`,
      { field: 'attack' },
    );
  }
  if (kind === 'backdoor' && !(attack as BackdoorAttackSpec).trigger) {
    throw new AntidoteError('INVALID_ARGUMENT', 'a backdoor attack needs a trigger', {
      field: 'trigger',
    });
  }
}

function metricsOf(clean: CleanMetrics, backdoor?: BackdoorMetrics): ModelMetrics {
  return { ...clean, ...(backdoor ? { backdoor } : {}) };
}

function shapesMatch(a: Dataset, b: Dataset): boolean {
  return (
    a.shape.length === b.shape.length &&
    a.shape.every((d, i) => i === 0 || d === b.shape[i]) &&
    a.classes.length === b.classes.length
  );
}

/**
 * Poisons `train` as `attack` says, validating every parameter (cheap next to training). The
 * adversarial label flip cannot run without the clean model: it is dry-run on uniform
 * probabilities for validation and `undefined` is returned; `'none'` also returns `undefined`.
 */
export function poisonUpFront(
  train: Dataset,
  attack: AttackSpec,
  trigger: Trigger | undefined,
  rng: Rng,
): PoisonResult | undefined {
  checkAttackSpec(attack);
  if (attack.attack === 'backdoor') {
    const { attack: _a, trigger: spec, ...rest } = attack;
    return backdoorAttack.poison(train, { ...rest, trigger: trigger ?? spec }, rng);
  }
  if (attack.attack === 'label-flip') {
    const { attack: _a, ...rest } = attack;
    if (rest.mode === 'adversarial') {
      const k = train.classes.length;
      const uniform = new Float32Array(train.shape[0]! * k).fill(1 / k);
      labelFlipAttack.poison(train, { ...rest, probabilities: uniform }, rng);
      return undefined;
    }
    return labelFlipAttack.poison(train, rest, rng);
  }
  return undefined;
}

/**
 * Runs one experiment. Validates the attack on the data before training anything, so a bad
 * parameter fails fast. Disposes the models it trained (not a given clean model).
 */
export async function runExperiment(
  spec: ExperimentSpec,
  options: ExperimentOptions = {},
): Promise<ExperimentResult> {
  checkAttackSpec(spec.attack);
  if (!shapesMatch(spec.train, spec.test)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `train [${spec.train.shape.join(', ')}] (${spec.train.classes.length} classes) and test [${spec.test.shape.join(', ')}] (${spec.test.classes.length} classes) do not match`,
    );
  }
  const trainer = options.trainer ?? engineTrainer;
  const report = options.onProgress ?? (() => {});
  const root = new Rng(spec.seed);
  const { attack } = spec;
  const trigger =
    attack.attack === 'backdoor'
      ? (options.trigger ?? (await loadTrigger(attack.trigger)))
      : undefined;
  const attackRng = () => root.fork('attack');
  if (
    attack.attack === 'label-flip' &&
    attack.mode === 'adversarial' &&
    options.cleanModel === null
  ) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'an adversarial label flip needs the clean model (cleanModel must not be null)',
    );
  }
  let result = poisonUpFront(spec.train, attack, trigger, attackRng());

  const owned: TrainedModel[] = [];
  try {
    let clean: Classifier | undefined;
    let cleanSeconds: number | undefined;
    if (options.cleanModel === undefined) {
      report({ stage: 'train-clean' });
      const t0 = performance.now();
      const m = await trainer(spec.train, {
        ...spec.victim,
        seed: spec.seed,
        onProgress: (training) => report({ stage: 'train-clean', training }),
      });
      owned.push(m);
      clean = m;
      cleanSeconds = (performance.now() - t0) / 1000;
    } else if (options.cleanModel !== null) {
      clean = options.cleanModel;
    }

    report({ stage: 'poison' });
    if (attack.attack === 'label-flip' && attack.mode === 'adversarial') {
      const { attack: _a, ...rest } = attack;
      const probabilities = await cleanModelProbabilities(clean!, spec.train, options.batchSize);
      result = labelFlipAttack.poison(spec.train, { ...rest, probabilities }, attackRng());
    }
    const trainSet = result?.dataset ?? spec.train;

    report({ stage: 'train-victim' });
    const t1 = performance.now();
    const victim = await trainer(trainSet, {
      ...spec.victim,
      seed: spec.seed,
      onProgress: (training) => report({ stage: 'train-victim', training }),
    });
    owned.push(victim);
    const victimSeconds = (performance.now() - t1) / 1000;

    report({ stage: 'evaluate' });
    const evalOpts = { batchSize: options.batchSize };
    const targeting = attack.attack === 'backdoor' ? attack : undefined;
    const backdoorOf = async (m: Classifier) =>
      trigger && targeting
        ? evaluateBackdoor(m, spec.test, trigger, targeting, root.fork('eval-trigger'), evalOpts)
        : undefined;
    const poisonedMetrics = metricsOf(
      await evaluateClean(victim, spec.test, evalOpts),
      await backdoorOf(victim),
    );
    const cleanMetrics = clean
      ? metricsOf(await evaluateClean(clean, spec.test, evalOpts), await backdoorOf(clean))
      : undefined;
    report({ stage: 'done' });
    return {
      ...(spec.name !== undefined ? { name: spec.name } : {}),
      seed: spec.seed,
      attack,
      victim: spec.victim,
      trainSize: spec.train.shape[0]!,
      testSize: spec.test.shape[0]!,
      poison: {
        count: result?.record.indices.length ?? 0,
        poisonedSize: trainSet.shape[0]!,
        ...(result?.record.rateDefinition ? { rateDefinition: result.record.rateDefinition } : {}),
        ...(result?.record.achievedRate !== undefined
          ? { achievedRate: result.record.achievedRate }
          : {}),
      },
      ...(cleanMetrics ? { clean: cleanMetrics } : {}),
      poisoned: poisonedMetrics,
      ...(cleanMetrics ? { accuracyDrop: cleanMetrics.accuracy - poisonedMetrics.accuracy } : {}),
      seconds: {
        ...(cleanSeconds !== undefined ? { cleanTraining: cleanSeconds } : {}),
        victimTraining: victimSeconds,
      },
    };
  } finally {
    for (const m of owned) m.dispose?.();
  }
}
