import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import {
  ATTACKS,
  type AttackEntry,
  type AttackOutcome,
  parseAttackOptions,
  runAttackEntry,
} from '../../attacks/registry.js';
import {
  requiredTriggerOptionsSchema,
  textTriggerOptionsSchema,
  triggerOptionsSchema,
} from '../../attacks/trigger-options.js';
import type { Dataset } from '../../data/dataset.js';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import type { LoadedDataset } from '../../data/load.js';
import { AntidoteError } from '../../errors.js';
import { triggeredTestSet } from '../../eval/metrics.js';
import { triggerPreview } from '../../eval/trigger-preview.js';
import { renderImageGrid } from '../../report/image-grid.js';
import { writeFileAtomic } from '../../util/fs.js';
import { Rng } from '../../util/rng.js';
import { addDataOptions, loadDataArg } from '../data-arg.js';
import { addOnnxFlags, type OnnxCliOptions, onnxLoadOptions } from '../onnx-flags.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, printResult } from '../output.js';
import { addSchemaFlags } from '../schema-flags.js';

export {
  featureTriggerFromString,
  type TextTriggerCliOptions,
  type TriggerCliOptions,
  textTriggerFromOptions,
  triggerSpecFromOptions,
} from '../../attacks/trigger-options.js';

/** Adds the image trigger flags to a command (`--trigger` mandatory when `required`). */
export function addTriggerOptions(cmd: Command, required: boolean): Command {
  return addSchemaFlags(cmd, required ? requiredTriggerOptionsSchema : triggerOptionsSchema);
}

/** Adds the text trigger flags to a command. */
export function addTextTriggerOptions(cmd: Command): Command {
  return addSchemaFlags(cmd, textTriggerOptionsSchema);
}

/** The flags every attack sub-command takes besides its own. */
interface CommonAttackOptions extends OutputOptions, OnnxCliOptions {
  data: string;
  out: string;
  seed: number;
  force?: boolean;
  preview?: string;
  exportTriggeredTest?: string;
  testData?: string;
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
 * `antidote attack <name>` for one registry entry: `--data`, the entry's flags (derived from its
 * options schema), `--seed`, `--out`, `--force`, `--json`, `--quiet` (and `--preview` for image
 * triggers).
 */
function registerAttackEntry(group: Command, entry: AttackEntry): void {
  const cmd = group
    .command(entry.name)
    .description(entry.title)
    .requiredOption('--data <data>', entry.dataHelp);
  addSchemaFlags(cmd, entry.options);
  // An attack that reads a model (--model) reads an ONNX one with its layout and normalisation.
  if ('model' in entry.options.shape) addOnnxFlags(cmd);
  if (entry.preview) {
    cmd.option('--preview <png>', 'also write a PNG grid of clean vs triggered examples');
  }
  if (entry.triggeredTest) {
    cmd
      .option(
        '--export-triggered-test <dir>',
        'also write the test records of --test-data the backdoor targets, with the test-time trigger (for evaluate --triggered)',
      )
      .option('--test-data <data>', 'test set for --export-triggered-test (e.g. mnist:test)');
  }
  addDataOptions(cmd)
    .option('--seed <n>', 'seed of every random choice', parseInteger, 1)
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option('--force', 'replace an existing output directory')
    .option('--json', 'print the attack record as JSON')
    .option('--quiet', 'no progress bars')
    .action((o: CommonAttackOptions) => runAttackCommand(entry, o));
}

/** Registers the entries of `entries` not registered yet under the `attack` group. */
export function registerAttackEntries(program: Command, entries: readonly AttackEntry[]): void {
  const group = attackGroup(program);
  for (const entry of entries) {
    if (!group.commands.some((c) => c.name() === entry.name)) registerAttackEntry(group, entry);
  }
}

/**
 * `antidote attack <name>`: one sub-command per entry of the attack registry
 * (`attacks/registry.ts`). Each poisons a copy of a dataset and writes it as a dataset directory
 * whose `dataset.json` carries the attack record (the ground truth).
 */
export function registerAttackCommand(program: Command): void {
  registerAttackEntries(program, ATTACKS);
}

