import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import { type DataDomain, dataDomain, type LoadedDataset } from '../data/load.js';
import {
  type DifferentiableImageModel,
  derivedMeta,
  type LoadModelOptions,
  loadModel,
  requireDifferentiable,
} from '../engine/model.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import {
  adaptiveBlendAttack,
  adaptiveBlendTestTrigger,
  checkAdaptiveBlendOptions,
} from './adaptive-blend.js';
import {
  ADAPTIVE_PATCH_DEFAULTS,
  adaptivePatchAttack,
  adaptivePatchTestTrigger,
  adaptivePatchTriggers,
  checkAdaptivePatchOptions,
  checkPatchLayout,
} from './adaptive-patch.js';
import {
  type AttackRecord,
  checkRate,
  POISON_RATE_DEFINITIONS,
  type PoisonRateDefinition,
  type PoisonResult,
  resolveClass,
} from './attack.js';
import { backdoorAttack } from './backdoor.js';
import {
  BACKDOOR_MODES,
  BACKDOOR_VARIANTS,
  type BackdoorMode,
  type BackdoorTargeting,
  type BackdoorVariant,
} from './backdoor-plan.js';
import { cleanLabelBackdoor } from './clean-label-backdoor.js';
import { type CornerSet, checkCornerTrigger } from './corner-trigger.js';
import { type FeatureModel, featureCollisionAttack } from './feature-collision.js';
import {
  type AdversarialFlipRule,
  LABEL_FLIP_MODES,
  type LabelFlipMode,
  type LabelFlipOptions,
  labelFlipAttack,
} from './label-flip.js';
import {
  checkSigOptions,
  SIG_DEFAULT_FREQUENCY,
  SIG_SIGNALS,
  type SigSignal,
  sigAttack,
  sigTestTrigger,
} from './sig.js';
import { tabularBackdoorAttack } from './tabular-backdoor.js';
import { checkTargetRate, type ImageTransform } from './target-class.js';
import { textBackdoorAttack } from './text-backdoor.js';
import {
  featureTriggerFromString,
  requiredTriggerOptionsSchema,
  textTriggerFromOptions,
  textTriggerOptionsSchema,
  triggerSpecFromOptions,
} from './trigger-options.js';
import {
  checkSpec,
  loadTrigger,
  TRIGGER_KINDS,
  type Trigger,
  type TriggerFn,
  type TriggerKind,
} from './triggers.js';
import { checkWanetOptions, WANET_DEFAULTS, wanetAttack, wanetTrigger } from './wanet.js';

/** What an attack of the registry is given besides its options. */
export interface AttackInput {
  /** The dataset to poison, as loaded. */
  readonly loaded: LoadedDataset;
  /** The dataset argument it was loaded from (for messages). */
  readonly data: string;
  /** The seeded stream of every random choice. */
  readonly rng: Rng;
  /** Loads another dataset argument (e.g. feature collision's target set). */
  readonly loadData: (spec: string) => Promise<LoadedDataset>;
  /** How to load the attack's `--model` (an ONNX model's layout and normalisation flags). */
  readonly modelOptions?: LoadModelOptions;
}

/** What an attack of the registry returns: the poisoned dataset, its record, what to say. */
export interface AttackOutcome {
  readonly dataset: Dataset;
  /** The ground truth, written as the output's `attack` record. */
  readonly record: AttackRecord;
  /** Extra fields of the output's `meta` (e.g. the data type of text and tabular data). */
  readonly meta?: Readonly<Record<string, unknown>>;
  /** What was done, one or more lines (the caller adds where it wrote). */
  readonly summary: string;
  /** The image trigger stamped, when there is one (e.g. for a preview grid). */
  readonly trigger?: Trigger;
  /**
   * The trigger an attacker applies at test time and whom it sends where, when the attack is a
   * backdoor on images (for `antidote attack ... --export-triggered-test`).
   */
  readonly testTrigger?: TestTimeTrigger;
}

/** A backdoor's test-time trigger (e.g. SIG's Δ_test, the full-amplitude corner trigger). */
export interface TestTimeTrigger extends ImageTransform {
  readonly targeting: BackdoorTargeting;
}

/**
 * One entry of the attack registry: what the attack is, where it applies, its options (a zod
 * object; described fields become `antidote attack <name>` flags, see `cli/schema-flags.ts`) and
 * how to run it. Adding an attack is one file plus one line in {@link ATTACKS}.
 */
export interface AttackEntry<S extends z.ZodObject = z.ZodObject> {
  /** Sub-command name (`antidote attack <name>`) and `createdBy` of the output. */
  readonly name: string;
  /** One line: what it does (the command's description). */
  readonly title: string;
  /** The paper it implements. */
  readonly paper: string;
  /** Data domains it applies to (`features` = images and plain feature arrays). */
  readonly domains: readonly DataDomain[];
  /** Help of the `--data` flag (which datasets fit). */
  readonly dataHelp: string;
  readonly options: S;
  /** Whether `--preview <png>` (a grid of clean vs triggered examples) is offered. */
  readonly preview?: boolean;
  /**
   * Whether `--export-triggered-test <dir> --test-data <data>` is offered (the attack returns a
   * {@link AttackOutcome.testTrigger}).
   */
  readonly triggeredTest?: boolean;
  /** Checks the options before any data is loaded (`INVALID_ARGUMENT`). */
  check?(options: z.output<S>): void;
  /** The error for data of a domain it does not apply to. */
  domainError?(data: string, domain: DataDomain): AntidoteError;
  run(input: AttackInput, options: z.output<S>): Promise<AttackOutcome>;
}

