/**
 * Hostile-input fuzzing of the data loaders (issue 19, item 2): a seeded byte mutator, the
 * loaders as fuzz targets with valid seed files (and the crafted cases of the issue), and a
 * runner that feeds each target mutated inputs and tallies what happened. A loader passes when
 * every input either decodes or fails with an `AntidoteError`, each within a time budget: a
 * plain `Error` (`crash`) or a slow input (`overTime`) is a finding. The fuzz tests and
 * `bench/hostile.mjs` (which also measures peak memory) run the same targets.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { isAntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { arraysToDataset } from './bare-arrays.js';
import { parseCsv } from './csv.js';
import { DATA_FILE, DESCRIPTION_FILE, readDatasetDir, writeDatasetDir } from './dataset-dir.js';
import { decodeIdx, encodeIdx } from './idx.js';
import { decodeNpy, encodeNpy, ndarray } from './npy.js';
import { decodeNpz, encodeNpz } from './npz.js';
import { decodePng, encodePng } from './png.js';
import { readZip, writeZip } from './zip.js';

/** A loader under fuzzing. */
export interface FuzzTarget {
  readonly name: string;
  /** Valid inputs to mutate (and hostile ones crafted after the issue). */
  seeds(): Promise<Uint8Array[]>;
  /** Decodes one input (whatever it returns is ignored). */
  decode(bytes: Uint8Array): unknown;
}

/** Interesting values written over 1, 2 or 4 bytes (sizes, signs, saturations). */
const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 65535, 4096, 1 << 24];

/**
 * A mutation of `seed` (1–4 operations drawn from `rng`): bit flips, interesting byte or 32-bit
 * values (either byte order), random bytes, deleted, duplicated or inserted ranges, truncation,
 * or a splice with itself. The result is at most twice the seed's length plus 64 bytes.
 */
