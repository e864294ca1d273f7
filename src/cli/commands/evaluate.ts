import { type Command, Option } from 'commander';
import { resolveClass } from '../../attacks/attack.js';
import { parseAttackRecord } from '../../attacks/attack-record.js';
import { BACKDOOR_MODES, type BackdoorMode, checkTargeting } from '../../attacks/backdoor-plan.js';
import { checkFeatureTrigger, type FeatureTriggerSpec } from '../../attacks/tabular-backdoor.js';
import { checkTextTrigger, type TextTriggerSpec } from '../../attacks/text-backdoor.js';
import { checkSpec, loadTrigger } from '../../attacks/triggers.js';
import type { Dataset } from '../../data/dataset.js';
import { type LoadedDataset, loadDataset } from '../../data/load.js';
import { checkSameColumns, loadModel, type Model } from '../../engine/model.js';
import { AntidoteError } from '../../errors.js';
import { evaluateFeatureBackdoor } from '../../eval/feature-backdoor.js';
import { type BackdoorMetrics, evaluateBackdoor, evaluateClean } from '../../eval/metrics.js';
import { Rng } from '../../util/rng.js';
import { addDataOptions, loadDataArg } from '../data-arg.js';
import { addOnnxFlags, type OnnxCliOptions, onnxLoadOptions } from '../onnx-flags.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import {
  addTextTriggerOptions,
  addTriggerOptions,
  featureTriggerFromString,
  type TextTriggerCliOptions,
  type TriggerCliOptions,
  textTriggerFromOptions,
  triggerSpecFromOptions,
} from './attack.js';

interface EvaluateCliOptions
  extends OutputOptions,
    TriggerCliOptions,
    TextTriggerCliOptions,
    OnnxCliOptions {
  model: string;
  data?: string;
  triggered?: string;
  targetsFrom?: string;
  mode: BackdoorMode;
  target?: string;
  source?: string;
  seed: number;
  featureTrigger?: string;
  attackFrom?: string;
}

type Targeting = Parameters<typeof checkTargeting>[0];

/** A trigger with its targeting (and where they came from), ready to evaluate. */
interface EvaluationTrigger {
  readonly trigger: unknown;
  readonly targeting: Targeting;
  /** The poisoned dataset of `--attack-from`. */
  readonly from?: string;
  /** Attack success rate and robust accuracy of the trigger on the test set. */
  evaluate(): Promise<BackdoorMetrics>;
}

function targetingFromOptions(o: EvaluateCliOptions, classes: readonly string[]): Targeting {
  const targeting = {
    mode: o.mode,
    ...(o.mode !== 'all-to-all' ? { target: resolveClass(o.target ?? 0, classes, 'target') } : {}),
    ...(o.source !== undefined ? { source: resolveClass(o.source, classes, 'source') } : {}),
  };
  checkTargeting(targeting, classes.length);
  return targeting;
}

/** A text or tabular trigger with its targeting, from the flags or a poisoned dataset's record. */
interface FeatureTrigger {
  readonly trigger: TextTriggerSpec | FeatureTriggerSpec;
  readonly targeting: Targeting;
  readonly from?: string;
}

/**
 * The trigger of a text or tabular evaluation (see {@link featureTriggerSpec}), ready to
 * evaluate with the model's predictions of raw records.
 */
async function featureTrigger(
  o: EvaluateCliOptions,
  loaded: LoadedDataset,
  model: Model,
): Promise<EvaluationTrigger | undefined> {
  const t = await featureTriggerSpec(o, loaded, model);
  if (!t) return undefined;
  return {
    ...t,
    evaluate: () =>
      evaluateFeatureBackdoor(
        (d) => model.predict(d),
        loaded.dataset,
        t.trigger,
        t.targeting,
        new Rng(o.seed),
      ),
  };
}

/**
 * The trigger and targeting of a text or tabular evaluation: from `--attack-from` (the attack
 * record of a poisoned dataset directory) or from the flags; undefined when neither gives one.
 */
