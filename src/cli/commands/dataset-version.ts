import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { AntidoteError } from '../../errors.js';
import {
  appendAudit,
  checkoutVersion,
  collectGarbage,
  commitVersion,
  diffVersions,
  resolveVersion,
  type VersionRecord,
} from '../../integrity/index.js';
import { registeredModelObjects } from '../../registry/model-content.js';
import { collectSharedGarbage, type SharedGcResult } from '../../registry/pg-object-gc.js';
import { PgObjectStore } from '../../registry/pg-object-store.js';
import { SqlCatalogueStore } from '../../registry/sql-store.js';
import { resolveProjectDir } from '../../registry/store.js';
import { type OutputOptions, printResult } from '../output.js';
import { formatDiff, recordsOfDir } from './manifest.js';
import { actorOf, requirePermission } from './policy.js';

interface ProjectOptions extends OutputOptions {
  project?: string;
  key?: string;
}

/**
 * Opens the catalogue of the project found from `--project` or by walking up from the cwd, on the
 * database the global `--store` / `ANTIDOTE_STORE` selects (SQLite by default).
 */
export function openCatalogue(o: { project?: string }, create = false): SqlCatalogueStore {
  return SqlCatalogueStore.open(
    resolveProjectDir({ explicit: o.project, cwd: process.cwd(), create }),
  );
}

function line(v: VersionRecord): string {
  const recs = v.recordCount !== undefined ? `, ${v.recordCount} records` : '';
  return `${v.id}  ${v.manifestDigest.slice(0, 12)}  ${v.createdAt}  ${v.message}${recs}${v.author ? `  (${v.author.slice(0, 20)}…)` : ''}`;
}

/**
 * `antidote dataset commit|log|diff|checkout|gc`: immutable, content-addressed dataset versions;
 * `gc` removes the objects no version references (what killed or failed commits leave).
 */
