#!/usr/bin/env node
// `npm run bench -- --only hostile [-- --quick]`: fuzzes every data loader with seeded mutations
// of valid files and of the crafted inputs of issue 19 (dist/data/fuzz.js), each loader in its own
// process so its peak memory is its own, and reports per loader: tried / typed error / accepted /
// crash / over-time (> 5 s for one input) / over-memory (peak RSS > 512 MiB). The last three must
// be 0. A child that dies (heap abort, signal) counts as a crash.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hasFlag, writeResult } from './common.mjs';

const MAX_MS = 5000;
const MAX_RSS = 512 * 2 ** 20;

if (process.argv[2] === '--child') {
  const [name, runs] = [process.argv[3], Number(process.argv[4])];
  const { FUZZ_TARGETS, fuzzTarget } = await import('../dist/data/fuzz.js');
  const target = FUZZ_TARGETS.find((t) => t.name === name);
  const t0 = performance.now();
  const tally = await fuzzTarget(target, {
    runs,
    seed: 19,
    maxMs: MAX_MS,
    peakRss: () => process.resourceUsage().maxRSS * 1024,
    maxRssBytes: MAX_RSS,
  });
  const peakRssMiB = (process.resourceUsage().maxRSS * 1024) / 2 ** 20;
  process.stdout.write(
    JSON.stringify({ ...tally, seconds: (performance.now() - t0) / 1000, peakRssMiB }),
  );
  process.exit(0);
}

const runs = hasFlag('--quick') ? 300 : 2000;
const { FUZZ_TARGETS } = await import('../dist/data/fuzz.js');
const rows = [];
for (const { name } of FUZZ_TARGETS) {
  const r = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', name, String(runs)],
    { encoding: 'utf8', timeout: runs * MAX_MS, maxBuffer: 64 * 2 ** 20 },
  );
  let row;
  try {
    row = JSON.parse(r.stdout);
  } catch {
    row = {
      target: name,
      tried: runs,
      typedError: 0,
      accepted: 0,
      crash: 1,
      overTime: r.error ? 1 : 0,
      overMemory: 0,
      crashes: [`child exited ${r.status ?? r.signal}: ${r.stderr.slice(-500)}`],
    };
  }
  rows.push(row);
  console.error(
    `${name.padEnd(12)} tried ${String(row.tried).padStart(5)}  typed error ${String(row.typedError).padStart(5)}  accepted ${String(row.accepted).padStart(5)}  crash ${row.crash}  over-time ${row.overTime}  over-memory ${row.overMemory}  (slowest ${row.slowestMs?.toFixed(1)} ms, peak RSS ${row.peakRssMiB?.toFixed(0)} MiB, ${row.seconds?.toFixed(1)} s)`,
  );
  for (const c of row.crashes ?? []) console.error(`  ${c.split('\n')[0]}`);
}
const findings = rows.reduce((s, r) => s + r.crash + r.overTime + r.overMemory, 0);
writeResult('hostile', {
  runsPerLoader: runs,
  seed: 19,
  limits: { maxMsPerInput: MAX_MS, maxRssMiB: MAX_RSS / 2 ** 20 },
  loaders: rows.map(({ crashes, ...r }) => ({ ...r, crashes })),
  findings,
});
process.exit(findings ? 1 : 0);
