#!/usr/bin/env node
// Integrity benchmarks (issue 5): hashing vs sha256sum, chunked AES-256-GCM throughput and peak
// RSS, manifest of a 100,000-record dataset, verify of a 1 GiB model directory.
// Needs `npm run build` first. `--quick` uses 64 MiB / 10,000 records. Big files go under the OS
// temp dir and are deleted at the end.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasFlag, writeResult } from './common.mjs';

const lib = await import('../dist/integrity/index.js');

// Child mode: one encryption or decryption in a fresh process, so its peak RSS is its own.
if (process.argv[2] === '--child') {
  const [, , , op, src, dst, keyHex] = process.argv;
  const kek = Buffer.from(keyHex, 'hex');
  const t = performance.now();
  const r =
    op === 'encrypt' ? await lib.encryptFile(src, dst, kek) : await lib.decryptFile(src, dst, kek);
  const seconds = (performance.now() - t) / 1000;
  process.stdout.write(
    JSON.stringify({ seconds, bytes: r.bytes, maxRssMiB: process.resourceUsage().maxRSS / 1024 }),
  );
  process.exit(0);
}

const quick = hasFlag('--quick');
const SIZE = quick ? 64 * 2 ** 20 : 2 ** 30;
const RECORDS = quick ? 10_000 : 100_000;
const FEATURES = 784;
const MB = (bytes, s) => bytes / 1e6 / s;
const log = (...a) => console.error('bench integrity:', ...a);

