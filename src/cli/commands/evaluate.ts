import { type Command, Option } from 'commander';
import { resolveClass } from '../../attacks/attack.js';
import { BACKDOOR_MODES, type BackdoorMode, checkTargeting } from '../../attacks/backdoor.js';
import { checkSpec, loadTrigger } from '../../attacks/triggers.js';
import { Rng } from '../../data/rng.js';
import { TfClassifier } from '../../engine/tf-classifier.js';
import { type BackdoorMetrics, evaluateBackdoor, evaluateClean } from '../../eval/metrics.js';
import { loadDataArg } from '../data-arg.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { addTriggerOptions, type TriggerCliOptions, triggerSpecFromOptions } from './attack.js';

interface EvaluateCliOptions extends OutputOptions, TriggerCliOptions {
  model: string;
  data: string;
  mode: BackdoorMode;
  target?: string;
  source?: string;
  seed: number;
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
    .requiredOption('--data <data>', 'test dataset directory or built-in name (mnist:test)');
  addTriggerOptions(cmd, false)
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
      const { dataset } = await loadDataArg(o.data, o);
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
        const targeting = {
          mode: o.mode,
          ...(o.mode !== 'all-to-all'
            ? { target: resolveClass(o.target ?? 0, dataset.classes, 'target') }
            : {}),
          ...(o.source !== undefined
            ? { source: resolveClass(o.source, dataset.classes, 'source') }
            : {}),
        };
        checkTargeting(targeting, dataset.classes.length);
        prepared = { trigger: await loadTrigger(spec), targeting };
      }
      const model = await TfClassifier.load(o.model);
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
        printResult(
          o,
          () => {
            const lines = [`accuracy ${pct(clean.accuracy)} on ${clean.n} records`];
            lines.push(
              `per class: ${clean.perClassAccuracy
                .map((a, c) => `${dataset.classes[c]} ${a === null ? 'n/a' : pct(a)}`)
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
      } finally {
        model.dispose();
      }
    });
}