/** Types a registry entry (keeps the options type of `run` tied to its schema). */
export function defineAttack<S extends z.ZodObject>(entry: AttackEntry<S>): AttackEntry<S> {
  return Object.freeze(entry);
}

/** `--mark-source`: sets the poisoned records' source (a real attacker would not). */
function markSourceField(name: string) {
  return z
    .boolean()
    .optional()
    .meta({
      description: `set poisoned records' source to attack:${name} (a real attacker would not)`,
    });
}

/** `<name>: poisoned N of M records (p%)<extra>`. */
function poisonedLine(name: string, ds: Dataset, count: number, extra: string): string {
  const n = ds.shape[0] ?? 0;
  return `${name}: poisoned ${count} of ${n} records (${((n ? count / n : 0) * 100).toFixed(2)}%)${extra}`;
}

/** `; rate p% <definition>` for the backdoors. */
function rateLine(r: AttackRecord): string {
  return `; rate ${((r.achievedRate ?? 0) * 100).toFixed(2)}% ${r.rateDefinition}`;
}

/** `--variant` of the text and tabular backdoors. */
const variantField = z
  .enum(BACKDOOR_VARIANTS as unknown as [BackdoorVariant, ...BackdoorVariant[]])
  .default('dirty-label')
  .meta({
    placeholder: '<variant>',
    description:
      'dirty-label relabels the poisoned records; clean-label poisons target-class records only',
  });

/** The options every backdoor takes: targeting, rate and `--mark-source` (`--variant` apart). */
function backdoorFields(name: string, withVariant = false) {
  return {
    mode: z
      .enum(BACKDOOR_MODES as unknown as [BackdoorMode, ...BackdoorMode[]])
      .default('all-to-one')
      .meta({ placeholder: '<mode>', description: 'which classes go where' }),
    target: z.string().optional().meta({
      placeholder: '<class>',
      description: 'target class, by name or index (all-to-one, source-to-target)',
    }),
    source: z.string().optional().meta({
      placeholder: '<class>',
      description: 'source class, by name or index (source-to-target)',
    }),
    ...(withVariant ? { variant: variantField } : {}),
    rate: z.number().meta({ placeholder: '<share>', description: 'poison rate in [0, 1)' }),
    rateOf: z
      .enum(POISON_RATE_DEFINITIONS as unknown as [PoisonRateDefinition, ...PoisonRateDefinition[]])
      .default('of-training-set')
      .meta({ placeholder: '<definition>', description: 'what the rate is a share of' }),
    addCopies: z
      .boolean()
      .optional()
      .meta({ description: 'append poisoned copies instead of replacing the originals' }),
    markSource: markSourceField(name),
  };
}

type BackdoorFields = {
  mode: BackdoorMode;
  target?: string | undefined;
  source?: string | undefined;
  rate: number;
  rateOf: PoisonRateDefinition;
  addCopies?: boolean | undefined;
  markSource?: boolean | undefined;
};

/** The library options of a backdoor from its flat options. */
function backdoorOptions(o: BackdoorFields, classes: readonly string[]) {
  return {
    mode: o.mode,
    ...(o.target !== undefined ? { target: resolveClass(o.target, classes, 'target') } : {}),
    ...(o.source !== undefined ? { source: resolveClass(o.source, classes, 'source') } : {}),
    rate: o.rate,
    rateDefinition: o.rateOf,
    injection: o.addCopies ? ('add' as const) : ('replace' as const),
    ...(o.markSource ? { markSource: true } : {}),
  };
}

/** The label-flip attack's options (`antidote attack label-flip`). */
const labelFlipSchema = z.object({
  mode: z
    .enum(LABEL_FLIP_MODES as unknown as [LabelFlipMode, ...LabelFlipMode[]])
    .default('random')
    .meta({ placeholder: '<mode>', description: 'flip strategy' }),
  rate: z.number().optional().meta({
    placeholder: '<share>',
    description: 'budget as a share of the training set, in [0, 1)',
  }),
  count: z
    .int()
    .optional()
    .meta({ placeholder: '<n>', description: 'budget as a number of records' }),
  source: z
    .string()
    .optional()
    .meta({ placeholder: '<class>', description: 'targeted: class to relabel; swap: first class' }),
  target: z
    .string()
    .optional()
    .meta({ placeholder: '<class>', description: 'targeted: new label; swap: second class' }),
  model: z.string().optional().meta({
    placeholder: '<model>',
    description:
      'adversarial: the clean model whose confidence ranks the records (a model directory or a .onnx file)',
  }),
  rule: z
    .enum(['farthest-first', 'nearest-first'] as [AdversarialFlipRule, AdversarialFlipRule])
    .default('farthest-first')
    .meta({ placeholder: '<rule>', description: 'adversarial ranking (Xiao et al. 2015)' }),
  markSource: markSourceField('label-flip'),
});

