import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { sha256File } from '../integrity/hash.js';
import { hashFiles, listFiles, rootDigestOf } from '../integrity/manifest.js';
import type { ReportInput, ReportRun } from '../report/audit-report.js';
import { version } from '../version.js';

/*
 * The run behind a report (`AuditReport.run`): when, by whom, with which version, from which
 * inputs (relative paths and digests). What is hashed:
 *
 * - a file (CSV, JSONL, `.npz`, `.onnx`): its bytes, so the digest equals `sha256sum FILE`;
 * - a directory (dataset directory, PNG class folders, model directory): the root digest of its
 *   files as a manifest computes it (SHA-256 over the sorted files' SHA-256 digests, the
 *   model-signing v1.0 rule of `integrity/manifest.ts`);
 * - a built-in or named dataset (no file of its own): its records as loaded (ids, labels and
 *   values, in order).
 */

/** Where the report's dates come from; tests inject a fixed clock so reports are reproducible. */
export type ReportClock = () => Date;

/** What {@link reportRun} needs besides the inputs. */
export interface ReportRunOptions {
  /** Default: the system clock. */
  readonly clock?: ReportClock | undefined;
  /** Who ran the audit; default {@link defaultOperator}. */
  readonly operator?: string | undefined;
  /** Directory the report's paths are relative to (default: the working directory). */
  readonly baseDir?: string | undefined;
}

/**
 * The operator recorded in a report when none is given: the OS user name running the process
 * (`os.userInfo()`), else `$USER` / `$USERNAME`, else `unknown`.
 */
export function defaultOperator(): string {
  try {
    const name = userInfo().username;
    if (name) return name;
  } catch {
    // No passwd entry for the uid (some containers): fall back to the environment.
  }
  return process.env.USER || process.env.USERNAME || 'unknown';
}

/**
 * `path` relative to `baseDir` (default: the working directory), with `/` separators, for
 * display in a report: never an absolute machine path. A spec that is not a path on disk (a
 * built-in such as `mnist:test`) is returned unchanged.
 */
export function displayPath(path: string, baseDir: string = process.cwd()): string {
  if (!isAbsolute(path)) return path.split(sep).join('/');
  const rel = relative(resolve(baseDir), path);
  return rel === '' ? '.' : rel.split(sep).join('/');
}

/** `sha256:<hex>` of a file's bytes or of a directory's files (see the note at the top). */
export async function pathDigest(path: string): Promise<string> {
  const st = await stat(path);
  if (!st.isDirectory()) return `sha256:${(await sha256File(path)).digest}`;
  const files = await hashFiles(path, await listFiles(path, []));
  return `sha256:${rootDigestOf(files)}`;
}

/** `sha256:<hex>` of a dataset's records as loaded: ids, labels and values, in order. */
export function recordsDigest(ds: Dataset): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ shape: ds.shape, classes: ds.classes, ids: ds.ids }));
  h.update(new Uint8Array(ds.y.buffer, ds.y.byteOffset, ds.y.byteLength));
  h.update(new Uint8Array(ds.x.buffer, ds.x.byteOffset, ds.x.byteLength));
  return `sha256:${h.digest('hex')}`;
}

/** A dataset input: its spec (relative) and digest (of the file or directory, else its records). */
export async function datasetInput(
  role: string,
  spec: string,
  ds: Dataset,
  baseDir?: string,
): Promise<ReportInput> {
  const onDisk = await stat(spec).then(
    () => true,
    () => false,
  );
  return {
    role,
    path: displayPath(spec, baseDir),
    digest: onDisk ? await pathDigest(spec) : recordsDigest(ds),
  };
}

/**
 * A model input from the model's files (`Model.files`, absolute paths): its folder (relative)
 * and the root digest of those files. Undefined for a model without files.
 */
export async function modelInput(
  files: readonly string[],
  baseDir?: string,
): Promise<ReportInput | undefined> {
  if (files.length === 0) return undefined;
  const dir = dirname(files[0]!);
  const names = files.map((f) => relative(dir, f)).sort();
  const hashed = await hashFiles(dir, names);
  return {
    role: 'model',
    path: displayPath(files.length === 1 ? files[0]! : dir, baseDir),
    digest: `sha256:${rootDigestOf(hashed)}`,
  };
}

/** The run record of a report made now (by the clock) from `inputs`. */
export function reportRun(inputs: readonly ReportInput[], o: ReportRunOptions = {}): ReportRun {
  const now = (o.clock ?? (() => new Date()))();
  return {
    date: now.toISOString(),
    tool: 'antidote',
    version,
    operator: o.operator ?? defaultOperator(),
    inputs: [...inputs],
  };
}
