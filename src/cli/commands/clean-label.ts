import type { Command } from 'commander';
import { resolveClass } from '../../attacks/attack.js';
import { cleanLabelBackdoor } from '../../attacks/clean-label-backdoor.js';
import { featureCollisionAttack } from '../../attacks/feature-collision.js';
import { checkSpec, loadTrigger } from '../../attacks/triggers.js';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { Rng } from '../../util/rng.js';
import { TfClassifier } from '../../engine/tf-classifier.js';
import { AntidoteError } from '../../errors.js';
import { loadDataArg } from '../data-arg.js';
import { parseInteger, parseNumber } from '../options.js';
import { type OutputOptions, printResult } from '../output.js';
import { addTriggerOptions, type TriggerCliOptions, triggerSpecFromOptions } from './attack.js';

interface CommonOptions extends OutputOptions {
  data: string;
  model: string;
  seed: number;
  out: string;
  force?: boolean;
}

interface FeatureCollisionCliOptions extends CommonOptions {
  targetData: string;
  targetIndex: number;
  baseClass: string;
  poisons: number;
  iterations: number;
  beta?: number;
  opacity: number;
  learningRate: number;
  layer?: string;
}

interface CleanLabelBackdoorCliOptions extends CommonOptions, TriggerCliOptions {
  target: string;
  rate: number;
  epsilon: number;
  pgdSteps: number;
  stepSize?: number;
}

/** The `attack` command group, created when it is not registered yet. */
function attackGroup(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'attack') ??
    program
      .command('attack')
      .description(
        'poison a copy of a dataset (red team); the output is an ordinary dataset directory',
      )
  );
}

/**
 * `antidote attack feature-collision` (Shafahi et al. 2018) and `antidote attack
 * clean-label-backdoor` (Turner et al. 2019): clean-label attacks that need the victim's (or a
 * surrogate) model. They add themselves to the `attack` group (registered before or not).
 */
