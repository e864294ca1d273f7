import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Dataset } from '../../data/dataset.js';
import { isDatasetDir, readDatasetDir } from '../../data/dataset-dir.js';
import { recordViews } from '../../data/record-view.js';
import { AntidoteError } from '../../errors.js';
import {
  assertVerified,
  createManifest,
  diffManifests,
  type IntegrityProblem,
  MANIFEST_FILE,
  type Manifest,
  type ManifestDiff,
  manifestDigest,
  type RecordInput,
  readManifest,
  verifyManifest,
  writeManifest,
} from '../../integrity/index.js';
import { manifestOnQueue } from '../../jobs/manifest-jobs.js';
import { type OutputOptions, printResult } from '../output.js';
import * as queueFlags from '../queue-flags.js';

/** The records of a dataset as integrity sees them (see `recordViews`). */
export const datasetRecords: (ds: Dataset) => Iterable<RecordInput> = recordViews;

/**
 * The records of `dir` when it is a dataset directory (`dataset.json` + `data.npz`), else
 * undefined. With `lenient`, a dataset that no longer parses (e.g. a tampered `data.npz`) gives
 * undefined plus the reason, so file-level checks can still name the file.
 */
export async function recordsOfDir(
  dir: string,
  lenient = false,
): Promise<{ records?: RecordInput[]; note?: string }> {
  if (!(await isDatasetDir(dir))) return {};
  try {
    const { dataset } = await readDatasetDir(dir, { checkFinite: false });
    return { records: [...datasetRecords(dataset)] };
  } catch (e) {
    if (!lenient) throw e;
    return { note: `records not checked: ${(e as Error).message}` };
  }
}

/** Human-readable lines for integrity problems. */
export function formatProblems(problems: readonly IntegrityProblem[]): string {
  return problems.map((p) => `  ✗ ${p.message}`).join('\n');
}

/** Human-readable manifest diff. */
export function formatDiff(d: ManifestDiff, a: string, b: string): string {
  if (d.identical) return `${a} and ${b} are identical`;
  const lines = [`${a} → ${b}`];
  const f = d.files;
  for (const p of f.added) lines.push(`  + file ${p}`);
  for (const p of f.removed) lines.push(`  - file ${p}`);
  for (const p of f.changed) lines.push(`  ~ file ${p}`);
  if (d.records) {
    const r = d.records;
    lines.push(
      `  records: ${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed, ${r.labelChanged.length} label changes`,
    );
    const show = <T>(xs: T[], fmt: (x: T) => string) => {
      for (const x of xs.slice(0, 20)) lines.push(fmt(x));
      if (xs.length > 20) lines.push(`    … ${xs.length - 20} more`);
    };
    if (r.labelChanged.length) {
      lines.push('  LABEL CHANGES (possible label flipping):');
      show(
        r.labelChanged,
        (c) =>
          `    ! ${c.id}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}${c.featuresChanged ? ' (features changed too)' : ''}`,
      );
    }
    show(r.added, (id) => `    + ${id}`);
    show(r.removed, (id) => `    - ${id}`);
    show(r.changed, (c) => `    ~ ${c.id} (${c.fields.join(', ')})`);
  }
  return lines.join('\n');
}

async function manifestOf(arg: string): Promise<Manifest> {
  if (existsSync(join(arg, MANIFEST_FILE))) return readManifest(join(arg, MANIFEST_FILE));
  if (existsSync(arg) && !(await import('node:fs')).statSync(arg).isDirectory())
    return readManifest(arg);
  if (!existsSync(arg))
    throw new AntidoteError('NOT_FOUND', `${arg} does not exist`, { path: arg });
  const { records } = await recordsOfDir(arg);
  return createManifest(arg, records ? { records } : {});
}

/** The options of `manifest create`. */
type CreateCliOptions = OutputOptions & queueFlags.QueueCliOptions & { name?: string };

/** `manifest create` in this process. */
async function manifestHere(dir: string, o: { name?: string }): Promise<Manifest> {
  const { records } = await recordsOfDir(dir);
  return createManifest(dir, {
    ...(o.name ? { name: o.name } : {}),
    ...(records ? { records } : {}),
  });
}

/** `manifest create --queue`: files and records hashed by `antidote worker`s (same manifest). */
async function manifestOnQueueCli(
  queue: NonNullable<ReturnType<typeof queueFlags.queueTarget>>,
  dir: string,
  o: OutputOptions & { name?: string },
): Promise<Manifest> {
  const dataset = (await isDatasetDir(dir))
    ? (await readDatasetDir(dir, { checkFinite: false })).dataset
    : undefined;
  const progress = queueFlags.queueProgress('manifest', o);
  return manifestOnQueue(queue, dir, {
    ...(o.name ? { name: o.name } : {}),
    ...(dataset ? { dataset } : {}),
    onProgress: progress.onProgress,
  }).finally(progress.stop);
}

/** `antidote manifest create|verify|diff`. */
export function registerManifestCommand(program: Command): void {
  const cmd = program
    .command('manifest')
    .description('hash a directory into a manifest, verify it, diff two');
  cmd
    .command('create <dir>')
    .description(
      `write DIR/${MANIFEST_FILE}: file digests, root digest, per-record hashes and Merkle root`,
    )
    .option('--name <name>', 'manifest name (default: the directory name)')
    .option('--json', 'print the result as JSON')
    .option('--queue <url>', `${queueFlags.QUEUE_HELP} (files and records hashed in shards)`)
    .option('--queue-name <name>', queueFlags.QUEUE_NAME_HELP, queueFlags.DEFAULT_QUEUE_NAME)
    .action(async (dir: string, o: CreateCliOptions) => {
      const queue = queueFlags.queueTarget(o);
      const m = queue ? await manifestOnQueueCli(queue, dir, o) : await manifestHere(dir, o);
      const path = await writeManifest(dir, m);
      printResult(
        o,
        `${path}: ${m.files.length} files, root ${m.rootDigest}` +
          (m.records ? `, ${m.records.count} records, Merkle root ${m.records.merkleRoot}` : ''),
        {
          path,
          manifestDigest: manifestDigest(m),
          rootDigest: m.rootDigest,
          files: m.files.length,
          ...(m.records ? { records: m.records.count, merkleRoot: m.records.merkleRoot } : {}),
        },
      );
    });
  cmd
    .command('verify <dir>')
    .description(
      're-hash DIR against its manifest; name every missing, extra or changed file and record',
    )
    .option('--manifest <file>', `manifest to check against (default DIR/${MANIFEST_FILE})`)
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, o: OutputOptions & { manifest?: string }) => {
      const m = await readManifest(o.manifest ?? join(dir, MANIFEST_FILE));
      const { records, note } = m.records ? await recordsOfDir(dir, true) : {};
      const r = await verifyManifest(dir, m, records ? { records } : {});
      printResult(
        o,
        r.ok
          ? `${dir}: OK (${m.files.length} files${m.records ? `, ${m.records.count} records` : ''})`
          : `${dir}: FAILED\n${formatProblems(r.problems)}${note ? `\n  (${note})` : ''}`,
        { ok: r.ok, problems: r.problems, ...(note ? { note } : {}) },
      );
      assertVerified(r, dir);
    });
  cmd
    .command('diff <a> <b>')
    .description(
      'added, removed and changed files and records from A to B; label changes listed apart',
    )
    .option('--json', 'print the result as JSON')
    .action(async (a: string, b: string, o: OutputOptions) => {
      const d = diffManifests(await manifestOf(a), await manifestOf(b));
      printResult(o, () => formatDiff(d, a, b), d);
    });
}