/** Label flipping, random to adversarial. */
export const labelFlipEntry = defineAttack({
  name: 'label-flip',
  title:
    'flip labels: random, targeted (source → target), swap, or adversarial (needs a clean model)',
  paper:
    'Biggio, Nelson & Laskov 2012, "Poisoning Attacks against Support Vector Machines", ICML; Xiao et al. 2015, "Support vector machines under adversarial label contamination", Neurocomputing',
  domains: ['features', 'text', 'tabular'],
  dataHelp:
    'dataset directory, file, built-in or named dataset (mnist:train, sentiment:train, german-credit, ...)',
  options: labelFlipSchema,
  check(o) {
    if (o.rate === undefined && o.count === undefined) {
      throw new AntidoteError('INVALID_ARGUMENT', 'give --rate or --count', { field: 'rate' });
    }
    if (o.mode === 'adversarial' && !o.model) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        'adversarial label flip needs --model (a clean model: a model directory or a .onnx file)',
        { field: 'model' },
      );
    }
  },
  async run({ loaded, rng, modelOptions }, o) {
    const { dataset } = loaded;
    const options: LabelFlipOptions = {
      mode: o.mode,
      ...(o.rate !== undefined ? { rate: o.rate } : {}),
      ...(o.count !== undefined ? { count: o.count } : {}),
      ...(o.source !== undefined
        ? { source: resolveClass(o.source, dataset.classes, 'source') }
        : {}),
      ...(o.target !== undefined
        ? { target: resolveClass(o.target, dataset.classes, 'target') }
        : {}),
      ...(o.mode === 'adversarial' ? { rule: o.rule } : {}),
      ...(o.markSource ? { markSource: true } : {}),
    };
    const result =
      o.mode === 'adversarial' && o.model
        ? await adversarialFlip(loaded, o.model, options, rng, modelOptions)
        : labelFlipAttack.poison(dataset, options, rng);
    return {
      dataset: result.dataset,
      record: result.record,
      meta: derivedMeta(loaded),
      summary: poisonedLine(
        `label-flip (${o.mode})`,
        result.dataset,
        result.record.indices.length,
        '',
      ),
    };
  },
});

/**
 * The image model at `path` as feature collision needs it (its layers' activations as
 * differentiable functions of the pixels): a zoo model's `TfClassifier`, or an ONNX model's
 * imported graph. `INVALID_ARGUMENT` naming `attack` for a text or tabular model and for an ONNX
 * model with an op Antidote cannot import.
 */
async function loadFeatureModel(
  path: string,
  attack: string,
  load?: LoadModelOptions,
): Promise<{ model: FeatureModel; dispose(): void }> {
  // Both kinds requireDifferentiable gives (TfClassifier, LayeredModel) name their layers.
  const { surrogate, dispose } = await loadSurrogate(path, attack, load);
  if ('layerNames' in surrogate) return { model: surrogate as FeatureModel, dispose };
  dispose();
  throw new AntidoteError('INVALID_ARGUMENT', `${attack} needs a model whose layers it reads`, {
    path,
  });
}

/**
 * A differentiable image model at `path` (a zoo model, or an ONNX model whose ops import) as a
 * PGD surrogate, with what frees it: `INVALID_ARGUMENT` naming `attack` for a text or tabular
 * model and an image model without input gradients.
 */
