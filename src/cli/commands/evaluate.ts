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
import { loadDataArg } from '../data-arg.js';
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
  data: string;
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
 * a test set; with `--trigger`, also the attack success rate and robust accuracy.
 */
export function registerEvaluateCommand(program: Command): void {
  const cmd = program
    .command('evaluate')
    .description(
      'measure a model: clean accuracy, per-class accuracy; with --trigger, ASR and robust accuracy',
    )
    .requiredOption('--model <dir>', 'model directory, or a .onnx file')
    .requiredOption(
      '--data <data>',
      'test dataset: directory, file, built-in or named (mnist:test, sentiment:test, german-credit:test)',
    );
  addOnnxFlags(cmd);
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
    .option('--target <class>', 'target class (all-to-one, source-to-target); default 0')
    .option('--source <class>', 'source class (source-to-target)')
    .option('--seed <n>', 'seed of random trigger positions', parseInteger, 1)
    .option('--json', 'print the metrics as JSON')
    .option('--quiet', 'no progress output')
    .action(async (o: EvaluateCliOptions) => {
      const loaded = await loadDataArg(o.data, o);
      const model = await loadModel(o.model, onnxLoadOptions(o));
      try {
        checkTriggerFlags(o, model);
        model.checkReads(loaded);
        const trigger = model.capabilities.pixels
          ? await imageTrigger(o, loaded.dataset, model)
          : await featureTrigger(o, loaded, model);
        const { dataset } = loaded;
        const clean = await evaluateClean(model.classifier, model.featurize(dataset));
        const backdoor = trigger ? await trigger.evaluate() : undefined;
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
        };
        printEvaluation(o, dataset.classes, clean, backdoor, result);
      } finally {
        model.dispose();
      }
    });
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
      return lines.join('\n');
    },
    result,
  );
}
