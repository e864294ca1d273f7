import { type Command, Option } from 'commander';
import { resolveClass } from '../../attacks/attack.js';
import { parseAttackRecord } from '../../attacks/attack-record.js';
import { BACKDOOR_MODES, type BackdoorMode, checkTargeting } from '../../attacks/backdoor-plan.js';
import { checkFeatureTrigger, type FeatureTriggerSpec } from '../../attacks/tabular-backdoor.js';
import { checkTextTrigger, type TextTriggerSpec } from '../../attacks/text-backdoor.js';
import { checkSpec, loadTrigger } from '../../attacks/triggers.js';
import { dataDomain, type LoadedDataset, loadDataset } from '../../data/load.js';
import { Rng } from '../../data/rng.js';
import { type FeatureModel, modelDomain } from '../../engine/feature-model-io.js';
import {
  checkModelReadsData,
  checkSameColumns,
  loadAnyModel,
  modelDataMismatch,
} from '../../engine/model.js';
import type { TfClassifier } from '../../engine/tf-classifier.js';
import { AntidoteError } from '../../errors.js';
import { evaluateFeatureBackdoor } from '../../eval/feature-backdoor.js';
import { type BackdoorMetrics, evaluateBackdoor, evaluateClean } from '../../eval/metrics.js';
import { loadDataArg } from '../data-arg.js';
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

interface EvaluateCliOptions extends OutputOptions, TriggerCliOptions, TextTriggerCliOptions {
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

/** A text or tabular trigger with its targeting, from the flags or a poisoned dataset's record. */
interface FeatureTrigger {
  readonly trigger: TextTriggerSpec | FeatureTriggerSpec;
  readonly targeting: Targeting;
  readonly from?: string;
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

/**
 * The trigger and targeting of a text or tabular evaluation: from `--attack-from` (the attack
 * record of a poisoned dataset directory) or from the flags; undefined when neither gives one.
 */
async function featureTrigger(
  o: EvaluateCliOptions,
  loaded: LoadedDataset,
  model: FeatureModel,
): Promise<FeatureTrigger | undefined> {
  const domain = model.domain;
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
      checkSameColumns(model.columns ?? [], o.model, poisoned.columns, o.attackFrom);
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
    else checkFeatureTrigger(trigger as FeatureTriggerSpec, loaded.dataset.shape[1]);
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
  const trigger = featureTriggerFromString(o.featureTrigger, model.columns ?? []);
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
    .requiredOption('--model <dir>', 'model directory')
    .requiredOption(
      '--data <data>',
      'test dataset: directory, file, built-in or named (mnist:test, sentiment:test, german-credit:test)',
    );
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
      if ((await modelDomain(o.model)) !== 'image') {
        await evaluateFeature(o, loaded);
        return;
      }
      if (o.attackFrom || o.featureTrigger || o.triggerWords || o.sentence !== undefined) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          '--attack-from, --feature-trigger, --trigger-words and --sentence are for text and tabular data; images take --trigger',
          { field: 'trigger' },
        );
      }
      const { dataset } = loaded;
      // An image model on text: say so before the image trigger trips over the records.
      if (dataDomain(loaded) === 'text') throw modelDataMismatch('image', o.model, loaded);
      // Validate the trigger (and read its PNG) before loading the model.
      let prepared:
        | {
            trigger: Awaited<ReturnType<typeof loadTrigger>>;
            targeting: Parameters<typeof checkTargeting>[0];
          }
        | undefined;
      if (o.trigger) {
        const shape = dataset.shape.slice(1);
        const spec = triggerSpecFromOptions(o, shape);
        checkSpec(spec, shape);
        const targeting = targetingFromOptions(o, dataset.classes);
        prepared = { trigger: await loadTrigger(spec), targeting };
      }
      const loadedModel = await loadAnyModel(o.model);
      try {
        checkModelReadsData(loadedModel, o.model, loaded);
      } catch (e) {
        loadedModel.model.dispose();
        throw e;
      }
      const model = loadedModel.model as TfClassifier;
      try {
        const clean = await evaluateClean(model, dataset);
        let backdoor: BackdoorMetrics | undefined;
        if (prepared) {
          backdoor = await evaluateBackdoor(
            model,
            dataset,
            prepared.trigger,
            prepared.targeting,
            new Rng(o.seed),
          );
        }
        const result = {
          model: o.model,
          data: o.data,
          ...clean,
          ...(prepared
            ? { trigger: prepared.trigger.spec, targeting: prepared.targeting, backdoor }
            : {}),
        };
        printEvaluation(o, dataset.classes, clean, backdoor, result);
      } finally {
        model.dispose();
      }
    });
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

/** `evaluate` for a text or tabular model on text or tabular test data. */
async function evaluateFeature(o: EvaluateCliOptions, loaded: LoadedDataset): Promise<void> {
  if (o.trigger) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--trigger ${o.trigger} is an image trigger; text data takes --trigger-words / --sentence, tabular data --feature-trigger (or --attack-from a poisoned dataset)`,
      { field: 'trigger' },
    );
  }
  const { dataset } = loaded;
  const loadedModel = await loadAnyModel(o.model);
  try {
    checkModelReadsData(loadedModel, o.model, loaded);
    const model = loadedModel.model as FeatureModel;
    const trigger = await featureTrigger(o, loaded, model);
    const clean = await evaluateClean(model.classifier, model.featurize(dataset));
    const backdoor = trigger
      ? await evaluateFeatureBackdoor(
          (d) => model.predictRaw(d),
          dataset,
          trigger.trigger,
          trigger.targeting,
          new Rng(o.seed),
        )
      : undefined;
    const result = {
      model: o.model,
      data: o.data,
      domain: model.domain,
      kind: model.kind,
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
    loadedModel.model.dispose();
  }
}