async function loadSurrogate(
  path: string,
  attack: string,
  load?: LoadModelOptions,
): Promise<{ surrogate: DifferentiableImageModel; dispose(): void }> {
  const model = await loadModel(path, load);
  try {
    return {
      surrogate: await requireDifferentiable(model, attack),
      dispose: () => model.dispose(),
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** Adversarial label flipping: ranks records by the clean model at `modelDir`. */
async function adversarialFlip(
  loaded: LoadedDataset,
  modelDir: string,
  options: LabelFlipOptions,
  rng: Rng,
  load?: LoadModelOptions,
): Promise<PoisonResult> {
  const { dataset } = loaded;
  // Validate the budget before loading the model.
  const k = dataset.classes.length;
  labelFlipAttack.poison(
    dataset,
    { ...options, probabilities: new Float32Array(dataset.shape[0]! * k).fill(1 / k) },
    rng,
  );
  const model = await loadModel(modelDir, load);
  try {
    model.checkReads(loaded);
    const probabilities = await model.predictProba(dataset);
    return labelFlipAttack.poison(dataset, { ...options, probabilities }, rng);
  } finally {
    model.dispose();
  }
}

/** BadNets-style image backdoor. */
export const backdoorEntry = defineAttack({
  name: 'backdoor',
  triggeredTest: true,
  title: 'stamp a trigger on some images and relabel them (BadNets-style backdoor)',
  paper:
    'Gu, Dolan-Gavitt & Garg 2017, "BadNets: Identifying Vulnerabilities in the Machine Learning Model Supply Chain", arXiv:1708.06733',
  domains: ['features', 'tabular'],
  dataHelp: 'dataset directory or built-in name (mnist, mnist:train, ...)',
  options: requiredTriggerOptionsSchema.extend(backdoorFields('backdoor')),
  preview: true,
  domainError: (data) =>
    new AntidoteError(
      'INVALID_ARGUMENT',
      `attack backdoor stamps image triggers but ${data} holds text records: use attack text-backdoor`,
      { field: 'data' },
    ),
  async run({ loaded, rng }, o) {
    const { dataset } = loaded;
    const shape = dataset.shape.slice(1);
    const spec = triggerSpecFromOptions(o, shape);
    if (shape.length === 2 || shape.length === 3) checkSpec(spec, shape);
    const trigger = await loadTrigger(spec); // an unreadable PNG fails here, before any write
    const result = backdoorAttack.poison(
      dataset,
      { trigger, ...backdoorOptions(o, dataset.classes) },
      rng,
    );
    const r = result.record;
    const { mode, target, source } = backdoorOptions(o, dataset.classes);
    return {
      dataset: result.dataset,
      record: r,
      trigger,
      testTrigger: {
        apply: trigger.apply,
        targeting: {
          mode,
          ...(target !== undefined ? { target } : {}),
          ...(source !== undefined ? { source } : {}),
        },
      },
      summary: poisonedLine(
        `backdoor (${o.mode}, ${o.trigger})`,
        result.dataset,
        r.indices.length,
        rateLine(r),
      ),
    };
  },
});

/** Rare-word or sentence backdoor in text records. */
export const textBackdoorEntry = defineAttack({
  name: 'text-backdoor',
  title:
    'insert a rare-word or sentence trigger into some texts (BadNets-style / AddSent backdoor)',
  paper:
    'Kurita, Michel & Neubig 2020, "Weight Poisoning Attacks on Pre-trained Models", ACL; Dai, Chen & Li 2019, "A Backdoor Attack Against LSTM-Based Text Classification Systems", IEEE Access',
  domains: ['text'],
  dataHelp:
    'text dataset: named (sentiment, sentiment:train, imdb, spam-assassin), JSON(L) file or dataset directory',
  options: textTriggerOptionsSchema.extend({
    ...backdoorFields('text-backdoor', true),
    variant: variantField,
  }),
  check(o) {
    if (!textTriggerFromOptions(o)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        'give a trigger: --trigger-words (e.g. cf,mn) or --sentence',
        { field: 'trigger' },
      );
    }
  },
  domainError: (data) =>
    new AntidoteError(
      'INVALID_ARGUMENT',
      `text-backdoor needs text records; ${data} has none (tabular data: attack tabular-backdoor; images: attack backdoor)`,
      { field: 'data' },
    ),
  async run({ loaded, rng }, o) {
    const trigger = textTriggerFromOptions(o)!;
    const result = textBackdoorAttack.poison(
      loaded.dataset,
      { ...backdoorOptions(o, loaded.dataset.classes), variant: o.variant, trigger },
      rng,
    );
    const describe =
      trigger.kind === 'words'
        ? `words ${trigger.words.join(',')}`
        : `sentence "${trigger.sentence}"`;
    return featureOutcome('text-backdoor', loaded, result, o, describe);
  },
});

/** What the text and tabular backdoors return. */
function featureOutcome(
  name: string,
  loaded: LoadedDataset,
  result: PoisonResult,
  o: { mode: BackdoorMode; variant: BackdoorVariant },
  describe: string,
): AttackOutcome {
  const r = result.record;
  return {
    dataset: result.dataset,
    record: r,
    meta: derivedMeta(loaded),
    summary: poisonedLine(
      `${name} (${o.mode}, ${o.variant}, ${describe})`,
      result.dataset,
      r.indices.length,
      rateLine(r),
    ),
  };
}

/** Feature-value backdoor in tabular records. */
export const tabularBackdoorEntry = defineAttack({
  name: 'tabular-backdoor',
  title:
    'set chosen columns to chosen values on some records and relabel them (feature-value backdoor)',
  paper:
    'Gu, Dolan-Gavitt & Garg 2017 (BadNets) on tabular features, as in Joe et al. 2021, "Exploiting Missing Value Patterns for a Backdoor Attack on Machine Learning Models of Electronic Health Records"',
  domains: ['tabular'],
  dataHelp:
    'tabular dataset: named (german-credit, spambase, spambase:train), CSV file or dataset directory',
  options: z.object({
    trigger: z.string().meta({
      placeholder: '<column=value,...>',
      description:
        'the trigger: columns and the values they are set to (numbers, or level names of categorical columns), e.g. num415=5,table=5',
    }),
    ...backdoorFields('tabular-backdoor', true),
    variant: variantField,
  }),
  domainError: (data) =>
    new AntidoteError(
      'INVALID_ARGUMENT',
      `tabular-backdoor needs tabular records with a column schema (a named tabular dataset, a CSV file, or a dataset directory made from one); ${data} has none`,
      { field: 'data' },
    ),
  async run({ loaded, rng }, o) {
    const trigger = featureTriggerFromString(o.trigger, loaded.columns!);
    const result = tabularBackdoorAttack.poison(
      loaded.dataset,
      { ...backdoorOptions(o, loaded.dataset.classes), variant: o.variant, trigger },
      rng,
    );
    return featureOutcome('tabular-backdoor', loaded, result, o, `trigger ${o.trigger}`);
  },
});

/** Clean-label feature collision (Poison Frogs). */
export const featureCollisionEntry = defineAttack({
  name: 'feature-collision',
  title: 'craft clean-label poisons whose features collide with one target image (Poison Frogs)',
  paper:
    'Shafahi et al. 2018, "Poison Frogs! Targeted Clean-Label Poisoning Attacks on Neural Networks", NeurIPS',
  domains: ['features'],
  dataHelp: 'training set to poison (directory or built-in name)',
  options: z.object({
    model: z.string().meta({
      placeholder: '<dir>',
      description: 'the feature extractor (victim or a copy of it)',
    }),
    targetData: z.string().meta({
      placeholder: '<data>',
      description: 'dataset holding the target image (e.g. mnist:test)',
    }),
    targetIndex: z
      .int()
      .meta({ placeholder: '<i>', description: 'index of the target image in --target-data' }),
    baseClass: z
      .string()
      .meta({ placeholder: '<class>', description: 'class the target should be mistaken for' }),
    poisons: z
      .int()
      .default(5)
      .meta({ placeholder: '<n>', description: 'poisons to craft (one per base image)' }),
    iterations: z
      .int()
      .default(300)
      .meta({ placeholder: '<n>', description: 'forward-backward iterations' }),
    beta: z.number().optional().meta({
      placeholder: '<b>',
      description: 'weight of ‖x − b‖² (default: the paper scaling)',
    }),
    opacity: z
      .number()
      .default(0)
      .meta({ placeholder: '<γ>', description: 'watermark opacity of the target in the bases' }),
    learningRate: z
      .number()
      .default(0.01)
      .meta({ placeholder: '<λ>', description: 'initial step size' }),
    layer: z
      .string()
      .optional()
      .meta({ placeholder: '<name>', description: 'feature layer (default: penultimate)' }),
  }),
  async run({ loaded, rng, loadData, modelOptions }, o) {
    const { dataset } = loaded;
    const { dataset: targets } = await loadData(o.targetData);
    const n = targets.shape[0]!;
    if (!Number.isInteger(o.targetIndex) || o.targetIndex < 0 || o.targetIndex >= n) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `--target-index must be in [0, ${n}) for ${o.targetData}, got ${o.targetIndex}`,
        { field: 'target-index' },
      );
    }
    const size = targets.x.length / n;
    const model = await loadFeatureModel(o.model, 'feature collision', modelOptions);
    try {
      const result = await featureCollisionAttack(
        dataset,
        model.model,
        {
          target: targets.x.slice(o.targetIndex * size, (o.targetIndex + 1) * size),
          targetClass: targets.y[o.targetIndex]!,
          baseClass: resolveClass(o.baseClass, dataset.classes, 'base-class'),
          poisons: o.poisons,
          iterations: o.iterations,
          opacity: o.opacity,
          learningRate: o.learningRate,
          ...(o.beta !== undefined ? { beta: o.beta } : {}),
          ...(o.layer ? { layer: o.layer } : {}),
        },
        rng,
      );
      const params: Record<string, unknown> = {
        ...result.record.params,
        targetData: o.targetData,
        targetIndex: o.targetIndex,
      };
      const c = result.craft;
      return {
        dataset: result.dataset,
        record: { ...result.record, params },
        summary: [
          `feature collision: ${o.poisons} poisons of class ${dataset.classes[params.baseClass as number]} for target #${o.targetIndex} (class ${dataset.classes[targets.y[o.targetIndex]!]})`,
          `  feature distance to the target ${fmtList(c.baseFeatureDistance)} → ${fmtList(c.featureDistance)}`,
          `  perturbation L∞ max ${c.perturbation.maxLinf.toFixed(3)}, mean L2 ${c.perturbation.meanL2.toFixed(3)}; labels unchanged`,
        ].join('\n'),
      };
    } finally {
      model.dispose();
    }
  },
});

