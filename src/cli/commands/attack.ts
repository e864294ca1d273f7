import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  POISON_RATE_DEFINITIONS,
  type PoisonRateDefinition,
  resolveClass,
} from '../../attacks/attack.js';
import { BACKDOOR_MODES, type BackdoorMode, backdoorAttack } from '../../attacks/backdoor.js';
import {
  type AdversarialFlipRule,
  cleanModelProbabilities,
  LABEL_FLIP_MODES,
  type LabelFlipMode,
  type LabelFlipOptions,
  labelFlipAttack,
} from '../../attacks/label-flip.js';
import {
  checkSpec,
  loadTrigger,
  TRIGGER_KINDS,
  TRIGGER_POSITIONS,
  type TriggerKind,
  type TriggerPosition,
  type TriggerSpec,
} from '../../attacks/triggers.js';
import type { Dataset } from '../../data/dataset.js';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { Rng } from '../../data/rng.js';
import { TfClassifier } from '../../engine/tf-classifier.js';
import { AntidoteError } from '../../errors.js';
import { triggerPreview } from '../../eval/trigger-preview.js';
import { renderImageGrid } from '../../report/image-grid.js';
import { writeFileAtomic } from '../../util/fs.js';
import { loadDataArg } from '../data-arg.js';
import { parseInteger, parseNumber } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';

/** Trigger flags shared by `attack backdoor` and `evaluate`. */
export interface TriggerCliOptions {
  trigger?: TriggerKind;
  image?: string;
  size?: number;
  position?: TriggerPosition;
  margin?: number;
  alpha?: number;
  distance?: number;
  value?: number;
  values?: [number, number];
  blendSeed?: number;
}

function parsePair(value: string): [number, number] {
  const parts = value.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 2 || !parts.every(Number.isFinite)) {
    throw new InvalidArgumentError(`expected two numbers "a,b", got "${value}"`);
  }
  return [parts[0], parts[1]];
}

/** Adds the trigger flags to a command. */
export function addTriggerOptions(cmd: Command, required: boolean): Command {
  const kind = new Option('--trigger <kind>', 'trigger kind').choices([...TRIGGER_KINDS]);
  if (required) kind.makeOptionMandatory();
  return cmd
    .addOption(kind)
    .option(
      '--image <png>',
      'image trigger: a PNG file, or cyan-square / bright-square (default by channels)',
    )
    .option('--size <pixels>', 'checkerboard / image trigger side (default 4)', parseInteger)
    .addOption(
      new Option('--position <where>', 'checkerboard / image position').choices([
        ...TRIGGER_POSITIONS,
      ]),
    )
    .option('--margin <pixels>', 'gap to the border at a corner (default 1)', parseInteger)
    .option(
      '--alpha <weight>',
      'image: opacity (default 1); blend: key weight (default 0.2)',
      parseNumber,
    )
    .option(
      '--distance <pixels>',
      'pixel / pattern: distance from the bottom-right corner (default 2)',
      parseInteger,
    )
    .option('--value <v>', 'pixel / pattern: value written (default 1)', parseNumber)
    .option('--values <a,b>', 'checkerboard: the two alternating values (default 1,0)', parsePair)
    .option('--blend-seed <n>', 'blend: seed of the noise key (default 0)', parseInteger);
}

/**
 * The trigger spec the flags describe, for images of `recordShape`. Image triggers default to
 * the built-in cyan square on colour images and the bright square on grayscale ones.
 */