async function featureTriggerSpec(
  o: EvaluateCliOptions,
  loaded: LoadedDataset,
  model: Model,
): Promise<FeatureTrigger | undefined> {
  const domain = model.domain;
  const columns = model.input.kind === 'tabular' ? model.input.columns : [];
  const classes = loaded.dataset.classes;
  if (o.attackFrom) {
    const given = [
      o.triggerWords && '--trigger-words',
      o.sentence !== undefined && '--sentence',
      o.featureTrigger && '--feature-trigger',
      o.target !== undefined && '--target',
      o.source !== undefined && '--source',
    ].filter(Boolean);
    if (given.length) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `--attack-from takes the trigger and targeting from ${o.attackFrom}'s attack record: drop ${given.join(', ')}`,
        { field: 'attackFrom' },
      );
    }
    const poisoned = await loadDataset(o.attackFrom, { checkFinite: false });
    // The record's class indices and feature positions are those of the poisoned data.
    const theirs = poisoned.dataset.classes;
    if (theirs.length !== classes.length || theirs.some((c, i) => c !== classes[i])) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${o.attackFrom} has classes [${theirs.join(', ')}] but ${loaded.spec} has [${classes.join(', ')}]: its attack record's classes would be misread`,
        { path: o.attackFrom },
      );
    }
    if (domain === 'tabular' && poisoned.columns) {
      checkSameColumns(columns, o.model, poisoned.columns, o.attackFrom);
    }
    const record = parseAttackRecord(poisoned.attack);
    const expected = domain === 'text' ? 'text-backdoor' : 'tabular-backdoor';
    if (record?.attack !== expected || !record.params) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${o.attackFrom} carries no ${expected} attack record (found ${JSON.stringify(record?.attack ?? null)})`,
        { path: o.attackFrom },
      );
    }
    const p = record.params;
    const trigger = p.trigger as TextTriggerSpec | FeatureTriggerSpec;
    if (domain === 'text') checkTextTrigger(trigger as TextTriggerSpec);
    else checkFeatureTrigger(trigger as FeatureTriggerSpec, columns.length);
    const targeting = {
      mode: p.mode as BackdoorMode,
      ...(typeof p.target === 'number' ? { target: p.target } : {}),
      ...(typeof p.source === 'number' ? { source: p.source } : {}),
    };
    checkTargeting(targeting, classes.length);
    return { trigger, targeting, from: o.attackFrom };
  }
  if (domain === 'text') {
    if (o.featureTrigger) {
      throw new AntidoteError('INVALID_ARGUMENT', '--feature-trigger is for tabular data', {
        field: 'featureTrigger',
      });
    }
    const trigger = textTriggerFromOptions(o);
    if (!trigger) return undefined;
    checkTextTrigger(trigger);
    return { trigger, targeting: targetingFromOptions(o, classes) };
  }
  if (o.triggerWords || o.sentence !== undefined) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      '--trigger-words and --sentence are for text data',
      {
        field: 'trigger',
      },
    );
  }
  if (!o.featureTrigger) return undefined;
  const trigger = featureTriggerFromString(o.featureTrigger, columns);
  return { trigger, targeting: targetingFromOptions(o, classes) };
}

/**
 * `antidote evaluate`: clean accuracy, per-class accuracy and confusion matrix of a saved model on
 * a test set; with `--trigger`, also the attack success rate and robust accuracy; with
 * `--triggered`, ASR and robust accuracy on a pre-triggered test set (see {@link triggeredMetrics}).
 */
export function registerEvaluateCommand(program: Command): void {
  const cmd = program
    .command('evaluate')
    .description(
      'measure a model: clean accuracy, per-class accuracy; with --trigger, ASR and robust accuracy',
    )
    .requiredOption('--model <dir>', 'model directory, or a .onnx file')
    .option(
      '--data <data>',
      'test dataset: directory, file, built-in or named (mnist:test, sentiment:test, german-credit:test)',
    )
    .option(
      '--triggered <data>',
      'a pre-triggered test set (labels: the true classes), e.g. from attack ... --export-triggered-test: ASR and robust accuracy on it',
    )
    .option(
      '--targets-from <field>',
      "--triggered: the attacker's class per record, from this field of the set's metadata (dataset.json meta; attack --export-triggered-test writes targets)",
    );
  addDataOptions(addOnnxFlags(cmd));
  addTextTriggerOptions(addTriggerOptions(cmd, false))
    .option(
      '--feature-trigger <column=value,...>',
      'tabular: the feature-value trigger (as in attack tabular-backdoor --trigger)',
    )
    .option(
      '--attack-from <dir>',
      'text / tabular: take trigger and targeting from the attack record of this poisoned dataset directory',
    )
    .addOption(
      new Option('--mode <mode>', 'backdoor targeting')
        .choices([...BACKDOOR_MODES])
        .default('all-to-one'),
    )
    .option(
      '--target <class>',
      "target class (all-to-one, source-to-target; --triggered: every record's); default 0",
    )
    .option('--source <class>', 'source class (source-to-target)')
    .option('--seed <n>', 'seed of random trigger positions', parseInteger, 1)
    .option('--json', 'print the metrics as JSON')
    .option('--quiet', 'no progress output')
    .action(async (o: EvaluateCliOptions) => {
      checkTriggeredFlags(o);
      const loaded = o.data ? await loadDataArg(o.data, o) : undefined;
      const triggeredSet = o.triggered ? await loadDataArg(o.triggered, o) : undefined;
      const model = await loadModel(o.model, onnxLoadOptions(o));
      try {
        if (!loaded) {
          const t = triggeredSet as LoadedDataset;
          model.checkReads(t);
          const triggered = await triggeredMetrics(o, t, model);
          const result = { model: o.model, triggered: o.triggered, ...triggered };
          printResult(o, () => triggeredLine(triggered), result);
          return;
        }
        checkTriggerFlags(o, model);
        model.checkReads(loaded);
        if (triggeredSet) model.checkReads(triggeredSet);
        const trigger = o.triggered
          ? undefined
          : model.capabilities.pixels
            ? await imageTrigger(o, loaded.dataset, model)
            : await featureTrigger(o, loaded, model);
        const { dataset } = loaded;
        const clean = await evaluateClean(model.classifier, model.featurize(dataset));
        const backdoor = trigger ? await trigger.evaluate() : undefined;
        const triggered = triggeredSet ? await triggeredMetrics(o, triggeredSet, model) : undefined;
        const result = {
          model: o.model,
          data: o.data,
          ...(model.capabilities.pixels ? {} : { domain: model.domain, kind: model.kind }),
          ...clean,
          ...(trigger
            ? {
                trigger: trigger.trigger,
                targeting: trigger.targeting,
                ...(trigger.from ? { attackFrom: trigger.from } : {}),
                backdoor,
              }
            : {}),
          ...(triggered ? { triggered: o.triggered, ...triggered } : {}),
        };
        printEvaluation(o, dataset.classes, clean, backdoor, result, triggered);
      } finally {
        model.dispose();
      }
    });
}

/** What `--triggered` measures. */
interface TriggeredMetrics {
  readonly backdoor: BackdoorMetrics;
  /** Records of the triggered set whose true class is their target (left out of both rates). */
  readonly skipped: number;
  /** Where the attacker's classes came from (`--target` or `--targets-from`). */
  readonly targets: { readonly target: number } | { readonly field: string };
}

/**
 * `--triggered` and its companions: `--target` or `--targets-from` (one, not both), and no image
 * or text trigger flags (the set is triggered already). Checked before anything is loaded.
 */
function checkTriggeredFlags(o: EvaluateCliOptions): void {
  if (!o.data && !o.triggered) {
    throw new AntidoteError('INVALID_ARGUMENT', 'give --data (a test set) or --triggered', {
      field: 'data',
    });
  }
  if (!o.triggered) {
    if (o.targetsFrom) {
      throw new AntidoteError('INVALID_ARGUMENT', '--targets-from goes with --triggered', {
        field: 'targetsFrom',
      });
    }
    return;
  }
  const stray = [
    o.trigger && '--trigger',
    o.attackFrom && '--attack-from',
    o.featureTrigger && '--feature-trigger',
    o.triggerWords && '--trigger-words',
    o.sentence !== undefined && '--sentence',
    o.source !== undefined && '--source',
    o.mode !== 'all-to-one' && '--mode',
  ].filter(Boolean);
  if (stray.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--triggered takes a set that is triggered already: drop ${stray.join(', ')}`,
      { field: 'triggered' },
    );
  }
  if ((o.target === undefined) === (o.targetsFrom === undefined)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      "--triggered needs the attacker's class: --target <class> or --targets-from <field>, one of them",
      { field: 'target' },
    );
  }
}