function fmtList(v: readonly number[]): string {
  return `[${v.map((x) => x.toFixed(2)).join(', ')}]`;
}

/** The trigger kinds of the clean-label backdoor: the paper's corner checkerboard, or any other. */
const CLEAN_LABEL_TRIGGERS = ['corner', ...TRIGGER_KINDS] as const;

/** `--target` and `--rate` of the attacks that poison a share of the target class. */
function targetClassFields(what: string) {
  return {
    target: z.string().meta({
      placeholder: '<class>',
      description: `target class (${what})`,
    }),
    rate: z.number().meta({
      placeholder: '<share>',
      description: 'share of the target class poisoned, in (0, 1)',
    }),
  };
}

/** `--target` and `--rate` of the all-to-one backdoors poisoning a share of the training set. */
function allToOneFields() {
  return {
    target: z.string().meta({ placeholder: '<class>', description: 'target class (all-to-one)' }),
    rate: z.number().meta({
      placeholder: '<share>',
      description: 'share of the training set poisoned (relabelled to the target), in (0, 1)',
    }),
  };
}

/** All-to-one targeting of `target`. */
function allToOne(target: number): BackdoorTargeting {
  return { mode: 'all-to-one', target };
}

/** `<name>: N records (p% of the class) of class X; labels unchanged`. */
function cleanLabelLine(name: string, r: AttackRecord, target: string): string {
  return `${name}: poisoned ${r.indices.length} records of class ${target} (${(100 * (r.achievedRate ?? 0)).toFixed(1)}% of the class); labels unchanged`;
}

/** `<name>: N poisons (p%) relabelled to X, M regularization records with their labels`. */
function regularizedLine(name: string, r: AttackRecord, target: string, what: string): string {
  const p = r.params as { poisons: number; regularization: number };
  return `${name}: ${p.poisons} poisons (${(100 * (r.achievedRate ?? 0)).toFixed(2)}% of the training set) relabelled to ${target}, ${p.regularization} ${what} records keeping their labels`;
}