export function triggerSpecFromOptions(
  o: TriggerCliOptions,
  recordShape: readonly number[],
): TriggerSpec {
  const channels = recordShape.length === 3 ? recordShape[2] : 1;
  switch (o.trigger) {
    case 'pixel':
    case 'pattern':
      return {
        kind: o.trigger,
        ...(o.distance !== undefined ? { distance: o.distance } : {}),
        ...(o.value !== undefined ? { value: o.value } : {}),
      };
    case 'checkerboard':
      return {
        kind: 'checkerboard',
        size: o.size ?? 4,
        ...(o.position ? { position: o.position } : {}),
        ...(o.margin !== undefined ? { margin: o.margin } : {}),
        ...(o.values ? { values: o.values } : {}),
      };
    case 'image':
      return {
        kind: 'image',
        image: o.image ?? (channels >= 3 ? 'cyan-square' : 'bright-square'),
        size: o.size ?? 4,
        ...(o.position ? { position: o.position } : {}),
        ...(o.margin !== undefined ? { margin: o.margin } : {}),
        ...(o.alpha !== undefined ? { alpha: o.alpha } : {}),
      };
    case 'blend':
      return {
        kind: 'blend',
        alpha: o.alpha ?? 0.2,
        ...(o.blendSeed !== undefined ? { seed: o.blendSeed } : {}),
        ...(o.image ? { image: o.image } : {}),
      };
    default:
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `--trigger must be one of ${TRIGGER_KINDS.join(', ')}`,
        {
          field: 'trigger',
        },
      );
  }
}

interface CommonAttackOptions extends OutputOptions {
  data: string;
  out: string;
  seed: number;
  markSource?: boolean;
  force?: boolean;
}

interface BackdoorCliOptions extends CommonAttackOptions, TriggerCliOptions {
  mode: BackdoorMode;
  target?: string;
  source?: string;
  rate: number;
  rateOf: PoisonRateDefinition;
  addCopies?: boolean;
  preview?: string;
}

interface LabelFlipCliOptions extends CommonAttackOptions {
  mode: LabelFlipMode;
  rate?: number;
  count?: number;
  source?: string;
  target?: string;
  model?: string;
  rule: AdversarialFlipRule;
}

function summary(name: string, ds: Dataset, count: number, out: string, extra: string): string {
  return `${name}: poisoned ${count} of ${ds.shape[0]} records (${pct(ds.shape[0] ? count / ds.shape[0] : 0)})${extra}\nwrote ${out}`;
}

/**
 * `antidote attack label-flip|backdoor`: poisons a copy of a dataset and writes it as a dataset
 * directory whose `dataset.json` carries the attack record (the ground truth).
 */
