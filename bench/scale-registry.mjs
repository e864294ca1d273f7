#!/usr/bin/env node
// Registry at team scale (issue 22): registrations/s and model lookups/s from 4 client processes
// on a shared PostgreSQL catalogue (targets: >= 200/s and >= 2,000/s), and the same on the
// embedded SQLite catalogue for comparison. Writes bench/results/scale-registry.json.
// Needs `npm run build` and a PostgreSQL URL in ANTIDOTE_BENCH_PG_URL or ANTIDOTE_TEST_PG_URL
// (`eval "$(scripts/services.sh start)"`); without one only SQLite is measured. The bench uses a
// schema of its own with a random name and drops it at the end. `--quick`: fewer operations.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasFlag, withPgBenchSchema, writeResult } from './common.mjs';

const lib = await import('../dist/registry/index.js');

// Child mode: one client. Prepares its model folders, waits for the common start, then times
// its registrations, then its lookups; prints both intervals (epoch milliseconds).
if (process.argv[2] === '--child') {
  const [, , , root, store, tag, nReg, nLook, startAt] = process.argv;
  const reg = lib.ModelRegistry.open(root, { store });
  const dirs = [];
  for (let i = 0; i < Number(nReg); i++) {
    const d = join(root, 'models', `${tag}-${i}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'weights.bin'), `${tag}:${i}:${randomBytes(8).toString('hex')}`);
    dirs.push(d);
  }
  while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 5));
  const r0 = Date.now();
  for (const d of dirs) await reg.register(d, { name: 'bench', actor: tag });
  const r1 = Date.now();
  const latest = reg.models().find((m) => m.name === 'bench');
  const count = Number(latest.latest.split('@')[1]);
  let seed = tag.charCodeAt(0);
  const l0 = Date.now();
  for (let i = 0; i < Number(nLook); i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const v = reg.find(`bench@${1 + (seed % count)}`);
    if (!v) throw new Error('lookup missed');
  }
  const l1 = Date.now();
  reg.close();
  process.stdout.write(JSON.stringify({ r0, r1, l0, l1 }));
  process.exit(0);
}

const quick = hasFlag('--quick');
const CLIENTS = 4;
const REGISTRATIONS = quick ? 25 : 100; // per client
const LOOKUPS = quick ? 500 : 2500; // per client
const log = (...a) => console.error('bench scale-registry:', ...a);
const script = fileURLToPath(import.meta.url);

function child(args) {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [script, '--child', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 ? res(JSON.parse(out)) : rej(new Error(`client ${code}`))));
  });
}

/** Runs the 4 clients against `store` ('sqlite' or a URL); returns the aggregate rates. */
async function measure(store) {
  const root = mkdtempSync(join(tmpdir(), 'antidote-bench-registry-'));
  try {
    lib.ModelRegistry.open(root, { store }).close(); // migrations outside the timing
    const startAt = Date.now() + 3000; // after every client has loaded and prepared
    const rs = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        child([root, store, `c${i}`, String(REGISTRATIONS), String(LOOKUPS), String(startAt)]),
      ),
    );
    const span = (a, b) =>
      (Math.max(...rs.map((r) => r[b])) - Math.min(...rs.map((r) => r[a]))) / 1000;
    const regSeconds = span('r0', 'r1');
    const lookSeconds = span('l0', 'l1');
    // Round trip of one trivial statement from this process (bridge + server).
    const reg = lib.ModelRegistry.open(root, { store });
    const n = 2000;
    const t = performance.now();
    for (let i = 0; i < n; i++) reg.store.db.prepare('SELECT 1 AS x').get();
    const roundTripMs = (performance.now() - t) / n;
    const total = reg.list('bench').length;
    reg.close();
    if (total !== CLIENTS * REGISTRATIONS) throw new Error(`lost registrations: ${total}`);
    return {
      clients: CLIENTS,
      registrations: CLIENTS * REGISTRATIONS,
      registrationsPerSecond: Math.round((CLIENTS * REGISTRATIONS) / regSeconds),
      lookups: CLIENTS * LOOKUPS,
      lookupsPerSecond: Math.round((CLIENTS * LOOKUPS) / lookSeconds),
      statementRoundTripMs: Number(roundTripMs.toFixed(3)),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const results = {
  quick,
  loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  targets: { postgres: { registrationsPerSecond: 200, lookupsPerSecond: 2000 } },
};
log('sqlite …');
results.sqlite = await measure('sqlite');
log(JSON.stringify(results.sqlite));
results.postgres = await withPgBenchSchema(lib, async (url) => {
  log('postgres …');
  const r = await measure(url);
  log(JSON.stringify(r));
  r.meetsTargets = r.registrationsPerSecond >= 200 && r.lookupsPerSecond >= 2000;
  return r;
});
results.loadAverageAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
writeResult('scale-registry', results);