const dir = mkdtempSync(join(tmpdir(), 'antidote-bench-integrity-'));
const results = { sizeBytes: SIZE, quick };
try {
  // A file of pseudo-random content (16 MiB of random bytes repeated).
  const modelDir = join(dir, 'model');
  mkdirSync(modelDir);
  const big = join(modelDir, 'weights.bin');
  const block = randomBytes(16 * 2 ** 20);
  const fd = openSync(big, 'w');
  for (let off = 0; off < SIZE; off += block.length)
    writeSync(fd, block, 0, Math.min(block.length, SIZE - off));
  closeSync(fd);
  writeFileSync(join(modelDir, 'model.json'), '{"format":"bench"}');
  spawnSync('sync');
  log(`wrote ${SIZE} bytes`);

  // 1. Hashing vs sha256sum, warm page cache, alternating, best of 3 each.
  await lib.sha256File(big);
  const ours = [];
  const theirs = [];
  let ourDigest = '';
  let theirDigest = '';
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    ourDigest = (await lib.sha256File(big)).digest;
    ours.push((performance.now() - t) / 1000);
    t = performance.now();
    const r = spawnSync('sha256sum', [big], { encoding: 'utf8' });
    theirs.push((performance.now() - t) / 1000);
    theirDigest = r.stdout?.split(' ')[0] ?? '';
  }
  const ourBest = Math.min(...ours);
  const theirBest = Math.min(...theirs);
  results.hash = {
    oursSeconds: ourBest,
    oursMBps: MB(SIZE, ourBest),
    sha256sumSeconds: theirBest,
    sha256sumMBps: MB(SIZE, theirBest),
    ratio: theirBest / ourBest,
    digestsAgree: ourDigest === theirDigest,
    runs: { ours, sha256sum: theirs },
  };
  log('hash', results.hash);

  // 2. Encryption / decryption in child processes (peak RSS per process).
  const kek = randomBytes(32).toString('hex');
  const child = (op, src, dst) => {
    const r = spawnSync(
      process.execPath,
      [new URL(import.meta.url).pathname, '--child', op, src, dst, kek],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`${op} child failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  // Each run writes (and fsyncs) 1 GiB; flush the dirty pages first so that one run does not
  // pay for the previous one's writeback. Best of 3, every run recorded.
  const encRuns = [];
  const decRuns = [];
  let roundTrip = true;
  for (let r = 0; r < 3; r++) {
    spawnSync('sync');
    encRuns.push(child('encrypt', big, join(dir, 'weights.enc')));
    spawnSync('sync');
    decRuns.push(child('decrypt', join(dir, 'weights.enc'), join(dir, 'weights.dec')));
    roundTrip &&= (await lib.sha256File(join(dir, 'weights.dec'))).digest === ourDigest;
    rmSync(join(dir, 'weights.enc'));
    rmSync(join(dir, 'weights.dec'));
  }
  const best = (runs) => runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const enc = best(encRuns);
  const dec = best(decRuns);
  results.encryption = {
    encryptMBps: MB(SIZE, enc.seconds),
    encryptSeconds: enc.seconds,
    encryptPeakRssMiB: Math.max(...encRuns.map((r) => r.maxRssMiB)),
    decryptMBps: MB(SIZE, dec.seconds),
    decryptSeconds: dec.seconds,
    decryptPeakRssMiB: Math.max(...decRuns.map((r) => r.maxRssMiB)),
    roundTrip,
    runsMBps: {
      encrypt: encRuns.map((r) => MB(SIZE, r.seconds)),
      decrypt: decRuns.map((r) => MB(SIZE, r.seconds)),
    },
    note: 'includes fsync of the output; disk-bound here — see encryptionInMemoryFs for cipher speed',
  };
  log('encryption', results.encryption);
  // The same on a RAM-backed folder (when there is one), to separate cipher speed from disk speed.
  if (existsSync('/dev/shm')) {
    const shm = mkdtempSync('/dev/shm/antidote-bench-');
    try {
      const src = join(shm, 'weights.bin');
      copyFileSync(big, src);
      const e2 = child('encrypt', src, join(shm, 'weights.enc'));
      rmSync(src);
      const d2 = child('decrypt', join(shm, 'weights.enc'), join(shm, 'weights.dec'));
      results.encryptionInMemoryFs = {
        encryptMBps: MB(SIZE, e2.seconds),
        encryptPeakRssMiB: e2.maxRssMiB,
        decryptMBps: MB(SIZE, d2.seconds),
        decryptPeakRssMiB: d2.maxRssMiB,
      };
      log('encryption on /dev/shm', results.encryptionInMemoryFs);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  }

  // 3. Manifest of a synthetic dataset: RECORDS × 784 float32 features + labels + sources.
  const dsDir = join(dir, 'dataset');
  mkdirSync(dsDir);
  const x = new Float32Array(RECORDS * FEATURES);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = (s >>> 8) / 2 ** 24;
  }
  writeFileSync(join(dsDir, 'data.bin'), Buffer.from(x.buffer));
  const width = String(RECORDS - 1).length;
  const records = () =>
    (function* () {
      for (let i = 0; i < RECORDS; i++) {
        yield {
          id: `r${String(i).padStart(width, '0')}`,
          features: x.subarray(i * FEATURES, (i + 1) * FEATURES),
          label: `class-${i % 10}`,
          source: `feed-${i % 7}`,
        };
      }
    })();
  let t = performance.now();
  const m = await lib.createManifest(dsDir, { records: records() });
  const manifestSeconds = (performance.now() - t) / 1000;
  const bytes = lib.manifestBytes(m).length;
  t = performance.now();
  const mv = await lib.verifyManifest(dsDir, m, { records: records() });
  const manifestVerifySeconds = (performance.now() - t) / 1000;
  results.manifest = {
    records: RECORDS,
    featuresPerRecord: FEATURES,
    dataBytes: x.byteLength,
    seconds: manifestSeconds,
    verifySeconds: manifestVerifySeconds,
    verifyOk: mv.ok,
    manifestBytes: bytes,
  };
  log('manifest', results.manifest);
  rmSync(dsDir, { recursive: true });

  // 4. Sign + verify the 1 GiB model directory.
  const pair = lib.generateSigningKeyPair();
  const priv = createPrivateKey(pair.privateKeyPem);
  const pub = createPublicKey(pair.publicKeyPem);
  t = performance.now();
  await lib.signDirectory(modelDir, priv);
  const signSeconds = (performance.now() - t) / 1000;
  const vt = [];
  let ok = false;
  for (let i = 0; i < 2; i++) {
    t = performance.now();
    ok = (await lib.verifyDirectory(modelDir, pub)).ok;
    vt.push((performance.now() - t) / 1000);
  }
  const verifySeconds = Math.min(...vt);
  results.verifyModelDir = {
    signSeconds,
    verifySeconds,
    hashSeconds: ourBest,
    verifyOverHash: verifySeconds / ourBest,
    ok,
  };
  log('verify', results.verifyModelDir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

results.targets = {
  hashAtLeast80PctOfSha256sum: results.hash.ratio >= 0.8,
  // On disk the figure includes reading and writing 1 GiB and an fsync: the disk's limit on a
  // small VM. On a RAM-backed folder it is the tool's own throughput.
  encryptDecryptAtLeast500MBpsOnDisk:
    results.encryption.encryptMBps >= 500 && results.encryption.decryptMBps >= 500,
  encryptDecryptAtLeast500MBpsInMemoryFs: results.encryptionInMemoryFs
    ? results.encryptionInMemoryFs.encryptMBps >= 500 &&
      results.encryptionInMemoryFs.decryptMBps >= 500
    : null,
  peakRssAtMost200MB:
    Math.max(results.encryption.encryptPeakRssMiB, results.encryption.decryptPeakRssMiB) *
      1.048576 <=
    200,
  manifest100kAtMost10s: results.manifest.seconds <= 10,
  verifyAboutHashTime: results.verifyModelDir.verifyOverHash <= 1.3,
};
writeResult(quick ? 'integrity-quick' : 'integrity', results);
