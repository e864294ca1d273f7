import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AntidoteError } from '../../errors.js';
import {
  type CachedModel,
  listModelCache,
  modelCacheDir,
  parseByteSize,
  pruneModelCache,
} from '../../registry/model-cache.js';
import { writeModelContent } from '../../registry/model-content.js';
import type { ModelVersion } from '../../registry/model-registry.js';
import { addOnnxFlags, type OnnxCliOptions, onnxLoadOptions } from '../onnx-flags.js';
import { printResult } from '../output.js';
import { actorAndPolicy, openRegistry, type RegistryCliOptions } from './registry-common.js';

/** Options of `registry register`. */
interface RegisterCliOptions extends RegistryCliOptions, OnnxCliOptions {
  name: string;
  scan?: string;
}

function line(v: ModelVersion): string {
  const lineage = v.info.lineage ? v.info.lineage.datasets.map((d) => d.name).join(',') : '-';
  return `${v.id.padEnd(24)} ${v.stage.padEnd(10)} ${v.rootDigest.slice(0, 12)}  signed:${v.info.signed ? 'yes' : 'no '}  lineage:${lineage}  ${v.registeredAt}`;
}

/** Options of `registry pull`. */
interface PullCliOptions extends RegistryCliOptions {
  out: string;
  force?: boolean;
}

/** Options of `registry cache`. */
interface CacheCliOptions extends RegistryCliOptions {
  prune?: boolean;
  maxSize?: string;
  dryRun?: boolean;
  grace: string;
}

/** `123.4 MiB`-style size. */
function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

function cacheLine(e: CachedModel, reason?: string): string {
  const who = e.leftover
    ? '(interrupted fetch)'
    : e.versions.map((v) => `${v.id}:${v.stage}`).join(',') || '(no registered version)';
  return `${e.digest.slice(0, 16)}…  ${size(e.bytes).padStart(10)}  used ${e.lastUsed.toISOString()}  ${who}${reason ? `  → removed (${reason})` : ''}`;
}

/**
 * `antidote registry register|list|show|pull|cache`: versions of named models and their stages,
 * their content fetched from the catalogue's object store, and this machine's cache of fetched
 * copies.
 */
