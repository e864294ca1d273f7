import { AntidoteError } from '../errors.js';
import { readBytes, writeFileAtomic } from '../util/fs.js';
import { decodeNpy, encodeNpy, type NdArray } from './npy.js';
import { readZip, writeZip } from './zip.js';

/**
 * NumPy `.npz` archives (`np.savez`, `np.savez_compressed`): a ZIP of `.npy` files, one per
 * named array.
 */

/** Options for {@link encodeNpz} / {@link writeNpz}. */
export interface NpzWriteOptions {
  /** Deflate the entries like `np.savez_compressed` (default false, like `np.savez`). */
  readonly compress?: boolean;
  /** Force ZIP64 records (as NumPy does); default only when sizes need them. */
  readonly forceZip64?: boolean;
}

/**
 * Decodes an `.npz` archive into its arrays, keyed by name without the `.npy` suffix, in archive
 * order. Entries whose names do not end in `.npy` are ignored. `where` names the file in errors.
 */
export function decodeNpz(bytes: Uint8Array, where = '<npz>'): Map<string, NdArray> {
  const arrays = new Map<string, NdArray>();
  for (const entry of readZip(bytes, where)) {
    if (!entry.name.endsWith('.npy')) continue;
    const key = entry.name.slice(0, -4);
    arrays.set(key, decodeNpy(entry.data, `${where}:${entry.name}`));
  }
  return arrays;
}

/**
 * Encodes named arrays as an `.npz` archive that `np.load` reads. The bytes depend only on the
 * arrays, their order and the options (fixed timestamps), so equal content gives equal files.
 */
export function encodeNpz(
  arrays: Readonly<Record<string, NdArray>> | ReadonlyMap<string, NdArray>,
  options: NpzWriteOptions = {},
): Uint8Array {
  const list = arrays instanceof Map ? [...arrays] : Object.entries(arrays);
  for (const [name] of list) {
    if (name === '' || name.includes('\0')) {
      throw new AntidoteError('INVALID_ARGUMENT', `invalid array name ${JSON.stringify(name)}`);
    }
  }
  return writeZip(
    list.map(([name, array]) => ({ name: `${name}.npy`, data: encodeNpy(array) })),
    { compress: options.compress ?? false, forceZip64: options.forceZip64 },
  );
}

/** Reads an `.npz` file from disk (see {@link decodeNpz}). */
export async function readNpz(path: string): Promise<Map<string, NdArray>> {
  return decodeNpz(await readBytes(path), path);
}

/** Writes named arrays to `path` as an `.npz` file, atomically (see {@link encodeNpz}). */
export async function writeNpz(
  path: string,
  arrays: Readonly<Record<string, NdArray>> | ReadonlyMap<string, NdArray>,
  options: NpzWriteOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeNpz(arrays, options));
}
