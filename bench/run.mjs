#!/usr/bin/env node
// `npm run bench [-- --only engine,integrity] [-- --quick]`: runs every benchmark suite in bench/
// (each writes bench/results/<suite>.json) against the built package in dist/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// Every bench/*.mjs but this runner and the shared helpers is a suite.
const suites = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && f !== 'common.mjs')
  .map((f) => f.slice(0, -'.mjs'.length))
  .sort();
const args = process.argv.slice(2);
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
