/**
 * The manifest the registry records for a model: every file of a model directory, or, for an
 * ONNX model file (issue 17), the `.onnx` file and its sidecar JSON only (the other files of its
 * folder are not part of the model). Registration and the check before loading a registered
 * version both hash through {@link modelManifest}, so they always agree. A signature covers a
 * folder: an ONNX model is signed as the folder holding it and nothing else
 * ({@link signedFolderOf}), whose root digest is then the model's.
 */
import { lstat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { modelFilesOf } from '../engine/model-summary.js';
import { AntidoteError } from '../errors.js';
import {
  createManifest,
  DEFAULT_IGNORE,
  hashFiles,
  listFiles,
  MANIFEST_SCHEMA,
  type Manifest,
  rootDigestOf,
} from '../integrity/manifest.js';

/**
 * The manifest of the model at `path` (a model directory, or a `.onnx` file with its sidecar):
 * file paths relative to the model's folder. `NOT_FOUND` for a missing model; `INVALID_FORMAT`
 * for a symbolic link (links are not hashed, as in a directory).
 */
export async function modelManifest(path: string): Promise<Manifest> {
  const files = await modelFilesOf(path);
  if (!files) return createManifest(path);
  const dir = dirname(path);
  for (const f of files) {
    if ((await lstat(f)).isSymbolicLink()) {
      throw new AntidoteError('INVALID_FORMAT', `${f} is a symbolic link; links are not hashed`, {
        path: f,
      });
    }
  }
  // Sorted by name, as a directory's files are.
  const names = files.map((f) => basename(f)).sort();
  const hashed = await hashFiles(dir, names);
  return {
    schema: MANIFEST_SCHEMA,
    name: basename(path),
    hashAlgorithm: 'sha256',
    ignore: [],
    files: hashed,
    rootDigest: rootDigestOf(hashed),
  };
}

/**
 * The folder whose signature covers the model at `path`: `path` itself for a directory; for an
 * ONNX file, its folder, which must hold only the model's files (the `.onnx` file and its
 * sidecar, besides the signature artefacts): the signed root digest is then the one the
 * registry records. `INVALID_ARGUMENT` naming the other files otherwise.
 */
export async function signedFolderOf(path: string): Promise<string> {
  const files = await modelFilesOf(path);
  if (!files) return path;
  const dir = dirname(path);
  const own = new Set(files.map((f) => basename(f)));
  const others = (await listFiles(dir, DEFAULT_IGNORE)).filter((f) => !own.has(f));
  if (others.length > 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `a signature covers a whole folder, and the folder of ${path} also holds ${others
        .slice(0, 3)
        .join(', ')}${others.length > 3 ? ` and ${others.length - 3} more` : ''}: move ${[
        ...own,
      ].join(' and ')} into a folder of their own and sign that`,
      { path, others: others.length },
    );
  }
  return dir;
}