export function registerDatasetVersionCommand(program: Command): void {
  const cmd =
    program.commands.find((c) => c.name() === 'dataset') ??
    program.command('dataset').description('dataset versions in the project catalogue');
  cmd
    .command('commit <dir>')
    .description('commit DIR as a new immutable dataset version (unchanged data creates none)')
    .requiredOption('-m, --message <msg>', 'commit message')
    .option('--name <name>', 'dataset name (default: the directory name)')
    .option('--project <dir>', 'project folder (default: nearest with .antidote/, else the cwd)')
    .option('--key <file>', 'your signing key: the actor for the policy and the audit log')
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, o: ProjectOptions & { message: string; name?: string }) => {
      const store = openCatalogue(o, true);
      try {
        const name = o.name ?? basename(resolve(dir));
        await requirePermission(store, o.key, 'dataset:write', `dataset:${name}`);
        const { records } = await recordsOfDir(dir);
        const actor = await actorOf(o.key);
        const r = await commitVersion(dir, store, store.objects, {
          name,
          message: o.message,
          ...(actor ? { author: actor } : {}),
          ...(records ? { records } : {}),
        });
        if (r.created) {
          appendAudit(store, {
            actor: actor ?? 'anonymous',
            action: 'dataset.commit',
            subject: `dataset:${r.version.id}`,
            outcome: 'ok',
            digests: {
              manifest: r.version.manifestDigest,
              root: r.version.rootDigest,
              ...(r.version.recordsRoot ? { records: r.version.recordsRoot } : {}),
            },
            details: { message: o.message },
          });
        }
        printResult(
          o,
          r.created
            ? `committed ${line(r.version)}`
            : `unchanged: ${r.version.id} already holds this content`,
          { created: r.created, version: r.version },
        );
      } finally {
        store.close();
      }
    });
  cmd
    .command('gc')
    .description(
      'remove catalogue objects no version references (in the shared PostgreSQL store too) and temporary files of interrupted commits',
    )
    .option('--grace <seconds>', 'keep files younger than this (a commit may be running)', '3600')
    .option('--dry-run', 'only list what would be removed')
    .option('--project <dir>', 'project folder (default: nearest with .antidote/, else the cwd)')
    .option('--key <file>', 'your signing key: the actor for the policy and the audit log')
    .option('--json', 'print the result as JSON')
    .action(async (o: ProjectOptions & { grace: string; dryRun?: boolean }) => {
      const grace = Number(o.grace);
      if (!Number.isFinite(grace) || grace < 0) {
        throw new AntidoteError('INVALID_ARGUMENT', `--grace must be a number of seconds ≥ 0`);
      }
      const store = openCatalogue(o);
      try {
        await requirePermission(store, o.key, 'dataset:write', 'dataset:*');
        const dryRun = o.dryRun === true;
        // The shared store's tables first (one transaction under the catalogue's writer lock),
        // then the local folder (temporaries, and objects earlier releases kept there).
        const shared: SharedGcResult | undefined =
          store.objects instanceof PgObjectStore
            ? collectSharedGarbage(store.db, store.objects, { graceMs: grace * 1000, dryRun })
            : undefined;
        const r = await collectGarbage(store, store.objects, {
          graceMs: grace * 1000,
          dryRun,
          // The registered models' stored content (registry/model-content.ts) stays.
          referenced: await registeredModelObjects(store.db, store.objects),
        });
        const removed = r.objects + r.temps + (shared ? shared.objects + shared.uploads : 0);
        if (!dryRun && removed > 0) {
          appendAudit(store, {
            actor: (await actorOf(o.key)) ?? 'anonymous',
            action: 'dataset.gc',
            subject: 'objects',
            outcome: 'ok',
            details: {
              objects: r.objects,
              temps: r.temps,
              bytes: r.bytes,
              ...(shared
                ? {
                    shared: {
                      objects: shared.objects,
                      uploads: shared.uploads,
                      bytes: shared.bytes,
                    },
                  }
                : {}),
            },
          });
        }
        const verb = dryRun ? 'would remove' : 'removed';
        const lines = [
          `${verb} ${r.objects} unreferenced object(s) and ${r.temps} temporary file(s), ${r.bytes} bytes (${r.kept} referenced kept${r.young ? `, ${r.young} younger than ${grace} s kept` : ''})${shared ? ' from the local folder' : ''}`,
        ];
        if (shared) {
          lines.push(
            `${verb} ${shared.objects} unreferenced object(s) and ${shared.uploads} abandoned upload(s), ${shared.bytes} bytes (${shared.kept} referenced kept${shared.young ? `, ${shared.young} stored or used within ${grace} s kept` : ''}) from the shared store`,
            ...shared.removed.map((g) => `  ${g.digest}  ${g.bytes} bytes`),
          );
        }
        printResult(o, lines.join('\n'), shared ? { ...r, shared } : r);
      } finally {
        store.close();
      }
    });
  cmd
    .command('log [name]')
    .description('list dataset versions (of NAME, or all)')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(async (name: string | undefined, o: ProjectOptions) => {
      const store = openCatalogue(o);
      try {
        const vs = store.listVersions('dataset', name);
        printResult(o, () => (vs.length ? vs.map(line).join('\n') : 'no dataset versions'), vs);
      } finally {
        store.close();
      }
    });
  cmd
    .command('diff <v1> <v2>')
    .description(
      'records added, removed and changed between two versions; label changes listed apart',
    )
    .option('--project <dir>', 'project folder')
    .option('--key <file>', 'your key (actor for the policy)')
    .option('--json', 'print the result as JSON')
    .action(async (v1: string, v2: string, o: ProjectOptions) => {
      const store = openCatalogue(o);
      try {
        await requirePermission(store, o.key, 'dataset:read', `dataset:${v1}..${v2}`);
        const a = resolveVersion(store, 'dataset', v1);
        const b = resolveVersion(store, 'dataset', v2);
        const d = await diffVersions(a, b, store.objects);
        printResult(o, () => formatDiff(d, a.id, b.id), { from: a.id, to: b.id, ...d });
      } finally {
        store.close();
      }
    });
  cmd
    .command('checkout <version> <dir>')
    .description('write VERSION into DIR, every file re-hashed from the object store')
    .option('--force', 'replace DIR if it exists')
    .option('--project <dir>', 'project folder')
    .option('--key <file>', 'your key (actor for the policy)')
    .option('--json', 'print the result as JSON')
    .action(async (version: string, dir: string, o: ProjectOptions & { force?: boolean }) => {
      const store = openCatalogue(o);
      try {
        const v = resolveVersion(store, 'dataset', version);
        await requirePermission(store, o.key, 'dataset:read', `dataset:${v.id}`);
        const m = await checkoutVersion(v, dir, store.objects, { overwrite: !!o.force });
        appendAudit(store, {
          actor: (await actorOf(o.key)) ?? 'anonymous',
          action: 'dataset.checkout',
          subject: `dataset:${v.id}`,
          outcome: 'ok',
          digests: { manifest: v.manifestDigest },
          details: { dir: resolve(dir) },
        });
        printResult(o, `checked out ${v.id} into ${dir} (${m.files.length} files, verified)`, {
          version: v,
          dir,
        });
      } finally {
        store.close();
      }
    });
}