/**
 * ASR and robust accuracy on a pre-triggered set (BackdoorBench's definitions, as
 * `evaluateBackdoor`): its labels are the true classes, the attacker's class of each record is
 * `--target` or the `--targets-from` field of its metadata; records whose true class is their
 * target are left out (counted in `skipped`).
 */
async function triggeredMetrics(
  o: EvaluateCliOptions,
  set: LoadedDataset,
  model: Model,
): Promise<TriggeredMetrics> {
  const ds = set.dataset;
  const n = ds.shape[0] ?? 0;
  const targetsOf = (): { targets: number[]; from: TriggeredMetrics['targets'] } => {
    if (o.targetsFrom === undefined) {
      const target = resolveClass(o.target ?? 0, ds.classes, 'target');
      return { targets: new Array<number>(n).fill(target), from: { target } };
    }
    const field = o.targetsFrom;
    const raw = set.meta?.[field];
    if (!Array.isArray(raw) || raw.length !== n) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${o.triggered}: metadata field "${field}" must be an array of one class (index or name) per record (${n}), got ${Array.isArray(raw) ? `${raw.length} entries` : JSON.stringify(raw ?? null)}`,
        { field: 'targetsFrom' },
      );
    }
    const targets = raw.map((v, i) => {
      if (typeof v !== 'number' && typeof v !== 'string') {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `${o.triggered}: "${field}"[${i}] is not a class: ${JSON.stringify(v)}`,
          { field: 'targetsFrom' },
        );
      }
      return resolveClass(v, ds.classes, `${field}[${i}]`);
    });
    return { targets, from: { field } };
  };
  const { targets, from } = targetsOf();
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if (ds.y[i] !== targets[i]) keep.push(i);
  const pred = keep.length ? await model.predict(ds) : new Int32Array(0);
  let hit = 0;
  let robust = 0;
  for (const i of keep) {
    if (pred[i] === targets[i]) hit++;
    if (pred[i] === ds.y[i]) robust++;
  }
  const m = keep.length;
  return {
    backdoor: {
      attacked: m,
      attackSuccessRate: m ? hit / m : 0,
      robustAccuracy: m ? robust / m : 0,
    },
    skipped: n - m,
    targets: from,
  };
}

function triggeredLine(t: TriggeredMetrics): string {
  const b = t.backdoor;
  return (
    `triggered set: attack success rate ${pct(b.attackSuccessRate)}, robust accuracy ${pct(b.robustAccuracy)} on ${b.attacked} records` +
    (t.skipped ? ` (${t.skipped} already of their target class left out)` : '')
  );
}

/** Refuses the trigger flags of the other kind of model (image `--trigger`, or text / tabular). */
function checkTriggerFlags(o: EvaluateCliOptions, model: Model): void {
  if (model.capabilities.pixels) {
    if (o.attackFrom || o.featureTrigger || o.triggerWords || o.sentence !== undefined) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        '--attack-from, --feature-trigger, --trigger-words and --sentence are for text and tabular data; images take --trigger',
        { field: 'trigger' },
      );
    }
  } else if (o.trigger) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--trigger ${o.trigger} is an image trigger; text data takes --trigger-words / --sentence, tabular data --feature-trigger (or --attack-from a poisoned dataset)`,
      { field: 'trigger' },
    );
  }
}

