import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../data/load.js';
import { sourceTrust } from '../defenses/source-trust.js';
import { Rng } from '../util/rng.js';
import { runAudit } from './audit.js';
import { sourceTrustSection } from './source-trust-section.js';

/** The audit's NumPy fixture (30 planted backdoor records, label 0). */
const FIXTURE = new URL('./fixtures/numpy-bars', import.meta.url).pathname;
const PLANTED = new Set(
  (
    JSON.parse(
      readFileSync(new URL('./fixtures/numpy-bars.planted.json', import.meta.url), 'utf8'),
    ) as number[]
  ).map(Number),
);

describe('sourceTrustSection', () => {
  it('is absent without sources and names no one when nothing points at a source', () => {
    expect(sourceTrustSection(undefined)).toBeUndefined();
    const r = sourceTrust({
      source: ['a', 'a', 'b', 'b', 'c', 'c'],
      y: Int32Array.from([0, 1, 0, 1, 0, 1]),
      classes: ['x', 'y'],
      flagged: Uint8Array.from([1, 0, 0, 0, 0, 0]),
    });
    const s = sourceTrustSection(r)!;
    expect(s.status).toBeUndefined();
    expect(s.bullets).toBeUndefined();
    expect(s.paragraphs?.[1]).toMatch(/No source holds more flagged records than chance/);
    expect(s.tables?.[0]?.rows).toHaveLength(3);
  });

  it('the audit report names the one poisoning contributor among several', async () => {
    const loaded = await loadDataset(FIXTURE);
    const rng = new Rng(3);
    const ds = loaded.dataset;
    const source = ds.ids.map((id) =>
      PLANTED.has(Number(id)) ? 'mallory' : `honest-${rng.int(4)}`,
    );
    const r = await runAudit({
      data: { ...loaded, dataset: { ...ds, source } },
      seed: 1,
      vulnerability: false,
    });
    const section = r.report.sections.find((s) => s.id === 'sources')!;
    expect(section.bullets).toEqual(['Review source "mallory"']);
    expect(section.paragraphs?.[1]).toMatch(/^Sources to review: mallory\./);
    expect(section.tables?.[0]?.rows[0]?.[0]).toBe('mallory');
    const data = r.report.data.scan as { sources: { toReview: string[] } };
    expect(data.sources.toReview).toEqual(['mallory']);
    expect(r.report.sections.map((s) => s.id)).toEqual([
      'summary',
      'integrity',
      'scan',
      'sources',
      'recommendations',
    ]);
  });
});
