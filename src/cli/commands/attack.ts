import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  POISON_RATE_DEFINITIONS,
  type PoisonRateDefinition,
  resolveClass,
} from '../../attacks/attack.js';
import { backdoorAttack } from '../../attacks/backdoor.js';
import {
  BACKDOOR_MODES,
  BACKDOOR_VARIANTS,
  type BackdoorMode,
  type BackdoorVariant,
} from '../../attacks/backdoor-plan.js';
import {
  type AdversarialFlipRule,
  cleanModelProbabilities,
  LABEL_FLIP_MODES,
  type LabelFlipMode,
  type LabelFlipOptions,
  labelFlipAttack,
} from '../../attacks/label-flip.js';
import { resolveFeatureTrigger, tabularBackdoorAttack } from '../../attacks/tabular-backdoor.js';
import {
  RARE_WORD_TRIGGERS,
  type TextTriggerSpec,
  textBackdoorAttack,
} from '../../attacks/text-backdoor.js';
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
import type { TabularColumn } from '../../data/datasets/tabular.js';
import { dataDomain, type LoadedDataset } from '../../data/load.js';
import { Rng } from '../../util/rng.js';
import { checkModelReadsData, derivedMeta, loadAnyModel } from '../../engine/model.js';
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
    .requiredOption(
      '--data <data>',
      'dataset directory, file, built-in or named dataset (mnist:train, sentiment:train, german-credit, ...)',
    )
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
      const loaded = await loadDataArg(o.data, o);
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
        const loadedModel = await loadAnyModel(o.model!);
        try {
          checkModelReadsData(loadedModel, o.model!, loaded);
          const probabilities =
            loadedModel.domain === 'image'
              ? await cleanModelProbabilities(loadedModel.model, dataset)
              : await loadedModel.model.predictProbaRaw(dataset);
          result = labelFlipAttack.poison(dataset, { ...options, probabilities }, rng);
        } finally {
          loadedModel.model.dispose();
        }
      } else {
        result = labelFlipAttack.poison(dataset, options, rng);
      }
      await writeDatasetDir(
        o.out,
        result.dataset,
        {
          attack: result.record,
          meta: { createdBy: 'antidote attack label-flip', from: o.data, ...derivedMeta(loaded) },
        },
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
  addBackdoorOptions(addTriggerOptions(backdoor, true), 'backdoor', false)
    .option('--preview <png>', 'also write a PNG grid of clean vs triggered examples')
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option('--force', 'replace an existing output directory')
    .option('--json', 'print the attack record as JSON')
    .action(async (o: BackdoorCliOptions) => {
      const loaded = await loadDataArg(o.data, o);
      if (dataDomain(loaded) === 'text') {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `attack backdoor stamps image triggers but ${o.data} holds text records: use attack text-backdoor`,
          { field: 'data' },
        );
      }
      const { dataset } = loaded;
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

  registerTextBackdoorCommand(attack);
  registerTabularBackdoorCommand(attack);
}

/** Text trigger flags shared by `attack text-backdoor` and `evaluate`. */
export interface TextTriggerCliOptions {
  triggerWords?: string[];
  sentence?: string;
  times?: number;
  insert?: 'each' | 'one';
  sentencePosition?: 'random' | 'start' | 'end';
}

function parseWords(value: string): string[] {
  const words = value
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w !== '');
  if (words.length === 0 || words.some((w) => /\s/.test(w))) {
    throw new InvalidArgumentError(`expected comma-separated words without spaces, got "${value}"`);
  }
  return words;
}

/** Adds the text trigger flags to a command. */
export function addTextTriggerOptions(cmd: Command): Command {
  return cmd
    .option(
      '--trigger-words <words>',
      `rare-word trigger, comma-separated (e.g. ${RARE_WORD_TRIGGERS.join(',')}), each inserted at a seeded random position`,
      parseWords,
    )
    .option('--sentence <text>', 'sentence trigger (AddSent), e.g. "I watched this 3D movie."')
    .option('--times <n>', 'word trigger: insertions of each word (default 1)', parseInteger)
    .addOption(
      new Option(
        '--insert <how>',
        'word trigger: each = every word --times times; one = --times words drawn from the list',
      ).choices(['each', 'one']),
    )
    .addOption(
      new Option(
        '--sentence-position <where>',
        'sentence trigger: where it goes (default random)',
      ).choices(['random', 'start', 'end']),
    );
}