export function registerAttackCommand(program: Command): void {
  const attack = program
    .command('attack')
    .description(
      'poison a copy of a dataset (red team); the output is an ordinary dataset directory',
    );

  attack
    .command('label-flip')
    .description(
      'flip labels: random, targeted (source → target), swap, or adversarial (needs a clean model)',
    )
    .requiredOption('--data <data>', 'dataset directory or built-in name (mnist, mnist:train, ...)')
    .addOption(
      new Option('--mode <mode>', 'flip strategy').choices([...LABEL_FLIP_MODES]).default('random'),
    )
    .option('--rate <share>', 'budget as a share of the training set, in [0, 1)', parseNumber)
    .option('--count <n>', 'budget as a number of records', parseInteger)
    .option('--source <class>', 'targeted: class to relabel; swap: first class')
    .option('--target <class>', 'targeted: new label; swap: second class')
    .option('--model <dir>', 'adversarial: the clean model whose confidence ranks the records')
    .addOption(
      new Option('--rule <rule>', 'adversarial ranking (Xiao et al. 2015)')
        .choices(['farthest-first', 'nearest-first'])
        .default('farthest-first'),
    )
    .option('--seed <n>', 'seed of every random choice', parseInteger, 1)
    .option(
      '--mark-source',
      "set poisoned records' source to attack:label-flip (a real attacker would not)",
    )
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option('--force', 'replace an existing output directory')
    .option('--json', 'print the attack record as JSON')
    .action(async (o: LabelFlipCliOptions) => {
      if (o.rate === undefined && o.count === undefined) {
        throw new AntidoteError('INVALID_ARGUMENT', 'give --rate or --count', { field: 'rate' });
      }
      if (o.mode === 'adversarial' && !o.model) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          'adversarial label flip needs --model (a clean model directory)',
          {
            field: 'model',
          },
        );
      }
      const { dataset } = await loadDataArg(o.data, o);
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
      const rng = new Rng(o.seed);
      let result: ReturnType<typeof labelFlipAttack.poison>;
      if (o.mode === 'adversarial') {
        // Validate the budget before loading the model.
        const k = dataset.classes.length;
        labelFlipAttack.poison(
          dataset,
          { ...options, probabilities: new Float32Array(dataset.shape[0] * k).fill(1 / k) },
          rng,
        );
        const model = await TfClassifier.load(o.model!);
        try {
          const probabilities = await cleanModelProbabilities(model, dataset);
          result = labelFlipAttack.poison(dataset, { ...options, probabilities }, rng);
        } finally {
          model.dispose();
        }
      } else {
        result = labelFlipAttack.poison(dataset, options, rng);
      }
      await writeDatasetDir(
        o.out,
        result.dataset,
        { attack: result.record, meta: { createdBy: 'antidote attack label-flip', from: o.data } },
        { overwrite: o.force ?? false },
      );
      printResult(
        o,
        () =>
          summary(
            `label-flip (${o.mode})`,
            result.dataset,
            result.record.indices.length,
            o.out,
            '',
          ),
        result.record,
      );
    });

  const backdoor = attack
    .command('backdoor')
    .description('stamp a trigger on some images and relabel them (BadNets-style backdoor)')
    .requiredOption(
      '--data <data>',
      'dataset directory or built-in name (mnist, mnist:train, ...)',
    );
  addTriggerOptions(backdoor, true)
    .addOption(
      new Option('--mode <mode>', 'which classes go where')
        .choices([...BACKDOOR_MODES])
        .default('all-to-one'),
    )
    .option('--target <class>', 'target class (all-to-one, source-to-target)')
    .option('--source <class>', 'source class (source-to-target)')
    .requiredOption('--rate <share>', 'poison rate in [0, 1)', parseNumber)
    .addOption(
      new Option('--rate-of <definition>', 'what the rate is a share of')
        .choices([...POISON_RATE_DEFINITIONS])
        .default('of-training-set'),
    )
    .option('--add-copies', 'append poisoned copies instead of replacing the originals')
    .option('--seed <n>', 'seed of every random choice', parseInteger, 1)
    .option(
      '--mark-source',
      "set poisoned records' source to attack:backdoor (a real attacker would not)",
    )
    .option('--preview <png>', 'also write a PNG grid of clean vs triggered examples')
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option('--force', 'replace an existing output directory')
    .option('--json', 'print the attack record as JSON')
    .action(async (o: BackdoorCliOptions) => {
      const { dataset } = await loadDataArg(o.data, o);
      const shape = dataset.shape.slice(1);
      const spec = triggerSpecFromOptions(o, shape);
      if (shape.length === 2 || shape.length === 3) checkSpec(spec, shape);
      const trigger = await loadTrigger(spec); // an unreadable PNG fails here, before any write
      const rng = new Rng(o.seed);
      const result = backdoorAttack.poison(
        dataset,
        {
          trigger,
          mode: o.mode,
          ...(o.target !== undefined
            ? { target: resolveClass(o.target, dataset.classes, 'target') }
            : {}),
          ...(o.source !== undefined
            ? { source: resolveClass(o.source, dataset.classes, 'source') }
            : {}),
          rate: o.rate,
          rateDefinition: o.rateOf,
          injection: o.addCopies ? 'add' : 'replace',
          ...(o.markSource ? { markSource: true } : {}),
        },
        rng,
      );
      const preview = o.preview
        ? (() => {
            const p = triggerPreview(dataset, trigger, 8, rng.fork('preview'));
            return renderImageGrid([p.clean, p.triggered], { scale: 4 });
          })()
        : undefined;
      await writeDatasetDir(
        o.out,
        result.dataset,
        { attack: result.record, meta: { createdBy: 'antidote attack backdoor', from: o.data } },
        { overwrite: o.force ?? false },
      );
      if (preview && o.preview) await writeFileAtomic(o.preview, preview);
      const r = result.record;
      printResult(
        o,
        () =>
          summary(
            `backdoor (${o.mode}, ${o.trigger})`,
            result.dataset,
            r.indices.length,
            o.out,
            `; rate ${pct(r.achievedRate ?? 0)} ${r.rateDefinition}`,
          ) + (o.preview ? `\nwrote ${o.preview}` : ''),
        r,
      );
    });
}