/** Label-consistent (clean-label) backdoor: PGD on target-class images, then the trigger. */
export const cleanLabelBackdoorEntry = defineAttack({
  name: 'clean-label-backdoor',
  triggeredTest: true,
  title:
    'perturb a share of the target class with PGD, then stamp the trigger; labels unchanged (Turner et al.)',
  paper: 'Turner, Tsipras & Madry 2019, "Label-Consistent Backdoor Attacks", arXiv:1912.02771',
  domains: ['features'],
  dataHelp: 'training set to poison (directory or built-in name)',
  options: z.object({
    model: z.string().meta({
      placeholder: '<dir>',
      description: 'surrogate model providing the PGD gradients (adversarially trained: the paper)',
    }),
    ...requiredTriggerOptionsSchema.shape,
    trigger: z.enum(CLEAN_LABEL_TRIGGERS as unknown as ['corner', ...TriggerKind[]]).meta({
      placeholder: '<kind>',
      description: "trigger kind (corner: the paper's checkerboard, --size default 3)",
    }),
    corners: z
      .enum(['one', 'four'] as [CornerSet, CornerSet])
      .default('four')
      .meta({ placeholder: '<n>', description: 'corner trigger: bottom-right only, or all four' }),
    amplitude: z.number().default(1).meta({
      placeholder: '<a>',
      description: 'corner trigger: amplitude on the poisons in (0, 1] (test time: 1)',
    }),
    ...targetClassFields('its own images are poisoned'),
    epsilon: z.number().meta({ placeholder: '<ε>', description: 'L∞ budget of the perturbation' }),
    pgdSteps: z.int().default(20).meta({ placeholder: '<n>', description: 'PGD steps' }),
    stepSize: z
      .number()
      .optional()
      .meta({ placeholder: '<α>', description: 'PGD step size (default 2.5·ε / steps)' }),
  }),
  check(o) {
    checkTargetRate(o.rate);
    if (o.trigger === 'corner') {
      checkCornerTrigger({
        kind: 'corner',
        corners: o.corners,
        amplitude: o.amplitude,
        size: o.size ?? 3,
      });
    }
  },
  async run({ loaded, rng, modelOptions }, o) {
    const { dataset } = loaded;
    const shape = dataset.shape.slice(1);
    const trigger =
      o.trigger === 'corner'
        ? { kind: 'corner' as const, size: o.size ?? 3, corners: o.corners, amplitude: o.amplitude }
        : await loadClassicTrigger({ ...o, trigger: o.trigger }, shape);
    const model = await loadSurrogate(o.model, 'the clean-label backdoor', modelOptions);
    try {
      const target = resolveClass(o.target, dataset.classes, 'target');
      const result = await cleanLabelBackdoor(
        dataset,
        model.surrogate,
        {
          target,
          rate: o.rate,
          epsilon: o.epsilon,
          trigger,
          pgd: { steps: o.pgdSteps, ...(o.stepSize !== undefined ? { stepSize: o.stepSize } : {}) },
        },
        rng,
      );
      const p = result.perturbation;
      return {
        dataset: result.dataset,
        record: result.record,
        testTrigger: { apply: result.testTrigger.apply, targeting: allToOne(target) },
        summary: [
          cleanLabelLine('clean-label backdoor', result.record, o.target),
          `  perturbation L∞ max ${p.maxLinf.toFixed(3)}, mean L2 ${p.meanL2.toFixed(3)}; surrogate misclassifies ${(100 * result.surrogateMisclassified).toFixed(1)}% of them`,
        ].join('\n'),
      };
    } finally {
      model.dispose();
    }
  },
});

/** A trigger of `triggers.ts` from the flags, checked and loaded (its PNG read). */
async function loadClassicTrigger(
  o: Parameters<typeof triggerSpecFromOptions>[0],
  shape: readonly number[],
): Promise<Trigger> {
  const spec = triggerSpecFromOptions(o, shape);
  if (shape.length === 2 || shape.length === 3) checkSpec(spec, shape);
  return loadTrigger(spec);
}

/** SIG: a sinusoidal or ramp signal on a share of the target class, labels untouched. */
export const sigEntry = defineAttack({
  name: 'sig',
  triggeredTest: true,
  title:
    'superimpose a faint sinusoid (or ramp) on a share of the target class; labels unchanged (SIG)',
  paper:
    'Barni, Kallas & Tondi 2019, "A New Backdoor Attack in CNNs by Training Set Corruption Without Label Poisoning", ICIP',
  domains: ['features'],
  dataHelp: 'image training set to poison (directory or built-in name)',
  options: z.object({
    ...targetClassFields('only its images get the signal'),
    signal: z
      .enum(SIG_SIGNALS as unknown as [SigSignal, SigSignal])
      .default('sin')
      .meta({ placeholder: '<kind>', description: 'sin: Δ·sin(2π·j·f/m); ramp: j·Δ/m' }),
    delta: z
      .number()
      .default(20 / 255)
      .meta({
        placeholder: '<Δ>',
        description: "amplitude on the [0, 1] scale (default: the paper's 20 of 255)",
      }),
    frequency: z.number().default(SIG_DEFAULT_FREQUENCY).meta({
      placeholder: '<f>',
      description: 'sinusoid periods across the width',
    }),
    testDelta: z.number().optional().meta({
      placeholder: '<Δ>',
      description: 'amplitude of the test-time signal (default Δ)',
    }),
  }),
  check(o) {
    checkTargetRate(o.rate);
    checkSigOptions({ ...o, target: 0, testDelta: o.testDelta });
  },
  async run({ loaded, rng }, o) {
    const { dataset } = loaded;
    const target = resolveClass(o.target, dataset.classes, 'target');
    const options = {
      ...o,
      target,
      ...(o.testDelta !== undefined ? { testDelta: o.testDelta } : {}),
    };
    const result = sigAttack.poison(dataset, options, rng);
    return {
      dataset: result.dataset,
      record: result.record,
      testTrigger: { apply: sigTestTrigger(options).apply, targeting: allToOne(target) },
      summary: cleanLabelLine(
        `SIG (${o.signal}, Δ ${o.delta.toFixed(3)})`,
        result.record,
        o.target,
      ),
    };
  },
});

