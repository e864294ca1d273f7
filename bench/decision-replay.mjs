#!/usr/bin/env node
// Replays the scan decision (dist/defenses/scan.js's mergeReports, as built now) on the reports
// that `bench/detection-matrix.mjs --stage detect --save-reports` saved, and prints per case the
// decision's precision, recall, F1, flagged count and verdict, beside each report's own F1. A
// change to the decision rule alone is checked this way on every saved case in seconds, without
// running the detectors again (the detectors' reports do not depend on the decision).
//
//   node bench/decision-replay.mjs DETECT_DIR [--only REGEX] [--json OUT]

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mergeReports } from '../dist/defenses/scan.js';
import { evaluateDetection } from '../dist/eval/detection.js';
// Imported for `--help` (prints the comment above and exits before anything runs).
import './common.mjs';

const args = process.argv.slice(2);
const dir = args[0];
if (!dir) throw new Error('usage: decision-replay.mjs DETECT_DIR [--only REGEX] [--json OUT]');
const flag = (name) => {
  const i = args.indexOf(name);
  return i > 0 ? args[i + 1] : undefined;
};
const only = flag('--only') ? new RegExp(flag('--only')) : undefined;

/** Precision, recall and F1 of a 0/1 mask against the truth mask, as the matrix scores them. */
function prf(flagged, truth) {
  const ev = evaluateDetection(
    { scores: Float32Array.from(flagged), flagged },
    { poisoned: truth },
  );
  const n = flagged.reduce((a, b) => a + b, 0);
  const hasPoison = truth.some((v) => v === 1);
  const round = (v) => Math.round(v * 100) / 100;
  return {
    precision: n ? round(ev.precision) : null,
    recall: hasPoison ? round(ev.recall) : null,
    f1: hasPoison ? round(ev.f1) : null,
    flagged: n,
  };
}

const rows = [];
for (const key of readdirSync(dir).sort()) {
  if (only && !only.test(key)) continue;
  const file = join(dir, key, 'reports.json');
  if (!existsSync(file)) continue;
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  const y = Int32Array.from(saved.y);
  const truth = new Uint8Array(y.length);
  for (const i of saved.truth) truth[i] = 1;
  const reports = saved.reports.map((r) => ({
    ...r,
    scores: Float32Array.from(r.scores),
    flagged: Uint8Array.from(r.flagged),
    ...(r.suggestedLabels ? { suggestedLabels: Int32Array.from(r.suggestedLabels) } : {}),
  }));
  const ds = { x: new Float32Array(0), y, classes: saved.classes, shape: [] };
  const merged = mergeReports(ds, reports, undefined, saved.detectors);
  const row = {
    key,
    ...prf(merged.flagged, truth),
    verdict: String(merged.verdict?.verdict ?? '').toUpperCase(),
    detectors: Object.fromEntries(
      reports.map((r, k) => [saved.detectors[k], prf(r.flagged, truth).f1]),
    ),
  };
  rows.push(row);
  const each = Object.entries(row.detectors)
    .map(([d, f]) => `${d} ${f ?? '–'}`)
    .join(' ');
  console.log(
    `${key}: F1 ${row.f1 ?? '–'} P ${row.precision ?? '–'} R ${row.recall ?? '–'} flagged ${row.flagged} ${row.verdict} | ${each}`,
  );
}
if (flag('--json')) writeFileSync(flag('--json'), `${JSON.stringify(rows, null, 2)}\n`);
