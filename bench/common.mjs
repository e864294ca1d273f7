// Helpers shared by the benchmark suites.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/**
 * The leading comment of a suite's file (its description and flags), without the comment marks.
 * Every suite documents its flags there.
 */
export function suiteHeader(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const header = [];
  for (const line of lines) {
    if (line.startsWith('#!')) continue;
    if (!line.startsWith('//')) break;
    header.push(line.replace(/^\/\/ ?/, ''));
  }
  return header.join('\n');
}

// `--help` or `-h` on any suite prints its header and exits before the suite does anything: a
// suite ignores flags it does not know, so without this a request for help would run it (and
// overwrite its results under bench/results).
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(suiteHeader(process.argv[1]));
  process.exit(0);
}

/** The machine a result was measured on. */
export function machine() {
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

/** Writes `bench/results/<suite>.json`. */
export function writeResult(suite, result) {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${suite}.json`);
  writeFileSync(file, `${JSON.stringify({ suite, machine: machine(), ...result }, null, 2)}\n`);
  console.error(`bench: wrote ${file}`);
  return file;
}

/** Median of several timings of `fn` (seconds). */
export async function timeIt(fn, repeats = 3) {
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export const hasFlag = (name) => process.argv.includes(name);

/** The value after the flag `name` on the command line, or `fallback`. */
export const argValue = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
};

/** The first `n` records of a dataset (all of them when it has fewer), sharing its buffers. */
export function firstRecords(ds, n) {
  const records = Math.min(n, ds.shape[0]);
  const size = ds.x.length / ds.shape[0];
  return {
    ...ds,
    x: ds.x.subarray(0, records * size),
    y: ds.y.subarray(0, records),
    ids: ds.ids.slice(0, records),
    shape: [records, ...ds.shape.slice(1)],
  };
}

/**
 * Runs `fn(url)` on a fresh schema, with a random name, of the PostgreSQL server named by
 * ANTIDOTE_BENCH_PG_URL or ANTIDOTE_TEST_PG_URL, and drops the schema afterwards (`lib`: the built
 * registry entry, for `PgSqlDatabase`). Without a URL: `{ skipped }`.
 */
export async function withPgBenchSchema(lib, fn) {
  const base = process.env.ANTIDOTE_BENCH_PG_URL || process.env.ANTIDOTE_TEST_PG_URL;
  if (!base) return { skipped: 'no ANTIDOTE_BENCH_PG_URL / ANTIDOTE_TEST_PG_URL' };
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const u = new URL(base);
  u.searchParams.set('schema', schema);
  try {
    return await fn(u.href);
  } finally {
    u.searchParams.set('schema', 'public');
    const db = lib.PgSqlDatabase.connect(u.href);
    db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    db.close();
  }
}
