import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { SIDE } from '../testing/fixtures.js';
import { buildScenario, type ScenarioFiles } from '../testing/scenario.js';
import { Deployment, type RequestClient } from './deployment.js';
import { ModelRegistry } from './model-registry.js';
import { parseMonitorConfig } from './monitor.js';

/** Three authenticated clients: enough trusted evidence for an automatic rollback. */
const CLIENTS: RequestClient[] = [0, 1, 2].map((i) => ({ id: `reader-${i}`, authenticated: true }));

/** `row` translated by (dx, dy) pixels, the uncovered border black. */
function translate(row: readonly number[], dx: number, dy: number): number[] {
  return row.map((_, k) => {
    const r = Math.floor(k / SIDE) - dy;
    const c = (k % SIDE) - dx;
    return r >= 0 && r < SIDE && c >= 0 && c < SIDE ? row[r * SIDE + c]! : 0;
  });
}

/** One record as a dataset the deployment reads. */
function record(row: readonly number[]): Dataset {
  return {
    x: Float32Array.from(row),
    shape: [1, SIDE, SIDE, 1],
    y: new Int32Array(1),
    classes: ['c0', 'c1', 'c2', 'c3'],
    ids: ['r'],
  };
}

/**
 * Drift is not a backdoor (issue 21, item 4): the backdoored model in production receives
 * shifted, dimmed and brightened clean images from three trusted clients. STRIP alone rejects
 * most shifted ones (low entropy: the overlays decide every blend), but no critical STRIP alert
 * is raised and nothing rolls back; triggered images from the same clients still roll it back.
 */
describe('STRIP evidence: shifted but untriggered images', () => {
  let s: ScenarioFiles;
  let reg: ModelRegistry;
  let d: Deployment | undefined;

  beforeAll(async () => {
    s = await buildScenario(await mkdtemp(join(tmpdir(), 'antidote-strip-ev-')));
    reg = ModelRegistry.open(s.project);
  }, 90_000);
  afterAll(async () => {
    await d?.close();
    reg?.close();
    if (s) await rm(s.root, { recursive: true, force: true });
  });

  it('raises no critical STRIP alert and no rollback on shifted traffic; triggers still do', async () => {
    for (const dir of [s.cleanDir, s.backdooredDir]) {
      const v = (await reg.register(dir, { name: 'digits' })).version;
      reg.recordGateResult(v.id, { passed: true, policyDigest: 'test', result: {} });
      await reg.promote(v.id, { actor: 'test' });
    }
    const events: string[] = [];
    d = await Deployment.start(reg, 'digits', {
      reference: s.reference,
      monitor: parseMonitorConfig({}),
      seed: 1,
      onEvent: (e) => events.push(e.type),
    });
    const shifted = [
      ...s.cleanRows.map((r) => translate(r, 1, 1)),
      ...s.cleanRows.map((r) => translate(r, 2, 0)),
      ...s.cleanRows.map((r) => r.map((v) => v * 0.5)),
      ...s.cleanRows.map((r) => r.map((v) => Math.min(1, v + 0.3))),
    ];
    let lowEntropy = 0;
    for (const [i, row] of shifted.entries()) {
      const p = await d.predictRecords(record(row), CLIENTS[i % CLIENTS.length]);
      if (p.strip && p.strip.entropy[0]! < p.strip.threshold) lowEntropy++;
      await d.settled();
    }
    const alerts = reg.alerts({ name: 'digits' });
    expect(alerts.filter((a) => a.severity === 'critical')).toEqual([]);
    expect(alerts.filter((a) => a.monitor === 'strip')).toEqual([]);
    expect(events).not.toContain('rollback');
    expect(reg.production('digits')?.id).toBe('digits@2');
    // STRIP's entropy alone would have rejected many of them; the shift shows up as drift.
    expect(lowEntropy).toBeGreaterThan(10);
    const drift = alerts.filter((a) => a.monitor === 'input-drift');
    expect(drift.length).toBeGreaterThan(0);
    expect(drift.every((a) => a.severity === 'warning' && a.details.rollback === false)).toBe(true);

    // Triggered images from the same clients: critical STRIP alert, automatic rollback.
    let backAt = -1;
    for (const [i, row] of s.triggeredRows.entries()) {
      await d.predictRecords(record(row), CLIENTS[i % CLIENTS.length]);
      await d.settled();
      if (d.version.id === 'digits@1') {
        backAt = i + 1;
        break;
      }
    }
    expect(backAt).toBeGreaterThan(0);
    expect(backAt).toBeLessThanOrEqual(40);
    const strip = reg.alerts({ name: 'digits' }).filter((a) => a.monitor === 'strip');
    expect(strip.map((a) => a.severity)).toEqual(['critical']);
    expect(reg.production('digits')?.id).toBe('digits@1');
  }, 120_000);
});
