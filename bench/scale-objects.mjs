#!/usr/bin/env node
// Large objects in the shared PostgreSQL store (issue 22): MiB/s of putting and getting one
// 64 MiB object (streamed in chunks, digest-checked) for chunk sizes of 256 KiB, 1 and 4 MiB, against the
// local file store (the SQLite default) as the baseline, and the peak memory of the process doing
// it (the object must never be held whole). Writes bench/results/scale-objects.json.
// Needs `npm run build` and a PostgreSQL URL in ANTIDOTE_BENCH_PG_URL or ANTIDOTE_TEST_PG_URL
// (`eval "$(scripts/services.sh start)"`); uses a schema of its own with a random name, dropped at
// the end. `--quick`: a 16 MiB object.
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasFlag, withPgBenchSchema, writeResult } from './common.mjs';

const MiB = 1024 * 1024;

// Child mode: one measurement in a fresh process (so that its peak RSS is the store's own).
if (process.argv[2] === '--child') {
  const [, , , root, store, file, chunk] = process.argv;
  const lib = await import('../dist/registry/index.js');
  const integrity = await import('../dist/integrity/index.js');
  const cat = store === 'local' ? undefined : lib.SqlCatalogueStore.open(root, { store });
  const objects = cat
    ? new lib.PgObjectStore(join(root, 'o'), cat.db, { chunkBytes: Number(chunk) })
    : new integrity.ObjectStore(join(root, 'local-objects'));
  const rssBefore = process.resourceUsage().maxRSS / 1024;
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const c0 = cpu();
  const t0 = performance.now();
  const digest = await objects.putFile(file);
  const t1 = performance.now();
  const c1 = cpu();
  const dst = join(root, `out-${randomBytes(4).toString('hex')}`);
  await objects.copyOut(digest, dst);
  const t2 = performance.now();
  const c2 = cpu();
  const rssAfter = process.resourceUsage().maxRSS / 1024;
  const same = createHash('sha256').update(readFileSync(dst)).digest('hex') === digest;
  rmSync(dst);
  cat?.close();
  process.stdout.write(
    JSON.stringify({
      putS: (t1 - t0) / 1000,
      getS: (t2 - t1) / 1000,
      putCpuS: c1 - c0,
      getCpuS: c2 - c1,
      rssBefore,
      rssAfter,
      same,
    }),
  );
  process.exit(0);
}

const quick = hasFlag('--quick');
const mibAt = process.argv.indexOf('--mib');
// `--mib N`: another object size (e.g. 256, to see that memory does not grow with it).
const SIZE = (mibAt > 0 ? Number(process.argv[mibAt + 1]) : quick ? 16 : 64) * MiB;
const log = (...a) => console.error('bench scale-objects:', ...a);
const script = fileURLToPath(import.meta.url);

/** A deterministic incompressible file (AES-CTR keystream), written 4 MiB at a time. */
function makeFile(path, bytes) {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(4 * MiB);
  const fd = openSync(path, 'w');
  for (let left = bytes; left > 0; left -= zeros.length) {
    writeSync(fd, cipher.update(zeros.subarray(0, Math.min(left, zeros.length))));
  }
  closeSync(fd);
}

function run(root, store, file, chunk) {
  const r = spawnSync(process.execPath, [script, '--child', root, store, file, String(chunk)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`child exited with ${r.status}`);
  const m = JSON.parse(r.stdout);
  if (!m.same) throw new Error('the object read back differs');
  const mib = SIZE / MiB;
  return {
    putMiBPerSecond: Number((mib / m.putS).toFixed(1)),
    getMiBPerSecond: Number((mib / m.getS).toFixed(1)),
    putSeconds: Number(m.putS.toFixed(3)),
    getSeconds: Number(m.getS.toFixed(3)),
    // CPU of this client process (both threads), less sensitive to other jobs than wall time.
    putClientCpuSeconds: Number(m.putCpuS.toFixed(3)),
    getClientCpuSeconds: Number(m.getCpuS.toFixed(3)),
    peakRssMiBBefore: Math.round(m.rssBefore),
    peakRssMiBAfter: Math.round(m.rssAfter),
  };
}

const root = mkdtempSync(join(tmpdir(), 'antidote-bench-objects-'));
const results = {
  quick,
  objectMiB: SIZE / MiB,
  loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))),
};
try {
  const file = join(root, 'payload.bin');
  makeFile(file, SIZE);
  log('local file store …');
  results.local = run(root, 'local', file, 0);
  log(JSON.stringify(results.local));
  const lib = await import('../dist/registry/index.js');
  results.postgres = await withPgBenchSchema(lib, async (url) => {
    lib.SqlCatalogueStore.open(root, { store: url }).close(); // migrations outside timing
    const out = {};
    for (const chunkMiB of [0.25, 1, 4]) {
      log(`postgres, ${chunkMiB} MiB chunks …`);
      // A fresh object each time (the second put of the same content would upload nothing).
      const db = lib.PgSqlDatabase.connect(url);
      db.exec('DELETE FROM object_chunks; DELETE FROM large_objects; DELETE FROM object_uses');
      db.close();
      out[`chunk${chunkMiB}MiB`] = run(root, url, file, chunkMiB * MiB);
      log(JSON.stringify(out[`chunk${chunkMiB}MiB`]));
    }
    return out;
  });
} finally {
  rmSync(root, { recursive: true, force: true });
}
results.loadAverageAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
writeResult('scale-objects', results);
