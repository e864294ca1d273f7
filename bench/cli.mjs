#!/usr/bin/env node
// CLI start-up benchmark (issue 15, item 8): wall time of `antidote --version`, `antidote help` and
// `antidote info mnist:test:100`, each beside `node -e 0` (Node's own start). The median of 5 runs
// (`--runs N` for more); the runs take turns, so that a busy machine slows every case alike.
// Targets on a 2-core machine: --version and help ≤ 0.3 s, info ≤ 1.0 s. Needs `npm run build`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeResult } from './common.mjs';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
if (!existsSync(cli)) {
  console.error(`bench cli: ${cli} is missing: run npm run build first`);
  process.exit(1);
}
const runsIdx = process.argv.indexOf('--runs');
const runs = runsIdx >= 0 ? Number(process.argv[runsIdx + 1]) : 5;
if (!Number.isInteger(runs) || runs < 1) {
  console.error('bench cli: --runs takes a positive integer');
  process.exit(1);
}

const cases = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'antidote --version', args: [cli, '--version'], target: 0.3 },
  { name: 'antidote help', args: [cli, 'help'], target: 0.3 },
  { name: 'antidote info mnist:test:100', args: [cli, 'info', 'mnist:test:100'], target: 1.0 },
];

/**
 * CPU seconds used by this process's waited-for children (Linux: /proc/self/stat cutime + cstime,
 * in clock ticks of 10 ms), or undefined elsewhere. Unlike wall time, it hardly depends on how busy
 * the machine is.
 */
function childCpuSeconds() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return undefined;
  }
}

/** Wall and CPU seconds of one run of `node ARGS`; fails the bench when the command fails. */
function timeRun(c) {
  const cpu0 = childCpuSeconds();
  const t = performance.now();
  const r = spawnSync(process.execPath, c.args, { encoding: 'utf8' });
  const seconds = (performance.now() - t) / 1000;
  const cpu1 = childCpuSeconds();
  if (r.status !== 0) {
    console.error(`bench cli: ${c.name} exited with ${r.status}: ${r.stderr}`);
    process.exit(1);
  }
  return { seconds, cpuSeconds: cpu0 === undefined ? undefined : cpu1 - cpu0 };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (s) => Math.round(s * 1000) / 1000;

for (const c of cases) timeRun(c); // warm the file cache
const times = cases.map(() => []);
const cpuTimes = cases.map(() => []);
for (let i = 0; i < runs; i++) {
  for (const [j, c] of cases.entries()) {
    const r = timeRun(c);
    times[j].push(r.seconds);
    if (r.cpuSeconds !== undefined) cpuTimes[j].push(r.cpuSeconds);
  }
}

const nodeStart = median(times[0]);
const results = { runs, statistic: 'median', unit: 'seconds', commands: {} };
cases.forEach((c, j) => {
  const m = median(times[j]);
  const cpu = cpuTimes[j].length ? round(median(cpuTimes[j])) : undefined;
  results.commands[c.name] = {
    median: round(m),
    overNode: round(m - nodeStart),
    runs: times[j].map(round),
    ...(cpu !== undefined ? { cpuMedian: cpu } : {}),
    ...(c.target !== undefined ? { target: c.target, met: m <= c.target } : {}),
  };
  const verdict =
    c.target !== undefined ? ` (target ≤ ${c.target} s: ${m <= c.target ? 'met' : 'MISSED'})` : '';
  console.error(`${c.name.padEnd(30)} ${m.toFixed(3)} s, CPU ${cpu ?? '?'} s${verdict}`);
});
writeResult('cli', results);
