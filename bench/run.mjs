#!/usr/bin/env node
// `npm run bench [-- --only engine,integrity] [-- --quick]`: runs every benchmark suite in bench/
// (each writes bench/results/<suite>.json) against the built package in dist/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// Every bench/*.mjs is a suite but this runner, the shared modules (common.mjs; attack-cases.mjs,
// the attack benchmark's cases) and decision-replay.mjs (a tool over saved detection reports: it
// needs a directory argument and writes no result).
const notSuites = new Set(['run.mjs', 'common.mjs', 'attack-cases.mjs', 'decision-replay.mjs']);
const suites = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && !notSuites.has(f))
  .map((f) => f.slice(0, -'.mjs'.length))
  .sort();
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(
    `npm run bench [-- --only SUITE,...] [-- FLAGS passed on to every suite]\nsuites: ${suites.join(', ')}\n(node bench/SUITE.mjs --help: a suite's own flags)`,
  );
  process.exit(0);
}
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1].split(',') : suites;
const passOn = args.filter((_, i) => i !== onlyIdx && i !== onlyIdx + 1);
let failed = 0;
for (const suite of only) {
  const file = join(here, `${suite}.mjs`);
  if (!existsSync(file)) {
    console.error(`bench: no suite ${suite} (${file})`);
    failed++;
    continue;
  }
  console.error(`\n=== bench ${suite} ===`);
  const r = spawnSync(process.execPath, [file, ...passOn], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