export function registerRegistryCommand(program: Command): void {
  const cmd = program
    .command('registry')
    .description('model registry: versions, stages (candidate → staging → production → archived)');
  const register = cmd
    .command('register <model>')
    .description(
      'register a model (a model directory, or a .onnx file with its sidecar JSON) as a new candidate version (name@N)',
    )
    .requiredOption('--name <name>', 'model name')
    .option('--scan <report>', 'scan report (report.json of antidote scan) to register with it')
    .option('--key <file>', 'your key; needs model:register when a policy is installed')
    .option('--project <dir>', 'project folder (default: nearest with .antidote/, else here)')
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, o: RegisterCliOptions) => {
      const reg = openRegistry(o, true);
      try {
        const { actor, policy } = await actorAndPolicy(reg, o.key);
        const { onnx } = onnxLoadOptions(o);
        const r = await reg.register(dir, {
          name: o.name,
          actor,
          ...(policy ? { policy } : {}),
          ...(o.scan ? { scanReport: o.scan } : {}),
          ...(onnx ? { onnx } : {}),
        });
        printResult(
          o,
          r.created
            ? `registered ${r.version.id} (candidate, ${r.version.info.files} files, root ${r.version.rootDigest.slice(0, 16)}…)`
            : `unchanged: identical to ${r.version.id} (${r.version.stage})`,
          r,
        );
      } finally {
        reg.close();
      }
    });
  // An ONNX model's layout and normalisation, recorded in the version (gate and serve use them).
  addOnnxFlags(register);
  cmd
    .command('list [name]')
    .description('list model versions with their stages')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action((name: string | undefined, o: RegistryCliOptions) => {
      const reg = openRegistry(o);
      try {
        const vs = reg.list(name);
        printResult(o, () => vs.map(line).join('\n') || 'no registered models', vs);
      } finally {
        reg.close();
      }
    });
  cmd
    .command('show <version>')
    .description('one version: stage, digests, lineage, scan, gate results, stage history')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action((ref: string, o: RegistryCliOptions) => {
      const reg = openRegistry(o);
      try {
        const v = reg.get(ref);
        const gates = reg.gateResults(v.id, 10);
        const history = reg.transitions(v.name).filter((t) => t.versionId === v.id);
        printResult(
          o,
          () =>
            [
              line(v),
              `dir: ${v.dir}`,
              ...(v.info.domain
                ? [
                    `model: ${v.info.domain}${v.info.arch ? ` ${v.info.arch}` : ''}, classes: ${(v.info.classes ?? []).join(', ')}`,
                  ]
                : []),
              `manifest: ${v.manifestDigest}`,
              `content: ${v.info.content?.stored ? 'stored in the catalogue (registry pull fetches it)' : 'not stored (registered before content was stored: only its own machine has it)'}`,
              ...(v.info.lineage
                ? v.info.lineage.datasets.map((d) => `trained on: ${d.name} ${d.rootDigest}`)
                : ['trained on: (no provenance)']),
              ...(v.info.scan ?? []).map(
                (s) =>
                  `scan ${s.method}: ${s.flagged}/${s.records} flagged, suspicious: ${s.suspiciousClasses.join(',') || 'none'}`,
              ),
              ...gates.map((g) => `gate ${g.at}: ${g.passed ? 'PASSED' : 'FAILED'}`),
              ...history.map(
                (t) =>
                  `${t.at} ${t.from ?? '-'} → ${t.to} (${t.kind}) by ${t.actor}${t.reason ? `: ${t.reason}` : ''}`,
              ),
            ].join('\n'),
          { version: v, gateResults: gates, transitions: history },
        );
      } finally {
        reg.close();
      }
    });
  cmd
    .command('cache')
    .description(
      "list this machine's copies of models fetched from the catalogue (.antidote/models/, by gate, serve, promote); --prune removes those no production, staging or candidate version uses, and --max-size bounds the rest (least recently used first; production and staging copies stay). A removed copy is fetched again, verified, when next needed.",
    )
    .option(
      '--prune',
      'remove unreferenced and archived copies and leftovers of interrupted fetches',
    )
    .option(
      '--max-size <size>',
      'with --prune: keep the cache at or below this size (bytes, or 500M, 2G …)',
    )
    .option('--dry-run', 'with --prune: only list what would be removed')
    .option(
      '--grace <seconds>',
      'keep leftovers of fetches younger than this (one may be running)',
      '3600',
    )
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(async (o: CacheCliOptions) => {
      if (!o.prune && (o.maxSize !== undefined || o.dryRun)) {
        throw new AntidoteError('INVALID_ARGUMENT', '--max-size and --dry-run go with --prune');
      }
      const grace = Number(o.grace);
      if (!Number.isFinite(grace) || grace < 0) {
        throw new AntidoteError('INVALID_ARGUMENT', '--grace must be a number of seconds ≥ 0');
      }
      const maxBytes = o.maxSize !== undefined ? parseByteSize(o.maxSize) : undefined;
      const reg = openRegistry(o);
      try {
        const versions = reg.list();
        const dir = modelCacheDir(reg.store.projectDir);
        if (!o.prune) {
          const list = await listModelCache(reg.store.projectDir, versions);
          const total = list.reduce((t, e) => t + e.bytes, 0);
          printResult(
            o,
            () =>
              [
                ...list.map((e) => cacheLine(e)),
                `${list.length} cached cop${list.length === 1 ? 'y' : 'ies'}, ${size(total)} in ${dir}`,
              ].join('\n'),
            { dir, entries: list, bytes: total },
          );
          return;
        }
        const r = await pruneModelCache(reg.store.projectDir, versions, {
          ...(maxBytes !== undefined ? { maxBytes } : {}),
          dryRun: o.dryRun === true,
          graceMs: grace * 1000,
        });
        const verb = r.dryRun ? 'would remove' : 'removed';
        printResult(
          o,
          () =>
            [
              ...r.removed.map((e) => cacheLine(e, e.reason)),
              `${verb} ${r.removed.length} cop${r.removed.length === 1 ? 'y' : 'ies'} (${size(r.freedBytes)}); kept ${r.kept.length} (${size(r.keptBytes)})${maxBytes !== undefined && r.keptBytes > maxBytes ? `: above --max-size, the rest serve production or staging versions` : ''}`,
            ].join('\n'),
          { dir, ...r },
        );
      } finally {
        reg.close();
      }
    });
  cmd
    .command('pull <version>')
    .description(
      "write a registered version's files (name@N, name@stage or name) from the catalogue's object store to a folder, each verified against its manifest (another machine of a shared catalogue gets the model this way)",
    )
    .requiredOption('--out <dir>', 'folder to write the model into (refused when it exists)')
    .option('--force', 'replace --out when it exists')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(async (ref: string, o: PullCliOptions) => {
      // Reading a version needs what `registry show` needs: read access to the catalogue.
      const reg = openRegistry(o);
      try {
        const v = reg.get(ref);
        const out = resolve(o.out);
        const w = await writeModelContent(reg.store.objects, v, out, { overwrite: !!o.force });
        printResult(
          o,
          `pulled ${v.id} into ${out} (${w.files} files, ${w.bytes} bytes, verified)`,
          {
            version: v.id,
            manifestDigest: v.manifestDigest,
            rootDigest: v.rootDigest,
            out,
            path: w.path,
            files: w.files,
            bytes: w.bytes,
          },
        );
      } finally {
        reg.close();
      }
    });
}