/** WaNet: a smooth warp as the trigger, with noise-mode regularization. */
export const wanetEntry = defineAttack({
  name: 'wanet',
  triggeredTest: true,
  title: 'warp some images with a fixed smooth field and relabel them, noise mode on (WaNet)',
  paper: 'Nguyen & Tran 2021, "WaNet – Imperceptible Warping-based Backdoor Attack", ICLR',
  domains: ['features'],
  dataHelp: 'image training set to poison (directory or built-in name)',
  options: z.object({
    ...allToOneFields(),
    gridSize: z.int().default(WANET_DEFAULTS.gridSize).meta({
      placeholder: '<k>',
      description: 'side of the control grid',
    }),
    strength: z
      .number()
      .default(WANET_DEFAULTS.strength)
      .meta({ placeholder: '<s>', description: 'warping strength' }),
    gridRescale: z
      .number()
      .default(WANET_DEFAULTS.gridRescale)
      .meta({ placeholder: '<r>', description: 'scale of the warped grid before clamping' }),
    crossRatio: z.number().default(WANET_DEFAULTS.crossRatio).meta({
      placeholder: '<n>',
      description: 'noise-mode records (random extra warp, true label) per poison; 0: none',
    }),
  }),
  check(o) {
    checkRate(o.rate);
    checkWanetOptions(o);
  },
  async run({ loaded, rng }, o) {
    const { dataset } = loaded;
    const target = resolveClass(o.target, dataset.classes, 'target');
    const result = wanetAttack.poison(dataset, { ...o, target }, rng);
    const grid = Float32Array.from((result.record.params as { controlGrid: number[] }).controlGrid);
    return {
      dataset: result.dataset,
      record: result.record,
      testTrigger: { apply: wanetTrigger(grid, o).apply, targeting: allToOne(target) },
      summary: regularizedLine(
        `WaNet (k ${o.gridSize}, s ${o.strength})`,
        result.record,
        o.target,
        'noise-mode',
      ),
    };
  },
});

/** What Adaptive-Blend and Adaptive-Patch return: all-to-one `target`, poisons and covers. */
function coverOutcome(
  name: string,
  result: PoisonResult,
  apply: TriggerFn,
  target: number,
  targetName: string,
): AttackOutcome {
  return {
    dataset: result.dataset,
    record: result.record,
    testTrigger: { apply, targeting: allToOne(target) },
    summary: regularizedLine(name, result.record, targetName, 'cover'),
  };
}

/** The paper of Adaptive-Blend and Adaptive-Patch. */
const QI_2023 =
  'Qi, Xie, Li, Wang & Mittal 2023, "Revisiting the Assumption of Latent Separability for Backdoor Defenses", ICLR';

/** `--cover-rate` of Adaptive-Blend and Adaptive-Patch (conservatism). */
function coverRateField(what: string, fallback: string) {
  return z
    .number()
    .optional()
    .meta({
      placeholder: '<share>',
      description: `share of the training set used as covers (${what}); default ${fallback}`,
    });
}

/** Adaptive-Blend: a tiled, partial blend with conservatism covers. */
export const adaptiveBlendEntry = defineAttack({
  name: 'adaptive-blend',
  triggeredTest: true,
  title:
    'blend part of a trigger picture into some images (relabelled) and into covers (labels kept) (Adaptive-Blend)',
  paper: QI_2023,
  domains: ['features'],
  dataHelp: 'image training set to poison (directory or built-in name)',
  options: z.object({
    ...allToOneFields(),
    coverRate: coverRateField('trigger, true label', '--rate'),
    pieces: z
      .int()
      .default(16)
      .meta({ placeholder: '<n>', description: 'tiles of the trigger (a square)' }),
    maskedPieces: z.int().optional().meta({
      placeholder: '<n>',
      description: 'tiles left out of each poison and cover (default pieces/2)',
    }),
    alpha: z
      .number()
      .default(0.15)
      .meta({ placeholder: '<α>', description: 'opacity on the training records' }),
    testAlpha: z
      .number()
      .default(0.2)
      .meta({ placeholder: '<α>', description: 'opacity at test time' }),
    image: z.string().optional().meta({
      placeholder: '<png>',
      description: 'trigger picture (a PNG file or a built-in name); default a seeded noise key',
    }),
    blendSeed: z
      .int()
      .default(0)
      .meta({ placeholder: '<n>', description: 'seed of the noise key' }),
  }),
  check(o) {
    checkRate(o.rate);
    const { maskedPieces, ...rest } = o;
    checkAdaptiveBlendOptions({
      ...rest,
      coverRate: o.coverRate ?? o.rate,
      ...(maskedPieces !== undefined ? { maskedPieces } : {}),
    });
  },
  async run({ loaded, rng }, o) {
    const { dataset } = loaded;
    const shape = dataset.shape.slice(1);
    const target = resolveClass(o.target, dataset.classes, 'target');
    const keyTrigger = await loadTrigger({
      kind: 'blend',
      alpha: 1,
      seed: o.blendSeed,
      ...(o.image ? { image: o.image } : {}),
    });
    const size = shape.reduce((a, b) => a * b, 1);
    const key = keyTrigger.apply(new Float32Array(size), shape, rng.fork('key'));
    const { image: _i, blendSeed: _b, coverRate, maskedPieces, ...rest } = o;
    const result = adaptiveBlendAttack.poison(
      dataset,
      {
        ...rest,
        target,
        coverRate: coverRate ?? o.rate,
        ...(maskedPieces !== undefined ? { maskedPieces } : {}),
        key,
        keyInfo: o.image ? { image: o.image } : { blendSeed: o.blendSeed },
      },
      rng,
    );
    const apply = adaptiveBlendTestTrigger(key, o.testAlpha).apply;
    return coverOutcome('Adaptive-Blend', result, apply, target, o.target);
  },
});

