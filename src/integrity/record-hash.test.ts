import { describe, expect, it } from 'vitest';
import { featureDigest, hashRecord } from './record-hash.js';

describe('hashRecord', () => {
  const base = {
    id: 'r1',
    features: new Float32Array([0.5, 1, 0]),
    label: 'cat',
    source: 'feed-a',
  };

  it('is stable and changes with every field', () => {
    const h = hashRecord(base).digest;
    expect(hashRecord({ ...base, features: new Float32Array([0.5, 1, 0]) }).digest).toBe(h);
    expect(hashRecord({ ...base, label: 'dog' }).digest).not.toBe(h);
    expect(hashRecord({ ...base, id: 'r2' }).digest).not.toBe(h);
    expect(hashRecord({ ...base, source: 'feed-b' }).digest).not.toBe(h);
    expect(hashRecord({ ...base, features: new Float32Array([0.5, 1, 1e-7]) }).digest).not.toBe(h);
    const { source: _s, ...noSource } = base;
    expect(hashRecord(noSource).digest).not.toBe(h);
  });

  it('separates a label change from a feature change', () => {
    const a = hashRecord(base);
    const b = hashRecord({ ...base, label: 'dog' });
    expect(b.features).toBe(a.features);
    expect(b.label).toBe('dog');
  });

  it('canonicalises -0 and NaN, and tags the dtype', () => {
    expect(featureDigest(new Float32Array([-0]))).toBe(featureDigest(new Float32Array([0])));
    const nan1 = new Float32Array(new Uint32Array([0x7fc00001]).buffer);
    expect(featureDigest(nan1)).toBe(featureDigest(new Float32Array([Number.NaN])));
    expect(featureDigest(new Uint8Array(4))).not.toBe(featureDigest(new Float32Array(1)));
    expect(featureDigest(new Float32Array(1), 'hi')).not.toBe(featureDigest(new Float32Array(1)));
  });
});