export function registerCleanLabelAttackCommands(program: Command): void {
  const attack = attackGroup(program);

  attack
    .command('feature-collision')
    .description(
      'craft clean-label poisons whose features collide with one target image (Poison Frogs)',
    )
    .requiredOption('--data <data>', 'training set to poison (directory or built-in name)')
    .requiredOption('--model <dir>', 'the feature extractor (victim or a copy of it)')
    .requiredOption('--target-data <data>', 'dataset holding the target image (e.g. mnist:test)')
    .requiredOption(
      '--target-index <i>',
      'index of the target image in --target-data',
      parseInteger,
    )
    .requiredOption('--base-class <class>', 'class the target should be mistaken for')
    .option('--poisons <n>', 'poisons to craft (one per base image)', parseInteger, 5)
    .option('--iterations <n>', 'forward-backward iterations', parseInteger, 300)
    .option('--beta <b>', 'weight of ‖x − b‖² (default: the paper scaling)', parseNumber)
    .option('--opacity <γ>', 'watermark opacity of the target in the bases', parseNumber, 0)
    .option('--learning-rate <λ>', 'initial step size', parseNumber, 0.01)
    .option('--layer <name>', 'feature layer (default: penultimate)')
    .option('--seed <n>', 'seed of every random choice', parseInteger, 1)
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option('--force', 'replace an existing output directory')
    .option('--json', 'print the attack record as JSON')
    .option('--quiet', 'no progress bars')
    .action(async (o: FeatureCollisionCliOptions) => {
      const { dataset } = await loadDataArg(o.data, o);
      const { dataset: targets } = await loadDataArg(o.targetData, o);
      const n = targets.shape[0];
      if (!Number.isInteger(o.targetIndex) || o.targetIndex < 0 || o.targetIndex >= n) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `--target-index must be in [0, ${n}) for ${o.targetData}, got ${o.targetIndex}`,
          { field: 'target-index' },
        );
      }
      const size = targets.x.length / n;
      const model = await TfClassifier.load(o.model);
      try {
        const result = await featureCollisionAttack(
          dataset,
          model,
          {
            target: targets.x.slice(o.targetIndex * size, (o.targetIndex + 1) * size),
            targetClass: targets.y[o.targetIndex],
            baseClass: resolveClass(o.baseClass, dataset.classes, 'base-class'),
            poisons: o.poisons,
            iterations: o.iterations,
            opacity: o.opacity,
            learningRate: o.learningRate,
            ...(o.beta !== undefined ? { beta: o.beta } : {}),
            ...(o.layer ? { layer: o.layer } : {}),
          },
          new Rng(o.seed),
        );
        const params: Record<string, unknown> = {
          ...result.record.params,
          targetData: o.targetData,
          targetIndex: o.targetIndex,
        };
        const record = { ...result.record, params };
        await writeDatasetDir(
          o.out,
          result.dataset,
          {
            attack: record,
            meta: { createdBy: 'antidote attack feature-collision', from: o.data },
          },
          { overwrite: o.force ?? false },
        );
        const c = result.craft;
        printResult(
          o,
          () =>
            [
              `feature collision: ${o.poisons} poisons of class ${dataset.classes[record.params.baseClass as number]} for target #${o.targetIndex} (class ${dataset.classes[targets.y[o.targetIndex]]})`,
              `  feature distance to the target ${fmtList(c.baseFeatureDistance)} → ${fmtList(c.featureDistance)}`,
              `  perturbation L∞ max ${c.perturbation.maxLinf.toFixed(3)}, mean L2 ${c.perturbation.meanL2.toFixed(3)}; labels unchanged`,
              `wrote ${o.out}`,
            ].join('\n'),
          record,
        );
      } finally {
        model.dispose();
      }
    });

  const clb = attack
    .command('clean-label-backdoor')
    .description(
      'perturb a share of the target class with PGD, then stamp the trigger; labels unchanged (Turner et al.)',
    )
    .requiredOption('--data <data>', 'training set to poison (directory or built-in name)')
    .requiredOption('--model <dir>', 'surrogate model providing the PGD gradients');
  addTriggerOptions(clb, true)
    .requiredOption('--target <class>', 'target class (its own images are poisoned)')
    .requiredOption('--rate <share>', 'share of the target class poisoned, in (0, 1)', parseNumber)
    .requiredOption('--epsilon <ε>', 'L∞ budget of the perturbation', parseNumber)
    .option('--pgd-steps <n>', 'PGD steps', parseInteger, 20)
    .option('--step-size <α>', 'PGD step size (default 2.5·ε / steps)', parseNumber)
    .option('--seed <n>', 'seed of every random choice', parseInteger, 1)
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option('--force', 'replace an existing output directory')
    .option('--json', 'print the attack record as JSON')
    .option('--quiet', 'no progress bars')
    .action(async (o: CleanLabelBackdoorCliOptions) => {
      const { dataset } = await loadDataArg(o.data, o);
      const shape = dataset.shape.slice(1);
      const spec = triggerSpecFromOptions(o, shape);
      if (shape.length === 2 || shape.length === 3) checkSpec(spec, shape);
      const trigger = await loadTrigger(spec);
      const model = await TfClassifier.load(o.model);
      try {
        const result = await cleanLabelBackdoor(
          dataset,
          model,
          {
            target: resolveClass(o.target, dataset.classes, 'target'),
            rate: o.rate,
            epsilon: o.epsilon,
            trigger,
            pgd: {
              steps: o.pgdSteps,
              ...(o.stepSize !== undefined ? { stepSize: o.stepSize } : {}),
            },
          },
          new Rng(o.seed),
        );
        await writeDatasetDir(
          o.out,
          result.dataset,
          {
            attack: result.record,
            meta: { createdBy: 'antidote attack clean-label-backdoor', from: o.data },
          },
          { overwrite: o.force ?? false },
        );
        const p = result.perturbation;
        printResult(
          o,
          () =>
            [
              `clean-label backdoor: poisoned ${result.record.indices.length} records of class ${o.target} (${(100 * (result.record.achievedRate ?? 0)).toFixed(1)}% of the class); labels unchanged`,
              `  perturbation L∞ max ${p.maxLinf.toFixed(3)}, mean L2 ${p.meanL2.toFixed(3)}; surrogate misclassifies ${(100 * result.surrogateMisclassified).toFixed(1)}% of them`,
              `wrote ${o.out}`,
            ].join('\n'),
          result.record,
        );
      } finally {
        model.dispose();
      }
    });
}

function fmtList(v: readonly number[]): string {
  return `[${v.map((x) => x.toFixed(2)).join(', ')}]`;
}
