/**
 * Text and tabular poisoning experiments: data → attack → train the clean model and the victim →
 * clean accuracy, ASR, robust accuracy (../shared/DESIGN.md §3) → optional detectors scored against
 * the attack's ground truth. The detectors are passed in (this module stays independent of
 * `defenses/`), each receiving the victim and its poisoned training set in the victim's feature
 * space, so representation-based detectors (spectral signatures, activation clustering) and
 * text-level ones (keyword discovery) plug in alike.
 */
import type { PoisonResult } from '../attacks/attack.js';
import { type LabelFlipOptions, labelFlipAttack } from '../attacks/label-flip.js';
import { type TabularBackdoorOptions, tabularBackdoorAttack } from '../attacks/tabular-backdoor.js';
import { type TextBackdoorOptions, textBackdoorAttack } from '../attacks/text-backdoor.js';
import type { Dataset } from '../data/dataset.js';
import type { TabularColumn } from '../data/datasets/tabular.js';
import {
  type TabularClassifier,
  type TabularModelOptions,
  trainTabularClassifier,
} from '../engine/tabular.js';
import {
  type TextClassifier,
  type TextModelOptions,
  trainTextClassifier,
} from '../engine/text-models.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { type DetectionEvaluation, evaluateDetection, type ScoredFlags } from './detection.js';
import { evaluateFeatureBackdoor } from './feature-backdoor.js';
import { accuracy } from './metrics.js';

/** The attack of a text or tabular experiment. */
export type FeatureAttackSpec =
  | ({ readonly attack: 'text-backdoor' } & TextBackdoorOptions)
  | ({ readonly attack: 'tabular-backdoor' } & TabularBackdoorOptions)
  | ({ readonly attack: 'label-flip' } & Omit<LabelFlipOptions, 'probabilities'>)
  | { readonly attack: 'none' };

/** A model trained by the experiment, with what detectors need. */
export interface ExperimentModel {
  /** Predicted classes of raw records (texts or raw tabular rows). */
  predictRaw(ds: Dataset): Promise<Int32Array>;
  /** `ds` in the model's feature space (what its `classifier` reads). */
  featurize(ds: Dataset): Dataset;
  readonly text?: TextClassifier;
  readonly tabular?: TabularClassifier;
  dispose(): void;
}

/** A detector run inside an experiment: gets the victim and the poisoned training set. */
export type ExperimentDetector = (
  victim: ExperimentModel,
  poisonedTrain: Dataset,
) => Promise<ScoredFlags & { readonly method?: string }>;

/** A text or tabular experiment. */
export interface FeatureExperimentSpec {
  readonly name?: string;
  /** Raw training records: text datasets, or tabular rows matching `columns`. */
  readonly train: Dataset;
  readonly test: Dataset;
  /** Tabular experiments: the column schema (its presence selects the tabular models). */
  readonly columns?: readonly TabularColumn[];
  readonly attack: FeatureAttackSpec;
  /** Text model options (text experiments). */
  readonly textModel?: Omit<TextModelOptions, 'seed' | 'onProgress'>;
  /** Tabular model options (tabular experiments). */
  readonly tabularModel?: Omit<TabularModelOptions, 'seed' | 'onProgress'>;
  /** Seeds the attack (`fork('attack')`), training (as is) and test-time triggers. */
  readonly seed: number;
  /** Detectors to run on the victim, by name. */
  readonly detectors?: Readonly<Record<string, ExperimentDetector>>;
}

/** Metrics of one model. */
export interface FeatureModelMetrics {
  readonly accuracy: number;
  /** Backdoor attacks: on triggered test records the backdoor targets. */
  readonly attackSuccessRate?: number;
  readonly robustAccuracy?: number;
  /** Label flips: accuracy on test records of the flipped source class. */
  readonly sourceClassAccuracy?: number;
}

/** The JSON result of {@link runFeatureExperiment}. */
export interface FeatureExperimentResult {
  readonly name?: string;
  readonly seed: number;
  readonly attack: FeatureAttackSpec;
  readonly trainSize: number;
  readonly testSize: number;
  readonly poison: { readonly count: number; readonly achievedRate?: number };
  readonly clean: FeatureModelMetrics;
  readonly poisoned: FeatureModelMetrics;
  /** clean.accuracy − poisoned.accuracy. */
  readonly accuracyDrop: number;
  /** Per detector: detection metrics against the ground truth, and extra fields it returned. */
  readonly detection: Readonly<
    Record<
      string,
      { readonly metrics: DetectionEvaluation; readonly seconds: number; readonly extra?: unknown }
    >
  >;
  readonly seconds: { readonly cleanTraining: number; readonly victimTraining: number };
}

/** Everything {@link runFeatureExperiment} produced, for callers that go on (mitigation). */
export interface FeatureExperimentRun {
  readonly result: FeatureExperimentResult;
  readonly poison: PoisonResult | undefined;
  /** Trains a model on any raw training set with the experiment's settings (e.g. after filtering). */
  readonly train: (ds: Dataset) => Promise<ExperimentModel>;
  /** Metrics of any model on the experiment's test set (same triggers as the result). */
  readonly score: (m: ExperimentModel) => Promise<FeatureModelMetrics>;
}

