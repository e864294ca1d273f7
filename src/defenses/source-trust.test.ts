import { describe, expect, it } from 'vitest';
import { nearestMeanClassifier, syntheticDataset, syntheticReps } from '../testing/synthetic.js';
import { expectThrowsCode } from '../testing/throws-code.js';
import { Rng } from '../util/rng.js';
import { scanDataset } from './scan.js';
import { sourceTrust } from './source-trust.js';

const CLASSES = ['a', 'b', 'c'];

/**
 * `contributors` honest sources of `per` records each over the classes, each record flagged
 * with probability `fpr` (a detector's false positives); optionally one poisoning contributor
 * with `poison` records in class 0, each flagged with probability `recall`, and `clean` clean
 * records spread over the classes.
 */
function contributions(o: {
  contributors: number;
  per: number;
  fpr: number;
  seed: number;
  poison?: number;
  recall?: number;
  clean?: number;
}) {
  const rng = new Rng(o.seed);
  const source: string[] = [];
  const y: number[] = [];
  const flagged: number[] = [];
  for (let s = 0; s < o.contributors; s++) {
    for (let i = 0; i < o.per; i++) {
      source.push(`honest-${s}`);
      y.push(rng.int(3));
      flagged.push(rng.next() < o.fpr ? 1 : 0);
    }
  }
  for (let i = 0; i < (o.clean ?? 0); i++) {
    source.push('mallory');
    y.push(rng.int(3));
    flagged.push(rng.next() < o.fpr ? 1 : 0);
  }
  for (let i = 0; i < (o.poison ?? 0); i++) {
    source.push('mallory');
    y.push(0);
    flagged.push(rng.next() < (o.recall ?? 1) ? 1 : 0);
  }
  return { source, y: Int32Array.from(y), classes: CLASSES, flagged: Uint8Array.from(flagged) };
}

describe('sourceTrust', () => {
  it('names the one poisoning contributor among several, and no honest one', () => {
    const input = contributions({
      contributors: 6,
      per: 300,
      fpr: 0.03,
      seed: 3,
      poison: 40,
      recall: 0.8,
      clean: 200,
    });
    const r = sourceTrust(input);
    expect(r.toReview).toEqual(['mallory']);
    const m = r.sources[0]!;
    expect(m.source).toBe('mallory');
    expect(m.toReview).toBe(true);
    expect(m.adjustedP).toBeLessThan(1e-6);
    expect(m.classes[0]!.className).toBe('a');
    // Mallory holds most of class a's flagged records; its overall share is far above the rest.
    const a = r.perClass.find((c) => c.className === 'a')!;
    expect(a.topSource).toBe('mallory');
    expect(a.topShare).toBeGreaterThan(0.5);
    expect(m.shareFlagged).toBeGreaterThan(3 * r.overallShare);
    expect(r.sources.filter((s) => s.toReview)).toHaveLength(1);
  });

  it('names nobody on clean data: across 40 seeds, at most the α share of runs names anyone', () => {
    let runsNaming = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const r = sourceTrust(contributions({ contributors: 8, per: 250, fpr: 0.04, seed }));
      if (r.toReview.length) runsNaming++;
    }
    // Family-wise α = 0.05 (Holm is conservative): expected ≤ 2 of 40; 4 would be a tail event.
    expect(runsNaming).toBeLessThanOrEqual(3);
  });

  it('does not name a source for contributing a class the detectors flag broadly', () => {
    // "classy" contributes only class 0, where the detector flags 20% of every source's records.
    const rng = new Rng(9);
    const source: string[] = [];
    const y: number[] = [];
    const flagged: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const c = i < 600 ? 0 : rng.next() < 0.1 ? 0 : 1 + rng.int(2);
      source.push(i < 600 ? 'classy' : `honest-${i % 5}`);
      y.push(c);
      flagged.push(rng.next() < (c === 0 ? 0.2 : 0.01) ? 1 : 0);
    }
    const r = sourceTrust({
      source,
      y: Int32Array.from(y),
      classes: CLASSES,
      flagged: Uint8Array.from(flagged),
    });
    const classy = r.sources.find((s) => s.source === 'classy')!;
    expect(classy.shareFlagged).toBeGreaterThan(2 * r.overallShare); // unconditionally it stands out
    expect(r.toReview).toEqual([]); // but not within its class
  });

  it('says there is nothing to group when each record has its own source', () => {
    const input = contributions({ contributors: 1, per: 200, fpr: 0.05, seed: 2 });
    const r = sourceTrust({ ...input, source: input.source.map((_, i) => `file-${i}.png`) });
    expect(r.note).toMatch(/nothing to group/);
    expect(r.toReview).toEqual([]);
  });

  it('rejects mismatched lengths and a bad alpha', () => {
    const input = contributions({ contributors: 2, per: 10, fpr: 0.1, seed: 1 });
    expectThrowsCode(() => sourceTrust({ ...input, source: input.source.slice(1) }));
    expectThrowsCode(() => sourceTrust(input, { alpha: 1 }));
  });
});

describe('scanDataset with record sources', () => {
  it('reports contamination per source and names the poisoning contributor', async () => {
    // 5 classes × 200 clean records + 60 poison in class 0, shifted (a backdoor cluster).
    const s = syntheticReps({ poison: 60, target: 0, seed: 4 });
    const rng = new Rng(5);
    const source = Array.from(s.poisoned, (p) => (p ? 'mallory' : `honest-${rng.int(5)}`));
    const ds = { ...syntheticDataset(s), source };
    const model = nearestMeanClassifier(ds);
    const scan = await scanDataset(ds, model, { methods: ['ac', 'ss'], seed: 1 });
    const caught = s.poisoned.reduce((n, p, i) => n + (p && scan.flagged[i] ? 1 : 0), 0);
    expect(caught).toBeGreaterThan(30); // the scan finds the cluster …
    expect(scan.sources?.toReview).toEqual(['mallory']); // … and the trust report its source
    const clean = await scanDataset(
      { ...syntheticDataset(syntheticReps({ seed: 4 })), source: source.slice(0, 1000) },
      model,
      { methods: ['ac', 'ss'], seed: 1 },
    );
    expect(clean.sources?.toReview).toEqual([]);
    await expect(
      scanDataset(syntheticDataset(s), model, { methods: ['ac'], seed: 1 }),
    ).resolves.not.toHaveProperty('sources');
  });
});