/** The image trigger of `--trigger` with its targeting, ready to evaluate; undefined without. */
async function imageTrigger(
  o: EvaluateCliOptions,
  dataset: Dataset,
  model: Model,
): Promise<EvaluationTrigger | undefined> {
  if (!o.trigger) return undefined;
  const shape = dataset.shape.slice(1);
  const spec = triggerSpecFromOptions(o, shape);
  checkSpec(spec, shape);
  const targeting = targetingFromOptions(o, dataset.classes);
  const trigger = await loadTrigger(spec);
  return {
    trigger: trigger.spec,
    targeting,
    evaluate: () =>
      evaluateBackdoor(model.classifier, dataset, trigger, targeting, new Rng(o.seed)),
  };
}

function printEvaluation(
  o: EvaluateCliOptions,
  classes: readonly string[],
  clean: Awaited<ReturnType<typeof evaluateClean>>,
  backdoor: BackdoorMetrics | undefined,
  result: unknown,
  triggered?: TriggeredMetrics,
): void {
  printResult(
    o,
    () => {
      const lines = [`accuracy ${pct(clean.accuracy)} on ${clean.n} records`];
      lines.push(
        `per class: ${clean.perClassAccuracy
          .map((a, c) => `${classes[c]} ${a === null ? 'n/a' : pct(a)}`)
          .join(', ')}`,
      );
      if (backdoor) {
        lines.push(
          `attack success rate ${pct(backdoor.attackSuccessRate)}, robust accuracy ${pct(backdoor.robustAccuracy)} on ${backdoor.attacked} triggered records`,
        );
      }
      if (triggered) lines.push(triggeredLine(triggered));
      return lines.join('\n');
    },
    result,
  );
}
