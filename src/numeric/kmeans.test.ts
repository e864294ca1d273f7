import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { kMeans, silhouette } from './kmeans.js';

/** The silhouette as defined (Rousseeuw 1987), every distance computed from both ends. */
function reference(points: Float64Array, d: number, members: number[][]): number[] {
  const dist = (i: number, j: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) {
      const u = points[i * d + t]! - points[j * d + t]!;
      s += u * u;
    }
    return Math.sqrt(s);
  };
  return members.map((own, c) => {
    if (own.length <= 1) return 0;
    let sum = 0;
    for (const i of own) {
      let a = 0;
      for (const j of own) if (j !== i) a += dist(i, j);
      a /= own.length - 1;
      let b = Number.POSITIVE_INFINITY;
      members.forEach((other, c2) => {
        if (c2 === c || other.length === 0) return;
        let s = 0;
        for (const j of other) s += dist(i, j);
        b = Math.min(b, s / other.length);
      });
      const m = Math.max(a, b);
      sum += Number.isFinite(b) && m > 0 ? (b - a) / m : 0;
    }
    return sum / own.length;
  });
}

describe('silhouette', () => {
  it('equals the two-sided definition exactly, with a singleton and an empty cluster', () => {
    const rng = new Rng(3);
    const d = 4;
    const n = 61;
    const points = Float64Array.from({ length: n * d }, () => rng.normal());
    // Cluster 3 is empty; cluster 2 a singleton.
    const assignments = Int32Array.from({ length: n }, (_, i) => (i === 60 ? 2 : i % 2));
    const members = [0, 1, 2, 3].map((c) =>
      [...assignments.keys()].filter((i) => assignments[i] === c),
    );
    const s = silhouette(points, n, d, assignments, 4, new Rng(1));
    expect([...s.perCluster]).toEqual(reference(points, d, members));
  });

  it('separates two blobs found by k-means (a sampled silhouette beyond maxPerCluster)', () => {
    const rng = new Rng(5);
    const d = 3;
    const n = 900;
    const points = Float64Array.from(
      { length: n * d },
      (_, v) => rng.normal() * 0.3 + (Math.floor(v / d) < 600 ? 0 : 5),
    );
    const km = kMeans(points, n, d, 2, new Rng(2));
    expect([...km.sizes].sort((a, b) => a - b)).toEqual([300, 600]);
    const s = silhouette(points, n, d, km.assignments, 2, new Rng(4), 200);
    expect(s.overall).toBeGreaterThan(0.8);
    // The same sample with the same seed: the same value.
    expect(silhouette(points, n, d, km.assignments, 2, new Rng(4), 200).overall).toBe(s.overall);
  });
});