function poisonWith(spec: FeatureExperimentSpec, rng: Rng): PoisonResult | undefined {
  const a = spec.attack;
  switch (a.attack) {
    case 'none':
      return undefined;
    case 'text-backdoor': {
      const { attack: _a, ...o } = a;
      return textBackdoorAttack.poison(spec.train, o, rng);
    }
    case 'tabular-backdoor': {
      const { attack: _a, ...o } = a;
      return tabularBackdoorAttack.poison(spec.train, o, rng);
    }
    case 'label-flip': {
      const { attack: _a, ...o } = a;
      if (o.mode === 'adversarial') {
        throw new AntidoteError('INVALID_ARGUMENT', 'adversarial flips are run by runExperiment');
      }
      return labelFlipAttack.poison(spec.train, o, rng);
    }
    default:
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `attack must be text-backdoor, tabular-backdoor, label-flip or none, got ${String((a as { attack: unknown }).attack)}`,
        { field: 'attack' },
      );
  }
}

/**
 * Runs a text or tabular experiment and keeps the hooks to go on (see
 * {@link FeatureExperimentRun}). The attack is validated before anything trains. The models it
 * trains are disposed before it returns.
 */
export async function runFeatureExperiment(
  spec: FeatureExperimentSpec,
): Promise<FeatureExperimentRun> {
  const isText = !spec.columns;
  if (isText && (!spec.train.text || !spec.test.text)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'a text experiment needs text records (or give columns for tabular data)',
    );
  }
  const root = new Rng(spec.seed);
  const poison = poisonWith(spec, root.fork('attack'));
  const train = async (ds: Dataset): Promise<ExperimentModel> => {
    if (isText) {
      const m = await trainTextClassifier(ds, { ...spec.textModel, seed: spec.seed });
      return {
        text: m,
        predictRaw: (d) => m.predictTexts(d.text!),
        featurize: (d) => m.featurize(d),
        dispose: () => m.dispose(),
      };
    }
    const m = await trainTabularClassifier(
      { dataset: ds, columns: spec.columns! },
      { ...spec.tabularModel, seed: spec.seed },
    );
    return {
      tabular: m,
      predictRaw: (d) => {
        const e = m.encode(d);
        return m.classifier.predict(e.x, e.shape[0]!);
      },
      featurize: (d) => m.encode(d),
      dispose: () => m.dispose(),
    };
  };
  const a = spec.attack;
  const score = async (m: ExperimentModel): Promise<FeatureModelMetrics> => {
    const pred = await m.predictRaw(spec.test);
    const out: { -readonly [K in keyof FeatureModelMetrics]: FeatureModelMetrics[K] } = {
      accuracy: accuracy(pred, spec.test.y),
    };
    const rng = root.fork('eval-trigger');
    if (a.attack === 'text-backdoor' || a.attack === 'tabular-backdoor') {
      const b = await evaluateFeatureBackdoor((d) => m.predictRaw(d), spec.test, a.trigger, a, rng);
      out.attackSuccessRate = b.attackSuccessRate;
      out.robustAccuracy = b.robustAccuracy;
    } else if (a.attack === 'label-flip' && a.source !== undefined) {
      const idx: number[] = [];
      for (let i = 0; i < spec.test.y.length; i++) if (spec.test.y[i] === a.source) idx.push(i);
      out.sourceClassAccuracy = accuracy(
        idx.map((i) => pred[i]!),
        idx.map((i) => spec.test.y[i]!),
      );
    }
    return out;
  };

  const t0 = performance.now();
  const clean = await train(spec.train);
  const cleanSeconds = (performance.now() - t0) / 1000;
  let victim: ExperimentModel | undefined;
  try {
    const cleanMetrics = await score(clean);
    clean.dispose();
    const poisonedTrain = poison?.dataset ?? spec.train;
    const t1 = performance.now();
    victim = await train(poisonedTrain);
    const victimSeconds = (performance.now() - t1) / 1000;
    const poisonedMetrics = await score(victim);
    const detection: Record<
      string,
      { metrics: DetectionEvaluation; seconds: number; extra?: unknown }
    > = {};
    const truth = poison?.poisoned ?? new Uint8Array(poisonedTrain.y.length);
    for (const [name, detect] of Object.entries(spec.detectors ?? {})) {
      const s = performance.now();
      const { scores, flagged, ...extra } = (await detect(victim, poisonedTrain)) as ScoredFlags &
        Record<string, unknown>;
      detection[name] = {
        metrics: evaluateDetection(
          { scores, flagged },
          { poisoned: truth, y: poisonedTrain.y, classes: poisonedTrain.classes },
        ),
        seconds: (performance.now() - s) / 1000,
        ...(Object.keys(extra).length ? { extra } : {}),
      };
    }
    return {
      result: {
        ...(spec.name !== undefined ? { name: spec.name } : {}),
        seed: spec.seed,
        attack: spec.attack,
        trainSize: spec.train.y.length,
        testSize: spec.test.y.length,
        poison: {
          count: poison?.record.indices.length ?? 0,
          ...(poison?.record.achievedRate !== undefined
            ? { achievedRate: poison.record.achievedRate }
            : {}),
        },
        clean: cleanMetrics,
        poisoned: poisonedMetrics,
        accuracyDrop: cleanMetrics.accuracy - poisonedMetrics.accuracy,
        detection,
        seconds: { cleanTraining: cleanSeconds, victimTraining: victimSeconds },
      },
      poison,
      train,
      score,
    };
  } finally {
    clean.dispose();
    victim?.dispose();
  }
}