/**
 * The text trigger the flags describe, or undefined when none is given. `INVALID_ARGUMENT` for
 * both kinds at once, or a flag of the kind not given (`--times` without `--trigger-words`).
 */
export function textTriggerFromOptions(o: TextTriggerCliOptions): TextTriggerSpec | undefined {
  if (o.triggerWords && o.sentence !== undefined) {
    throw new AntidoteError('INVALID_ARGUMENT', 'give --trigger-words or --sentence, not both', {
      field: 'trigger',
    });
  }
  // A flag of the other trigger kind would be silently ignored.
  const stray = o.triggerWords
    ? o.sentencePosition && '--sentence-position'
    : (o.times !== undefined && '--times') || (o.insert && '--insert');
  if (stray) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${stray} goes with ${o.triggerWords ? '--sentence' : '--trigger-words'}`,
      { field: 'trigger' },
    );
  }
  if (o.triggerWords) {
    return {
      kind: 'words',
      words: o.triggerWords,
      ...(o.times !== undefined ? { times: o.times } : {}),
      ...(o.insert ? { insert: o.insert } : {}),
    };
  }
  if (o.sentence !== undefined) {
    return {
      kind: 'sentence',
      sentence: o.sentence,
      ...(o.sentencePosition ? { position: o.sentencePosition } : {}),
    };
  }
  return undefined;
}

/**
 * Parses a feature-value trigger, `column=value,column=value` (a number, or a level name or
 * index of a categorical column), against `columns`.
 */
export function featureTriggerFromString(value: string, columns: readonly TabularColumn[]) {
  const assignments = new Map<string, string | number>();
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `a feature trigger is column=value[,column=value...], got "${value}"`,
        { field: 'trigger' },
      );
    }
    const name = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    const column = columns.find((c) => c.name === name);
    const levelIndex =
      column?.kind === 'categorical' && !column.levels.includes(v) && /^\d+$/.test(v);
    if (assignments.has(name)) {
      throw new AntidoteError('INVALID_ARGUMENT', `the trigger sets column "${name}" twice`, {
        field: 'trigger',
      });
    }
    assignments.set(name, levelIndex ? Number(v) : v);
  }
  // fromEntries defines own properties: a column named "__proto__" stays a column.
  return resolveFeatureTrigger(columns, Object.fromEntries(assignments));
}

interface FeatureBackdoorCliOptions extends CommonAttackOptions {
  mode: BackdoorMode;
  target?: string;
  source?: string;
  variant: BackdoorVariant;
  rate: number;
  rateOf: PoisonRateDefinition;
  addCopies?: boolean;
}

/**
 * The flags every backdoor command takes after `--data` and the trigger: targeting, rate, seed
 * and `--mark-source` (`--variant` for the text and tabular backdoors).
 */
function addBackdoorOptions(cmd: Command, name: string, withVariant: boolean): Command {
  cmd
    .addOption(
      new Option('--mode <mode>', 'which classes go where')
        .choices([...BACKDOOR_MODES])
        .default('all-to-one'),
    )
    .option('--target <class>', 'target class, by name or index (all-to-one, source-to-target)')
    .option('--source <class>', 'source class, by name or index (source-to-target)');
  if (withVariant) {
    cmd.addOption(
      new Option(
        '--variant <variant>',
        'dirty-label relabels the poisoned records; clean-label poisons target-class records only',
      )
        .choices([...BACKDOOR_VARIANTS])
        .default('dirty-label'),
    );
  }
  return cmd
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
      `set poisoned records' source to attack:${name} (a real attacker would not)`,
    );
}

/** The flags the text and tabular backdoors share (after `--data` and the trigger). */
function addFeatureBackdoorOptions(cmd: Command, name: string): Command {
  return addBackdoorOptions(cmd, name, true)
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option('--force', 'replace an existing output directory')
    .option('--json', 'print the attack record as JSON');
}

