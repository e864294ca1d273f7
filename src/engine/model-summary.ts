/**
 * What a model directory says about itself, read without loading weights or TF.js: the files
 * of a saved model, `model.json` read and parsed, the model's domain, and the summary the
 * registry records. Kept free of heavy imports so that registry commands start fast.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { AntidoteError } from '../errors.js';
import { readJson } from '../util/fs.js';
import type { ModelDomain } from './model-interface.js';

/** File names of a saved model directory. */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** The `format` tag of a text or tabular model's metadata (`model.json` → `antidote`). */
export const FEATURE_MODEL_FORMAT = 'antidote-feature-model';

const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

/**
 * Reads and parses `dir/model.json` (at most 64 MiB) without checking what it holds.
 * `NOT_FOUND` when it is missing, `INVALID_FORMAT` when it is too large or not JSON; both name
 * the file.
 */
export async function readModelJson(dir: string): Promise<unknown> {
  const jsonPath = join(dir, MODEL_JSON);
  const jsonStat = await stat(jsonPath).catch(() => undefined);
  if (!jsonStat?.isFile()) {
    throw new AntidoteError('NOT_FOUND', `no model at ${dir}: ${MODEL_JSON} is missing`, {
      path: jsonPath,
    });
  }
  return readJson(jsonPath, {
    maxBytes: MAX_MODEL_JSON_BYTES,
    message: (e) => `${jsonPath} is not valid JSON: ${e.message}`,
  });
}

/**
 * Reads `dir/model.json` just far enough to tell an image model from a text or tabular one
 * (`antidote.format` and `antidote.domain`). `NOT_FOUND` when model.json is missing,
 * `INVALID_FORMAT` when it is not JSON or too large (see {@link readModelJson}). Anything not
 * marked as a feature model is `'image'` (its loader then reports what is wrong with it).
 */
export async function modelDomain(dir: string): Promise<ModelDomain> {
  return domainOf(await readModelJson(dir), join(dir, MODEL_JSON));
}

function domainOf(json: unknown, path: string): ModelDomain {
  const meta = (json as { antidote?: { format?: unknown; domain?: unknown } } | null)?.antidote;
  if (meta?.format !== FEATURE_MODEL_FORMAT) return 'image';
  if (meta.domain === 'text' || meta.domain === 'tabular') return meta.domain;
  throw new AntidoteError(
    'INVALID_FORMAT',
    `${path}: antidote.domain must be text or tabular, got ${JSON.stringify(meta.domain)}`,
    { path },
  );
}

/** True when `path` names an ONNX model file (`.onnx`, any case; issue 17). */
export function isOnnxPath(path: string): boolean {
  return extname(path).toLowerCase() === '.onnx';
}

/**
 * Resolves `path` to a model directory: a directory itself, or the directory of a `model.json`
 * given directly. A missing path is `NOT_FOUND` (naming `model.json`); an ONNX file (a model
 * of its own, not a directory: see {@link readModelSummary} and `loadModel`) or any other file
 * is `INVALID_FORMAT` saying what a model is.
 */
export async function modelDirOf(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) {
    throw new AntidoteError('NOT_FOUND', `no model at ${path}: ${MODEL_JSON} is missing`, {
      path: join(path, MODEL_JSON),
    });
  }
  if (info.isDirectory()) return path;
  if (basename(path) === MODEL_JSON) return dirname(path);
  const ext = extname(path).toLowerCase();
  throw new AntidoteError(
    'INVALID_FORMAT',
    ext === '.onnx'
      ? `${path} is an ONNX model file, not a model directory; this command wants a model directory (${MODEL_JSON} and weights, from antidote train)`
      : `${path} is not a model: give a model directory (${MODEL_JSON} and weights, from antidote train)`,
    { path },
  );
}

/** What a model directory says about itself, read without loading its weights. */
export interface ModelSummary {
  readonly domain: ModelDomain;
  /** Architecture or kind (`antidote.spec.arch`), when recorded. */
  readonly kind?: string;
  /** Shape of one input of the model's representation, when recorded. */
  readonly inputShape?: readonly number[];
  readonly classes?: readonly string[];
}

const numbers = (v: unknown) =>
  Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : undefined;
const strings = (v: unknown) =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;

/**
 * Reads the `antidote` metadata of the model at `path` (a directory or its `model.json`)
 * without loading the weights, e.g. for the registry. Fields that are missing or malformed are
 * left out (`loadModel` reports them); `NOT_FOUND` without `model.json`, `INVALID_FORMAT` when
 * it is not JSON, or not a model file. An ONNX file (issue 17) is read from its protobuf and
 * sidecar without starting a runtime: kind `onnx`, the raw (HWC) record shape, the classes.
 */
export async function readModelSummary(path: string): Promise<ModelSummary> {
  if (isOnnxPath(path)) return onnxSummary(path);
  const dir = await modelDirOf(path);
  const json = await readModelJson(dir);
  const domain = domainOf(json, join(dir, MODEL_JSON));
  const meta = (json as { antidote?: Record<string, unknown> } | null)?.antidote;
  const arch = (meta?.spec as { arch?: unknown } | undefined)?.arch;
  const inputShape = numbers(meta?.inputShape);
  const classes = strings(meta?.classes);
  return {
    domain,
    ...(typeof arch === 'string' ? { kind: arch } : {}),
    ...(inputShape ? { inputShape } : {}),
    ...(classes ? { classes } : {}),
  };
}

/** {@link readModelSummary} of an ONNX file (`INVALID_FORMAT` when it is no classifier). */
async function onnxSummary(path: string): Promise<ModelSummary> {
  const { describeOnnx } = await import('./onnx/onnx-info.js');
  const info = await describeOnnx(path);
  if ('error' in info.classifier) {
    throw new AntidoteError('INVALID_FORMAT', info.classifier.error, { path });
  }
  const dims = numbers(info.inputs[0]?.shape?.slice(1));
  const [c, h, w] = dims ?? [];
  const inputShape =
    info.layout === 'nchw' && c !== undefined && h !== undefined && w !== undefined
      ? [h, w, c]
      : dims;
  const k = info.classifier.numClasses;
  const text = info.layout === 'tokens';
  return {
    domain: text ? 'text' : 'image',
    kind: 'onnx',
    ...(inputShape && !text ? { inputShape } : {}),
    classes: info.classes ?? Array.from({ length: k }, (_, i) => String(i)),
  };
}

/**
 * The files that make up the model at `path`, without loading it (what `Model.files` lists
 * once loaded): for an ONNX file, the file, its sidecar JSON when there is one and the
 * vocabulary file a text model's sidecar names (see
 * `engine/onnx/onnx-sidecar.ts`); `undefined` for a model directory (all its files).
 * `NOT_FOUND` for a missing ONNX file.
 */
export async function modelFilesOf(path: string): Promise<string[] | undefined> {
  if (!isOnnxPath(path)) return undefined;
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) {
    throw new AntidoteError('NOT_FOUND', `no ONNX model at ${path}`, { path });
  }
  const { readSidecar, vocabularyPath } = await import('./onnx/onnx-sidecar.js');
  const { sidecar, path: side } = await readSidecar(path);
  if (!side) return [path];
  // A text model's vocabulary file is part of it (issue 17).
  const vocabulary = sidecar.text?.vocabulary;
  return typeof vocabulary === 'string'
    ? [path, side, vocabularyPath(side, vocabulary)]
    : [path, side];
}