export function mutateBytes(rng: Rng, seed: Uint8Array): Uint8Array {
  let b: Uint8Array = Uint8Array.from(seed);
  const ops = 1 + rng.int(4);
  for (let k = 0; k < ops; k++) {
    const n = b.length;
    const at = n > 0 ? rng.int(n) : 0;
    const op = rng.int(9);
    if (n === 0 && op < 6) {
      b = Uint8Array.from({ length: 1 + rng.int(16) }, () => rng.int(256));
      continue;
    }
    if (op === 0) b[at]! ^= 1 << rng.int(8);
    else if (op === 1) b[at] = INTERESTING[rng.int(INTERESTING.length)]! & 0xff;
    else if (op === 2 || op === 3) {
      const v = INTERESTING[rng.int(INTERESTING.length)]! >>> 0;
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      if (at + 4 <= n) view.setUint32(at, v, op === 2);
    } else if (op === 4) {
      for (let i = at; i < Math.min(n, at + 1 + rng.int(8)); i++) b[i] = rng.int(256);
    } else if (op === 5) {
      const len = 1 + rng.int(Math.min(64, n - at));
      b = concat(b.subarray(0, at), b.subarray(at + len));
    } else if (op === 6 && b.length < seed.length * 2 + 64) {
      const len = 1 + rng.int(Math.min(64, Math.max(1, n - at)));
      b = concat(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
    } else if (op === 7 && b.length < seed.length * 2 + 64) {
      const extra = Uint8Array.from({ length: 1 + rng.int(16) }, () => rng.int(256));
      b = concat(b.subarray(0, at), extra, b.subarray(at));
    } else {
      b = b.subarray(0, at).slice();
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A PNG whose IHDR declares `width` × `height` (no pixel data follows): the 69 bytes. */
export function pngDeclaring(width: number, height: number): Uint8Array {
  const ok = encodePng({ width: 1, height: 1, data: new Uint8Array(4) });
  const out = Uint8Array.from(ok);
  const view = new DataView(out.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  return out;
}

/**
 * A ZIP whose central directory lists `copies` entries that all point at one stored entry of
 * `data` (the 201 records pointing at one 16 MB entry).
 */
export function zipOverlapping(data: Uint8Array, copies: number): Uint8Array {
  const one = writeZip([{ name: 'x.npy', data }], { compress: false });
  const view = new DataView(one.buffer, one.byteOffset, one.byteLength);
  const eocd = one.length - 22;
  const cdOffset = view.getUint32(eocd + 16, true);
  const central = one.subarray(cdOffset, eocd);
  const records: Uint8Array[] = [];
  for (let i = 0; i < copies; i++) {
    const name = new TextEncoder().encode(`e${String(i).padStart(4, '0')}.npy`);
    const r = new Uint8Array(46 + name.length);
    r.set(central.subarray(0, 46));
    new DataView(r.buffer).setUint16(28, name.length, true);
    new DataView(r.buffer).setUint16(30, 0, true);
    r.set(name, 46);
    records.push(r);
  }
  const cd = concat(...records);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, copies, true);
  ev.setUint16(10, copies, true);
  ev.setUint32(12, cd.length, true);
  ev.setUint32(16, cdOffset, true);
  return concat(one.subarray(0, cdOffset), cd, end);
}

/**
 * A ZIP with one deflated entry that declares `declared` inflated bytes, padded so its declared
 * compressed size `padTo` is present (the npz of compressed zeros).
 */
export function zipDeclaring(declared: number, padTo: number): Uint8Array {
  const body = deflateRawSync(new Uint8Array(1024));
  const z = writeZip([{ name: 'x.npy', data: new Uint8Array(1024) }], { compress: true });
  const view = new DataView(z.buffer, z.byteOffset, z.byteLength);
  const eocd = z.length - 22;
  const cdOffset = view.getUint32(eocd + 16, true);
  const pad = Math.max(0, padTo - body.length);
  const out = concat(z.subarray(0, cdOffset), new Uint8Array(pad), z.subarray(cdOffset));
  const ov = new DataView(out.buffer);
  // Local and central sizes: compressed = body + pad, uncompressed = declared.
  ov.setUint32(18, body.length + pad, true);
  ov.setUint32(22, declared >>> 0, true);
  const cd = cdOffset + pad;
  ov.setUint32(cd + 20, body.length + pad, true);
  ov.setUint32(cd + 24, declared >>> 0, true);
  ov.setUint32(out.length - 22 + 16, cd, true);
  return out;
}

/** A small dataset directory's two files, as bytes. */
async function datasetFiles(): Promise<{ json: Uint8Array; npz: Uint8Array }> {
  const { readFile } = await import('node:fs/promises');
  const dir = await mkdtemp(join(tmpdir(), 'antidote-fuzz-seed-'));
  try {
    const out = join(dir, 'ds');
    await writeDatasetDir(
      out,
      {
        x: Float32Array.from({ length: 12 }, (_, i) => i / 12),
        shape: [4, 3],
        y: Int32Array.of(0, 1, 0, 1),
        classes: ['a', 'b'],
        ids: ['r0', 'r1', 'r2', 'r3'],
      },
      { attack: { name: 'label-flip', rate: 0.1 } },
    );
    return {
      json: new Uint8Array(await readFile(join(out, DESCRIPTION_FILE))),
      npz: new Uint8Array(await readFile(join(out, DATA_FILE))),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const smallArrays = () => [
  ndarray('float32', [2, 3], Float32Array.of(0, 0.5, 1, 1.5, 2, 2.5)),
  ndarray('int32', [4], Int32Array.of(1, -2, 3, 4)),
  ndarray('uint8', [2, 2, 1], Uint8Array.of(0, 255, 7, 9)),
];

/** A scratch folder for the dataset-directory target (made on first use). */
let scratch: Promise<string> | undefined;

/**
 * The loaders under fuzzing: PNG, .npy, .npz, ZIP, IDX, CSV, dataset directories and bare arrays
 * (an `.npz` of features and labels read as a dataset: labels, shapes, image layouts).
 */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'png',
    seeds: async () => [
      encodePng({ width: 3, height: 2, data: Uint8Array.from({ length: 24 }, (_, i) => i * 10) }),
      encodePng({ width: 1, height: 5, data: new Uint8Array(20).fill(200) }),
      pngDeclaring(65535, 65535),
      pngDeclaring(1, 67_108_872),
    ],
    decode: (b) => decodePng(b, 'fuzz.png'),
  },
  {
    name: 'npy',
    seeds: async () => smallArrays().map((a) => encodeNpy(a)),
    decode: (b) => decodeNpy(b, 'fuzz.npy'),
  },
  {
    name: 'npz',
    seeds: async () => {
      const [a, b, c] = smallArrays();
      const arrays = { x: a!, y: b!, z: c! };
      return [
        encodeNpz(arrays),
        encodeNpz(arrays, { compress: true }),
        encodeNpz(arrays, { forceZip64: true }),
        zipOverlapping(encodeNpy(a!), 201),
      ];
    },
    decode: (b) => decodeNpz(b, 'fuzz.npz'),
  },
  {
    name: 'bare-npz',
    seeds: async () => [
      encodeNpz({
        x: ndarray(
          'float32',
          [3, 2, 2],
          Float32Array.from({ length: 12 }, (_, i) => i / 12),
        ),
        y: ndarray('int32', [3], Int32Array.of(0, 1, 0)),
      }),
      encodeNpz(
        {
          x: ndarray(
            'uint8',
            [2, 1, 3, 3],
            Uint8Array.from({ length: 18 }, (_, i) => i * 9),
          ),
          y: ndarray('int64', [2], BigInt64Array.of(1n, 0n)),
        },
        { compress: true },
      ),
    ],
    decode: async (b) => {
      const arrays = await decodeNpz(b, 'fuzz.npz');
      const [x, y] = [arrays.get('x'), arrays.get('y')];
      if (!x || !y) return arrays;
      return arraysToDataset(x, y, 'fuzz.npz');
    },
  },
  {
    name: 'zip',
    seeds: async () => [
      writeZip([
        { name: 'a.txt', data: new TextEncoder().encode('hello hello hello') },
        { name: 'dir/b.bin', data: new Uint8Array(40).fill(3) },
      ]),
      writeZip([{ name: 'c', data: new Uint8Array(10) }], { compress: false, forceZip64: true }),
      zipDeclaring(2 ** 31, 2048),
    ],
    decode: (b) => readZip(b, 'fuzz.zip'),
  },
  {
    name: 'idx',
    seeds: async () => {
      const { gzipSync } = await import('node:zlib');
      const plain = encodeIdx(ndarray('uint8', [2, 2, 2], Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)));
      return [
        plain,
        new Uint8Array(gzipSync(plain)),
        new Uint8Array(gzipSync(new Uint8Array(1 << 20))),
      ];
    },
    decode: (b) => decodeIdx(b, 'fuzz.idx'),
  },
  {
    name: 'csv',
    seeds: async () =>
      [
        'a,b,label\n1,2,x\n3,4,y\n5,6,x\n',
        'f1;f2;label\n0.5;1e3;cat\n-1;2;dog\n',
        '"q,1",b,label\n"1",2,"x"\n',
      ].map((t) => new TextEncoder().encode(t)),
    decode: (b) => parseCsv(new TextDecoder().decode(b), {}, 'fuzz.csv'),
  },
  {
    name: 'dataset-dir',
    seeds: async () => {
      const { json, npz } = await datasetFiles();
      const deep = new TextEncoder().encode(
        new TextDecoder()
          .decode(json)
          .replace('"label-flip"', `${'['.repeat(5000)}1${']'.repeat(5000)}`),
      );
      // One byte tells which file the rest replaces: 0 dataset.json, 1 data.npz.
      return [
        concat(Uint8Array.of(0), json),
        concat(Uint8Array.of(1), npz),
        concat(Uint8Array.of(0), deep),
      ];
    },
    decode: async (b) => {
      scratch ??= mkdtemp(join(tmpdir(), 'antidote-fuzz-'));
      const root = await scratch;
      const { json, npz } = await (seedFiles ??= datasetFiles());
      const dir = join(root, 'ds');
      await mkdir(dir, { recursive: true });
      const body = b.subarray(1);
      await writeFile(join(dir, DESCRIPTION_FILE), (b[0] ?? 0) % 2 === 0 ? body : json);
      await writeFile(join(dir, DATA_FILE), (b[0] ?? 0) % 2 === 1 ? body : npz);
      return readDatasetDir(dir);
    },
  },
];

let seedFiles: Promise<{ json: Uint8Array; npz: Uint8Array }> | undefined;

/** What fuzzing one target found (see {@link fuzzTarget}). */
export interface FuzzTally {
  readonly target: string;
  tried: number;
  /** Inputs refused with an `AntidoteError` (the expected outcome for garbage). */
  typedError: number;
  /** Inputs decoded without error. */
  accepted: number;
  /** Inputs that threw anything else: findings. */
  crash: number;
  /** Inputs that took longer than the budget: findings. */
  overTime: number;
  /**
   * Inputs during which the process's peak memory first passed `maxRssBytes` (with a
   * `peakRss` probe; 0 without): findings.
   */
  overMemory: number;
  /** The slowest input, in ms. */
  slowestMs: number;
  /** The first few crashes: the error and the input's index. */
  readonly crashes: string[];
}

/**
 * Feeds `target` `runs` inputs: its seeds as they are, then mutations of them drawn from a
 * `Rng(seed)` (so a run is reproducible), and tallies the outcomes; an input taking more than
 * `maxMs` (default 5,000) counts as over time, and, with a `peakRss` probe, the input during
 * which the peak memory first passes `maxRssBytes` counts as over memory.
 */
export async function fuzzTarget(
  target: FuzzTarget,
  options: {
    runs: number;
    seed?: number;
    maxMs?: number;
    /** The process's peak resident memory so far, in bytes (e.g. from `resourceUsage`). */
    peakRss?: () => number;
    /** The memory budget `peakRss` is held to (default 512 MiB). */
    maxRssBytes?: number;
  },
): Promise<FuzzTally> {
  const maxRss = options.maxRssBytes ?? 512 * 2 ** 20;
  let over = (options.peakRss?.() ?? 0) > maxRss;
  const rng = new Rng(options.seed ?? 19);
  const maxMs = options.maxMs ?? 5000;
  const seeds = await target.seeds();
  const tally: FuzzTally = {
    target: target.name,
    tried: 0,
    typedError: 0,
    accepted: 0,
    crash: 0,
    overTime: 0,
    overMemory: 0,
    slowestMs: 0,
    crashes: [],
  };
  for (let i = 0; i < options.runs; i++) {
    const input = i < seeds.length ? seeds[i]! : mutateBytes(rng, seeds[rng.int(seeds.length)]!);
    const t0 = performance.now();
    try {
      await target.decode(input);
      tally.accepted++;
    } catch (e) {
      if (isAntidoteError(e)) tally.typedError++;
      else {
        tally.crash++;
        if (tally.crashes.length < 5) tally.crashes.push(`#${i}: ${(e as Error)?.stack ?? e}`);
      }
    }
    const ms = performance.now() - t0;
    tally.slowestMs = Math.max(tally.slowestMs, ms);
    if (ms > maxMs) tally.overTime++;
    if (!over && options.peakRss && options.peakRss() > maxRss) {
      over = true;
      tally.overMemory++;
    }
    tally.tried++;
  }
  return tally;
}
