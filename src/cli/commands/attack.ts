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
import { triggerPreview } from '../../eval/trigger-preview.js';
import { renderImageGrid } from '../../report/image-grid.js';
import { writeFileAtomic } from '../../util/fs.js';
import { Rng } from '../../util/rng.js';
import { loadDataArg } from '../data-arg.js';
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
interface CommonAttackOptions extends OutputOptions {
  data: string;
  out: string;
  seed: number;
  force?: boolean;
  preview?: string;
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
  if (entry.preview) {
    cmd.option('--preview <png>', 'also write a PNG grid of clean vs triggered examples');
  }
  cmd
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
  const loaded = await loadDataArg(o.data, o);
  const rng = new Rng(o.seed);
  const outcome = await runAttackEntry(
    entry,
    { loaded, data: o.data, rng, loadData: (spec) => loadDataArg(spec, o) },
    options,
  );
  const preview = o.preview ? previewPng(loaded.dataset, outcome, rng) : undefined;
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
  printResult(
    o,
    () =>
      `${outcome.summary}\nwrote ${o.out}` + (preview && o.preview ? `\nwrote ${o.preview}` : ''),
    outcome.record,
  );
}

/** A PNG grid of clean vs triggered examples of the stamped trigger. */
function previewPng(ds: Dataset, outcome: AttackOutcome, rng: Rng): Uint8Array | undefined {
  if (!outcome.trigger) return undefined;
  const p = triggerPreview(ds, outcome.trigger, 8, rng.fork('preview'));
  return renderImageGrid([p.clean, p.triggered], { scale: 4 });
}
