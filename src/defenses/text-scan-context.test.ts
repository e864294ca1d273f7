import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../engine/model.js';
import type { OnnxClassifier } from '../engine/onnx/onnx-classifier.js';
import type { OnnxTextModel } from '../engine/onnx/onnx-text-model.js';
import { expectClose, readOnnxExpectations, textRecords } from '../testing/onnx-expect.js';
import { expectedRecords, ONNX_FIXTURES } from '../testing/onnx-fixtures.js';
import { defaultScanMethods } from './scan.js';
import { textScanContext } from './text-scan-context.js';

const CLASSES = ['negative', 'positive'];

/** Label logit minus the other class's, per record of `[n, 2]` logits. */
const margins = (l: ArrayLike<number>, n: number) =>
  Array.from({ length: n }, (_, i) => l[i * 2 + 1]! - l[i * 2]!);

describe('textScanContext with an ONNX text model', () => {
  it('gives keyword discovery the model on raw texts (probabilities, logits, tokenizer)', async () => {
    const expected = (await readOnnxExpectations()).text;
    const m = (await loadModel(join(ONNX_FIXTURES, 'text.onnx'))) as OnnxTextModel;
    try {
      const ds = textRecords(expected, CLASSES);
      const { text } = textScanContext(m, ds);
      expect(text).toBeDefined();
      // So a scan of an ONNX text model runs kw by default, as for a text model Antidote trained.
      expect(defaultScanMethods({ text })).toContain('kw');
      expect(text!.dataset).toBe(ds);
      expect(text!.tokenizer).toBe(m.tokenizer);
      const texts = ds.text!;
      expectClose(await text!.predict(texts, 'probabilities'), expected.probabilities, 1e-5);
      // PyTorch's logits (the fixture ends in a Gemm): the same values.
      expectClose(await text!.predict(texts, 'logits'), expected.logits, 1e-5, true);
      expectClose(
        margins(await m.predictTexts(texts, 'logits'), texts.length),
        margins(expected.logits, texts.length),
        1e-5,
        true,
      );
    } finally {
      m.dispose();
    }
  });

  it('logits of a graph ending in Softmax are log-probabilities: class differences as PyTorch logits', async () => {
    const expected = (await readOnnxExpectations()).mlp;
    const m = await loadModel(join(ONNX_FIXTURES, 'mlp.onnx'));
    try {
      const f = m.featurize(expectedRecords(expected));
      const l = await (m.classifier as OnnxClassifier).logits(f.x, 8);
      const diffs = (v: ArrayLike<number>) =>
        Array.from({ length: 80 }, (_, i) => v[i]! - v[i - (i % 10)]!);
      expectClose(diffs(l), diffs(expected.logits), 1e-4, true);
    } finally {
      m.dispose();
    }
  });

  it('is empty for an ONNX image model', async () => {
    const m = await loadModel(join(ONNX_FIXTURES, 'cnn.onnx'));
    try {
      expect(textScanContext(m, { y: new Int32Array(0), classes: [] })).toEqual({});
    } finally {
      m.dispose();
    }
  });
});
