import { describe, expect, it } from 'vitest';
import type { Classifier } from '../engine/classifier.js';
import { redactUrl } from './connection.js';
import { withRepresentations } from './scan-jobs.js';

/** A model whose activations are the record's first value times 10 (and counted). */
function fakeModel(calls: { n: number }): Classifier {
  return {
    inputShape: [2],
    numClasses: 2,
    layerNames: ['dense', 'out'],
    predictProba: async (_x, n) => new Float32Array(n * 2),
    predict: async (_x, n) => new Int32Array(n),
    activations: async (x, n) => {
      calls.n++;
      return { data: Float32Array.from({ length: n }, (_, i) => x[i * 2]! * 10), dim: 1 };
    },
  };
}

describe('withRepresentations', () => {
  const records = Float32Array.from({ length: 20 }, (_, i) => i);
  const reps = { data: Float32Array.from({ length: 10 }, (_, i) => 100 + i), dim: 1 };

  it('answers the records’ batches of the layer from the shards, without the model', async () => {
    const calls = { n: 0 };
    const m = withRepresentations(fakeModel(calls), records, 2, undefined, reps);
    expect(Array.from((await m.activations(records.subarray(4, 10), 3)).data)).toEqual([
      102, 103, 104,
    ]);
    expect(calls.n).toBe(0);
  });

  it('asks the model for other arrays, other layers, and misaligned views', async () => {
    const calls = { n: 0 };
    const m = withRepresentations(fakeModel(calls), records, 2, undefined, reps);
    expect(Array.from((await m.activations(records.slice(4, 6), 1)).data)).toEqual([40]);
    expect(Array.from((await m.activations(records.subarray(4, 6), 1, 'dense')).data)).toEqual([
      40,
    ]);
    expect(Array.from((await m.activations(records.subarray(5, 7), 1)).data)).toEqual([50]);
    expect(calls.n).toBe(3);
  });
});

describe('redactUrl', () => {
  it('hides the password of a queue URL', () => {
    expect(redactUrl('redis://:hunter2@10.0.0.1:6379/2')).toBe('redis://:***@10.0.0.1:6379/2');
    expect(redactUrl('redis://u:p%40ss@h:1')).not.toContain('p%40ss');
    expect(redactUrl('redis://h:1')).toBe('redis://h:1');
  });
});
