import { describe, expect, it } from 'vitest';
import type { Classifier } from '../engine/classifier.js';
import { encodedImages, fakeModel } from '../testing/fake-model.js';
import { arbitraryLabelDetector } from './arbitrary-labels.js';
import {
  computeProbabilities,
  computeRepresentations,
  rememberForwardPass,
} from './representations.js';

/** `fakeModel` plus a one-pass `activationsAndProba`, counting the passes of each kind. */
function countingModel(k: number, withBoth: boolean) {
  const base = fakeModel([8, 8, 1], k);
  const calls = { activations: 0, proba: 0, both: 0 };
  const model: Classifier = {
    inputShape: base.inputShape,
    numClasses: k,
    layerNames: base.layerNames,
    predict: (x, n) => base.predict(x, n),
    predictProba: (x, n) => {
      calls.proba++;
      return base.predictProba(x, n);
    },
    activations: (x, n, layer) => {
      calls.activations++;
      return base.activations(x, n, layer);
    },
    ...(withBoth
      ? {
          activationsAndProba: async (x: Float32Array, n: number, layer?: string) => {
            calls.both++;
            const a = await base.activations(x, n, layer);
            return { ...a, probabilities: await base.predictProba(x, n) };
          },
        }
      : {}),
  };
  return { model, calls };
}

describe('the shared forward pass', () => {
  it('gives the representations and the probabilities of one pass when the classifier can', async () => {
    const ds = encodedImages(300, 3, 2);
    const one = countingModel(3, true);
    const reps = await computeRepresentations(ds, one.model, { batchSize: 128 });
    const probs = await computeProbabilities(ds, one.model);
    expect(one.calls).toEqual({ activations: 0, proba: 0, both: 3 });
    // The same values as two separate passes.
    const two = countingModel(3, false);
    expect(await computeRepresentations(ds, two.model, { batchSize: 128 })).toEqual(reps);
    expect(await computeProbabilities(ds, two.model)).toEqual(probs);
    expect(two.calls).toEqual({ activations: 3, proba: 1, both: 0 });
    // Asked first, the probabilities bring the default layer's representations along.
    const first = countingModel(3, true);
    expect(await computeProbabilities(ds, first.model)).toEqual(probs);
    expect(await computeRepresentations(ds, first.model)).toEqual(reps);
    expect(first.calls.activations + first.calls.proba).toBe(0);
  });

  it('answers from a pass remembered from elsewhere, and the arbitrary-label test takes given probabilities', async () => {
    const ds = encodedImages(90, 3, 4);
    const ref = countingModel(3, false);
    const reps = await computeRepresentations(ds, ref.model);
    const probs = await computeProbabilities(ds, ref.model);
    const m = countingModel(3, true);
    rememberForwardPass(ds, m.model, { representations: reps, probabilities: probs });
    expect(await computeRepresentations(ds, m.model)).toBe(reps);
    expect(await computeProbabilities(ds, m.model)).toBe(probs);
    const given = await arbitraryLabelDetector.detect(ds, countingModel(3, true).model, {
      probabilities: probs,
    });
    const computed = await arbitraryLabelDetector.detect(ds, ref.model, {});
    expect(given.perClass).toEqual(computed.perClass);
    expect(m.calls).toEqual({ activations: 0, proba: 0, both: 0 });
    expect(() =>
      rememberForwardPass(ds, m.model, { probabilities: probs.subarray(3) }),
    ).toThrowError(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    await expect(computeProbabilities(ds, countingModel(4, true).model)).rejects.toMatchObject({
      code: 'SHAPE_MISMATCH',
    });
  });
});
