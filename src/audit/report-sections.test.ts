import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { mergeReports } from '../defenses/scan.js';
import { pct } from './report-figures.js';
import {
  scanRecommendations,
  scanSection,
  skippedSection,
  sourcesAreContributors,
  vulnerabilitySection,
} from './report-sections.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

/** Four short reviews, two per class. */
const texts: Dataset = {
  text: ['good film', 'cf great film', 'bad film', 'awful'],
  ids: 'abcd'.split(''),
  classes: ['neg', 'pos'],
  y: Int32Array.from([0, 0, 1, 1]),
  shape: [4, 2],
  x: new Float32Array(8),
};

describe('shared report sections', () => {
  it('shows the most suspicious records of non-image data as a table, text excerpts included', () => {
    const report = {
      method: 'm',
      scores: Float32Array.from([0.1, 0.9, 0.2, 0.3]),
      flagged: Uint8Array.from([0, 1, 0, 0]),
      perClass: [],
      params: {},
    };
    const scan = mergeReports(texts, [report]);
    const s = scanSection({
      ds: texts,
      scan,
      detection: {},
      representations: { data: new Float32Array(4), dim: 1 },
      status: 'review',
      model: "the text model's",
      seed: 1,
    });
    expect(s.status).toBe('review');
    expect(s.images).toBeUndefined();
    expect(s.paragraphs?.[0]).toContain('a record is flagged when at least 1 flags it.');
    const table = s.tables?.find((t) => t.caption.includes('most suspicious'));
    expect(table?.columns).toEqual(['record', 'label', 'flagged by', 'suspicion', 'text']);
    expect(table?.rows[0]).toEqual(['b', 'neg', 'm', '100.0', 'cf great film']);
  });

  it('says why a stage was skipped, without a status', () => {
    expect(skippedSection('vulnerability', 'Vulnerability', 'not for text')).toEqual({
      id: 'vulnerability',
      title: 'Vulnerability',
      paragraphs: ['Skipped: not for text.'],
    });
  });

  it('shows undefined percentages as a dash, not NaN%', () => {
    expect(pct(Number.NaN)).toBe('—');
    expect(pct(null)).toBe('—');
    expect(pct(0.1234)).toBe('12.34%');
  });

  it('states a limitation instead of a rate, with no status, and names the victims left out', () => {
    const v: VulnerabilityAssessment = {
      trainRecords: 150,
      testRecords: 50,
      victim: { model: 'cnn', epochs: 1 },
      cleanAccuracy: 0.157,
      minClassRecords: 15,
      limitations: ['the smallest class has only 15 training records (fewer than 50)'],
      curves: [
        {
          attack: 'backdoor',
          description: 'b',
          points: [
            {
              rate: 0.001,
              poisoned: 0,
              accuracy: 0.157,
              attackSuccessRate: 1,
              excluded: 'no record was poisoned at this rate',
            },
          ],
          asr50Rate: null,
          asr90Rate: null,
          baseline: { rate: 0, poisoned: 0, accuracy: 0.157, attackSuccessRate: 0.95 },
        },
      ],
    };
    const s = vulnerabilitySection(v, undefined);
    expect(s.status).toBeUndefined();
    expect(s.paragraphs?.[0]).toContain('trigger ASR without poison 95.0%');
    expect(s.paragraphs?.slice(1)).toEqual([
      "Limitation — no poison rate is stated and the policy's rate check is not applied: the smallest class has only 15 training records (fewer than 50).",
      'Left out of the rates: 0.10%, as no record was poisoned at this rate.',
    ]);
    // No "x% poison reaches 90% ASR" anywhere.
    expect(JSON.stringify(s.paragraphs)).not.toMatch(/90% (ASR )?at \d/);
    // The chart starts at the 0% baseline.
    expect(s.charts?.[0]?.description).toMatch(
      /^b: 0\.00% → ASR 95\.0%, accuracy 15\.7%; 0\.10% → .*\(left out\)\.$/,
    );
  });

  it('names a contributor only where sources are contributors, never a record file', () => {
    const n = 12;
    const ds = (source: string[]): Dataset => ({
      ids: Array.from({ length: n }, (_, i) => `c${i % 2}/img${i}.png`),
      source,
      classes: ['a', 'b'],
      y: Int32Array.from({ length: n }, (_, i) => i % 2),
      shape: [n, 1],
      x: new Float32Array(n),
    });
    const report = {
      method: 'm',
      scores: Float32Array.from({ length: n }, (_, i) => (i < 4 ? 0.9 : 0.1)),
      flagged: Uint8Array.from({ length: n }, (_, i) => (i < 4 ? 1 : 0)),
      perClass: [],
      params: {},
    };
    const people = Array.from({ length: n }, (_, i) => (i < 3 ? 'mallory' : `user${i % 3}`));
    const byPeople = ds(people);
    expect(sourcesAreContributors(byPeople.ids, people)).toBe(true);
    const recs = scanRecommendations(byPeople, mergeReports(byPeople, [report]));
    expect(recs[1]).toBe(
      '3 of the 4 flagged records came from the contributor "mallory" (which supplied 3 of the 12 records): review that contributor\'s data before accepting more.',
    );
    // PNG folders record each file as its source; MNIST one feed for all: no contributor.
    const files = ds(byPeople.ids.slice());
    expect(sourcesAreContributors(files.ids, files.source!)).toBe(false);
    expect(scanRecommendations(files, mergeReports(files, [report]))).toHaveLength(1);
    const feed = ds(new Array(n).fill('mnist-data'));
    expect(scanRecommendations(feed, mergeReports(feed, [report])).join(' ')).not.toMatch(
      /contributor/,
    );
  });
});