/** Loads the data, runs the attack, writes the poisoned dataset (and preview), prints. */
async function runAttackCommand(entry: AttackEntry, o: CommonAttackOptions): Promise<void> {
  const options = parseAttackOptions(entry, o);
  entry.check?.(options);
  checkExportFlags(o);
  const loaded = await loadDataArg(o.data, o);
  const test = o.testData ? await loadDataArg(o.testData, o) : undefined;
  if (test) checkSameRecords(loaded, test, o);
  const rng = new Rng(o.seed);
  const outcome = await runAttackEntry(
    entry,
    {
      loaded,
      data: o.data,
      rng,
      loadData: (spec) => loadDataArg(spec, o),
      modelOptions: onnxLoadOptions(o),
    },
    options,
  );
  const preview = o.preview ? previewPng(loaded.dataset, outcome, rng) : undefined;
  const triggered = test ? triggeredTest(entry, outcome, test, o, rng) : undefined;
  await writeDatasetDir(
    o.out,
    outcome.dataset,
    {
      attack: outcome.record,
      meta: { createdBy: `antidote attack ${entry.name}`, from: o.data, ...outcome.meta },
    },
    { overwrite: o.force ?? false },
  );
  if (preview && o.preview) await writeFileAtomic(o.preview, preview);
  if (triggered && o.exportTriggeredTest) {
    await writeDatasetDir(o.exportTriggeredTest, triggered.dataset, triggered, {
      overwrite: o.force ?? false,
    });
  }
  printResult(
    o,
    () =>
      `${outcome.summary}\nwrote ${o.out}` +
      (preview && o.preview ? `\nwrote ${o.preview}` : '') +
      (triggered && o.exportTriggeredTest
        ? `\nwrote ${o.exportTriggeredTest} (${triggered.dataset.shape[0]} triggered test records)`
        : ''),
    outcome.record,
  );
}

/**
 * `--export-triggered-test` needs `--test-data` (and the reverse), and its directory must be
 * free unless `--force`: checked before anything is loaded or written.
 */
function checkExportFlags(o: CommonAttackOptions): void {
  if (Boolean(o.exportTriggeredTest) !== Boolean(o.testData)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      '--export-triggered-test and --test-data go together',
      { field: o.testData ? 'exportTriggeredTest' : 'testData' },
    );
  }
  if (o.exportTriggeredTest && !o.force && existsSync(o.exportTriggeredTest)) {
    throw new AntidoteError(
      'ALREADY_EXISTS',
      `${o.exportTriggeredTest} exists (use --force to replace it)`,
      { path: o.exportTriggeredTest },
    );
  }
}

/** `INVALID_ARGUMENT` unless the test set has the training set's record shape and classes. */
function checkSameRecords(train: LoadedDataset, test: LoadedDataset, o: CommonAttackOptions) {
  const a = train.dataset;
  const b = test.dataset;
  const same =
    a.shape.length === b.shape.length &&
    a.shape.every((d, i) => i === 0 || d === b.shape[i]) &&
    a.classes.length === b.classes.length &&
    a.classes.every((c, i) => c === b.classes[i]);
  if (!same) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--test-data ${o.testData} holds [${b.shape.slice(1).join(', ')}] records of classes [${b.classes.join(', ')}], --data ${o.data} [${a.shape.slice(1).join(', ')}] of [${a.classes.join(', ')}]`,
      { field: 'testData' },
    );
  }
}

/**
 * The test records the backdoor targets (true label ≠ the attacker's), with the attack's
 * test-time trigger, their true labels as labels and the attacker's labels in `meta.targets`
 * (what `evaluate --triggered DIR --targets-from targets` reads).
 */
function triggeredTest(
  entry: AttackEntry,
  outcome: AttackOutcome,
  test: LoadedDataset,
  o: CommonAttackOptions,
  rng: Rng,
) {
  const t = outcome.testTrigger;
  if (!t) {
    throw new AntidoteError('INVALID_ARGUMENT', `attack ${entry.name} has no test-time trigger`, {
      field: 'exportTriggeredTest',
    });
  }
  const ds = test.dataset;
  const set = triggeredTestSet(ds, t, t.targeting, rng.fork('export-triggered-test'));
  const indices = Array.from(set.indices);
  const dataset: Dataset = {
    x: set.x,
    shape: [set.n, ...ds.shape.slice(1)],
    y: set.yTrue,
    classes: ds.classes,
    ids: indices.map((i) => ds.ids[i]!),
  };
  return {
    dataset,
    meta: {
      createdBy: `antidote attack ${entry.name} --export-triggered-test`,
      from: o.testData,
      attack: entry.name,
      seed: o.seed,
      targeting: t.targeting,
      targets: Array.from(set.targets),
    },
  };
}

/** A PNG grid of clean vs triggered examples of the stamped trigger. */
function previewPng(ds: Dataset, outcome: AttackOutcome, rng: Rng): Uint8Array | undefined {
  if (!outcome.trigger) return undefined;
  const p = triggerPreview(ds, outcome.trigger, 8, rng.fork('preview'));
  return renderImageGrid([p.clean, p.triggered], { scale: 4 });
}