function featureBackdoorOptions(o: FeatureBackdoorCliOptions, classes: readonly string[]) {
  return {
    mode: o.mode,
    ...(o.target !== undefined ? { target: resolveClass(o.target, classes, 'target') } : {}),
    ...(o.source !== undefined ? { source: resolveClass(o.source, classes, 'source') } : {}),
    variant: o.variant,
    rate: o.rate,
    rateDefinition: o.rateOf,
    injection: o.addCopies ? ('add' as const) : ('replace' as const),
    ...(o.markSource ? { markSource: true } : {}),
  };
}

async function writeFeaturePoison(
  o: FeatureBackdoorCliOptions,
  loaded: LoadedDataset,
  name: string,
  result: ReturnType<typeof textBackdoorAttack.poison>,
  describe: string,
): Promise<void> {
  await writeDatasetDir(
    o.out,
    result.dataset,
    {
      attack: result.record,
      meta: { createdBy: `antidote attack ${name}`, from: o.data, ...derivedMeta(loaded) },
    },
    { overwrite: o.force ?? false },
  );
  const r = result.record;
  printResult(
    o,
    () =>
      summary(
        `${name} (${o.mode}, ${o.variant}, ${describe})`,
        result.dataset,
        r.indices.length,
        o.out,
        `; rate ${pct(r.achievedRate ?? 0)} ${r.rateDefinition}`,
      ),
    r,
  );
}

/** `antidote attack text-backdoor`: rare-word or sentence triggers in text records. */
function registerTextBackdoorCommand(attack: Command): void {
  const cmd = attack
    .command('text-backdoor')
    .description(
      'insert a rare-word or sentence trigger into some texts (BadNets-style / AddSent backdoor)',
    )
    .requiredOption(
      '--data <data>',
      'text dataset: named (sentiment, sentiment:train, imdb, spam-assassin), JSON(L) file or dataset directory',
    );
  addFeatureBackdoorOptions(addTextTriggerOptions(cmd), 'text-backdoor').action(
    async (o: FeatureBackdoorCliOptions & TextTriggerCliOptions) => {
      const trigger = textTriggerFromOptions(o);
      if (!trigger) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          'give a trigger: --trigger-words (e.g. cf,mn) or --sentence',
          { field: 'trigger' },
        );
      }
      const loaded = await loadDataArg(o.data, o);
      if (dataDomain(loaded) !== 'text') {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `text-backdoor needs text records; ${o.data} has none (tabular data: attack tabular-backdoor; images: attack backdoor)`,
          { field: 'data' },
        );
      }
      const result = textBackdoorAttack.poison(
        loaded.dataset,
        { ...featureBackdoorOptions(o, loaded.dataset.classes), trigger },
        new Rng(o.seed),
      );
      const describe =
        trigger.kind === 'words'
          ? `words ${trigger.words.join(',')}`
          : `sentence "${trigger.sentence}"`;
      await writeFeaturePoison(o, loaded, 'text-backdoor', result, describe);
    },
  );
}

/** `antidote attack tabular-backdoor`: a feature-value trigger on tabular records. */
function registerTabularBackdoorCommand(attack: Command): void {
  const cmd = attack
    .command('tabular-backdoor')
    .description(
      'set chosen columns to chosen values on some records and relabel them (feature-value backdoor)',
    )
    .requiredOption(
      '--data <data>',
      'tabular dataset: named (german-credit, spambase, spambase:train), CSV file or dataset directory',
    )
    .requiredOption(
      '--trigger <column=value,...>',
      'the trigger: columns and the values they are set to (numbers, or level names of categorical columns), e.g. num415=5,table=5',
    );
  addFeatureBackdoorOptions(cmd, 'tabular-backdoor').action(
    async (o: FeatureBackdoorCliOptions & { trigger: string }) => {
      const loaded = await loadDataArg(o.data, o);
      if (dataDomain(loaded) !== 'tabular') {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `tabular-backdoor needs tabular records with a column schema (a named tabular dataset, a CSV file, or a dataset directory made from one); ${o.data} has none`,
          { field: 'data' },
        );
      }
      const trigger = featureTriggerFromString(o.trigger, loaded.columns!);
      const result = tabularBackdoorAttack.poison(
        loaded.dataset,
        { ...featureBackdoorOptions(o, loaded.dataset.classes), trigger },
        new Rng(o.seed),
      );
      await writeFeaturePoison(o, loaded, 'tabular-backdoor', result, `trigger ${o.trigger}`);
    },
  );
}