/** `--alphas 0.5,0.2,…` as numbers; `INVALID_ARGUMENT` for anything else. */
function parseAlphas(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const values = parts.map(Number);
  if (parts.some((s) => s === '') || values.some((v) => !Number.isFinite(v))) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--alphas takes comma-separated opacities, got "${text}"`,
      { field: 'alphas' },
    );
  }
  return values;
}

/** Adaptive-Patch: several low-opacity patches, one per poison, with conservatism covers. */
export const adaptivePatchEntry = defineAttack({
  name: 'adaptive-patch',
  triggeredTest: true,
  title:
    'stamp one of several faint patches on some images (relabelled) and on covers (labels kept); all patches at full opacity at test time (Adaptive-Patch)',
  paper: QI_2023,
  domains: ['features'],
  dataHelp: 'image training set to poison (directory or built-in name)',
  options: z.object({
    ...allToOneFields(),
    coverRate: coverRateField('a patch, true label', '2 × --rate (the paper)'),
    alphas: z.string().default(ADAPTIVE_PATCH_DEFAULTS.alphas.join(',')).meta({
      placeholder: '<a,b,...>',
      description: 'opacity of each patch on the training records, one per patch (2 to 4)',
    }),
    size: z.int().default(ADAPTIVE_PATCH_DEFAULTS.size).meta({
      placeholder: '<px>',
      description: 'side of each square patch (they sit in distinct corners)',
    }),
    testAlpha: z.number().default(ADAPTIVE_PATCH_DEFAULTS.testAlpha).meta({
      placeholder: '<α>',
      description: 'opacity of every patch in the combined test-time trigger',
    }),
    patchSeed: z
      .int()
      .default(0)
      .meta({ placeholder: '<n>', description: 'seed of the random 0/1 patch patterns' }),
  }),
  check(o) {
    checkRate(o.rate);
    const alphas = parseAlphas(o.alphas);
    checkAdaptivePatchOptions(
      { coverRate: o.coverRate ?? 2 * o.rate, testAlpha: o.testAlpha },
      alphas,
    );
    checkPatchLayout(alphas.length, o.size);
  },
  async run({ loaded, rng }, o) {
    const { dataset } = loaded;
    const shape = dataset.shape.slice(1);
    const target = resolveClass(o.target, dataset.classes, 'target');
    const patches = adaptivePatchTriggers(shape, parseAlphas(o.alphas), o.size, o.patchSeed);
    const result = adaptivePatchAttack.poison(
      dataset,
      {
        target,
        rate: o.rate,
        coverRate: o.coverRate ?? 2 * o.rate,
        patches,
        testAlpha: o.testAlpha,
        patchInfo: { size: o.size, patchSeed: o.patchSeed },
      },
      rng,
    );
    const apply = adaptivePatchTestTrigger(patches, o.testAlpha).apply;
    return coverOutcome(
      `Adaptive-Patch (${patches.length} patches)`,
      result,
      apply,
      target,
      o.target,
    );
  },
});

/**
 * The attack registry, frozen: `antidote attack <name>` is one sub-command per entry, its flags
 * derived from the entry's options schema.
 */
export const ATTACKS: readonly AttackEntry[] = Object.freeze([
  labelFlipEntry,
  backdoorEntry,
  textBackdoorEntry,
  tabularBackdoorEntry,
  featureCollisionEntry,
  cleanLabelBackdoorEntry,
  sigEntry,
  wanetEntry,
  adaptiveBlendEntry,
  adaptivePatchEntry,
] as unknown as AttackEntry[]);

/** The registry entry called `name`; `INVALID_ARGUMENT` for an unknown name. */
export function attackEntry(name: string): AttackEntry {
  const entry = ATTACKS.find((a) => a.name === name);
  if (!entry) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unknown attack "${name}"; choose one of ${ATTACKS.map((a) => a.name).join(', ')}`,
      { field: 'attack' },
    );
  }
  return entry;
}

/**
 * Parses `raw` (e.g. the flags of `antidote attack <name>`) with the entry's options schema,
 * defaults filled in; `INVALID_ARGUMENT` naming the attack and the field.
 */
export function parseAttackOptions<S extends z.ZodObject>(
  entry: AttackEntry<S>,
  raw: unknown,
): z.output<S> {
  const r = entry.options.safeParse(raw ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  throw new AntidoteError('INVALID_ARGUMENT', `attack ${entry.name}: ${field}: ${issue?.message}`, {
    field,
  });
}

/** Runs `entry` on `input` after checking the options and the data's domain. */
export async function runAttackEntry<S extends z.ZodObject>(
  entry: AttackEntry<S>,
  input: AttackInput,
  options: z.output<S>,
): Promise<AttackOutcome> {
  const domain = dataDomain(input.loaded);
  if (!entry.domains.includes(domain)) {
    throw (
      entry.domainError?.(input.data, domain) ??
      new AntidoteError(
        'INVALID_ARGUMENT',
        `attack ${entry.name} applies to ${entry.domains.join(' / ')} data, not ${domain} (${input.data})`,
        { field: 'data' },
      )
    );
  }
  return entry.run(input, options);
}
