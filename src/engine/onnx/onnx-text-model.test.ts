import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import {
  argmaxRows,
  expectClose,
  type OnnxExpectations,
  readOnnxExpectations,
  textRecords,
} from '../../testing/onnx-expect.js';
import { ONNX_FIXTURES } from '../../testing/onnx-fixtures.js';
import { rejects } from '../../testing/rejects.js';
import { loadModel } from '../model.js';
import { modelFilesOf, readModelSummary } from '../model-summary.js';
import { describeOnnx } from './onnx-info.js';
import { OnnxTextModel, type OnnxTokenization, tokenIds } from './onnx-text-model.js';

let expected: OnnxExpectations;
let root: string;
const CLASSES = ['negative', 'positive'];

beforeAll(async () => {
  expected = await readOnnxExpectations();
  root = await mkdtemp(join(tmpdir(), 'antidote-onnx-text-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A copy of the text fixture in `dir` with `sidecar` as its sidecar JSON. */
async function textCopy(dir: string, sidecar: unknown): Promise<string> {
  const path = join(root, `${dir}.onnx`);
  await copyFile(join(ONNX_FIXTURES, 'text.onnx'), path);
  await copyFile(join(ONNX_FIXTURES, 'text.vocab.txt'), join(root, 'text.vocab.txt'));
  await writeFile(`${path}.json`, JSON.stringify(sidecar));
  return path;
}

describe('OnnxTextModel on the text fixture (token ids, masked mean embedding)', () => {
  it('tokenises as PyTorch did and predicts as PyTorch does', async () => {
    const path = join(ONNX_FIXTURES, 'text.onnx');
    const m = (await loadModel(path)) as OnnxTextModel;
    expect(m).toBeInstanceOf(OnnxTextModel);
    expect(m.domain).toBe('text');
    expect(m.input).toEqual({ kind: 'text' });
    expect(m.classes).toEqual(CLASSES);
    expect(m.capabilities).toEqual({
      threads: true,
      training: false,
      gradients: false,
      pixels: false,
    });
    expect(m.files).toEqual([path, `${path}.json`, join(ONNX_FIXTURES, 'text.vocab.txt')]);
    expect(m.preprocessing.text).toEqual({
      tokenizer: 'antidote',
      vocabulary: expected.text.vocabulary,
      maxTokens: 24,
      padId: 0,
      unknownId: 1,
    });
    const ds = textRecords(expected.text, CLASSES);
    const f = m.featurize(ds);
    expect(f.shape).toEqual([8, 24]);
    expect(f.text).toBe(ds.text);
    // Same ids as PyTorch's: truncation, unknown words (id 1), punctuation, case, apostrophes.
    expect(Array.from(f.x)).toEqual(expected.text.ids.flat());
    const p = await m.predictProba(ds);
    expectClose(p, expected.text.probabilities, 1e-5);
    expect(Array.from(await m.predict(ds))).toEqual(argmaxRows(expected.text.probabilities, 8, 2));
    // The representation: the averaged embedding, input of the last Gemm.
    const acts = await m.classifier.activations(f.x, 8);
    expect(acts.dim).toBe(16);
    expectClose(acts.data, expected.text.lastGemmInput, 1e-4, true);
    await rejects(m.trainLike(), 'INVALID_STATE', /cannot train/);
    m.dispose();
  });

  it('is described as a token-id model with its tokenisation (antidote info)', async () => {
    const info = await describeOnnx(join(ONNX_FIXTURES, 'text.onnx'));
    expect(info.layout).toBe('tokens');
    expect(info.inputs[0]).toMatchObject({ name: 'input', elemType: 7, shape: ['batch', 24] });
    expect(info.text).toMatchObject({ vocabulary: 'text.vocab.txt', unknownId: 1, padId: 0 });
    expect(info.defaultLayer).not.toBeNull();
    const resnet = await describeOnnx(join(ONNX_FIXTURES, 'resnet.onnx'));
    expect(resnet.layout).toBe('nchw');
    expect(resnet.normalization?.mean).toHaveLength(3);
    expect(resnet.text).toBeNull();
  });

  it('is a text model with three files for the registry (model, sidecar, vocabulary)', async () => {
    const path = join(ONNX_FIXTURES, 'text.onnx');
    expect(await modelFilesOf(path)).toEqual([
      path,
      `${path}.json`,
      join(ONNX_FIXTURES, 'text.vocab.txt'),
    ]);
    expect(await readModelSummary(path)).toEqual({
      domain: 'text',
      kind: 'onnx',
      classes: CLASSES,
    });
  });

  it('maps unknown tokens, truncates and pads', () => {
    const t: OnnxTokenization = {
      tokenizer: {},
      ids: new Map([
        ['good', 2],
        ['film', 3],
      ]),
      size: 4,
      maxTokens: 3,
      padId: 0,
      unknownId: 1,
    };
    expect(Array.from(tokenIds(['Good FILM, odd', 'film', 'good good good good'], t))).toEqual([
      2, 3, 1, 3, 0, 0, 2, 2, 2,
    ]);
    // Without an unknown id, unknown tokens are dropped.
    const { unknownId: _, ...dropping } = t;
    expect(Array.from(tokenIds(['odd good', ''], { ...dropping, unknownId: undefined }))).toEqual([
      2, 0, 0, 0, 0, 0,
    ]);
  });

  it('refuses image records, layout flags, a missing or ill-fitting text section', async () => {
    const m = await loadModel(join(ONNX_FIXTURES, 'text.onnx'));
    const images: Dataset = {
      x: new Float32Array(4),
      shape: [1, 2, 2, 1],
      y: Int32Array.of(0),
      classes: CLASSES,
      ids: ['a'],
    };
    await rejects(m.predict(images), 'INVALID_ARGUMENT', /is a text model: it reads text records/);
    m.dispose();
    await rejects(
      loadModel(join(ONNX_FIXTURES, 'text.onnx'), { onnx: { layout: 'nhwc' } }),
      'INVALID_ARGUMENT',
      /text model .*layout and normalisation options do not apply/,
    );
    const bare = await textCopy('bare', { classes: CLASSES });
    await rejects(
      loadModel(bare),
      'INVALID_FORMAT',
      /reads token ids: its sidecar .* must say how/,
    );
    const long = await textCopy('long', {
      classes: CLASSES,
      text: { vocabulary: 'text.vocab.txt', maxTokens: 32 },
    });
    await rejects(loadModel(long), 'INVALID_FORMAT', /maxTokens is 32 but the model reads 24/);
    const nested = await textCopy('nested', { text: { vocabulary: 'sub/vocab.txt' } });
    await rejects(
      loadModel(nested),
      'INVALID_FORMAT',
      /vocabulary.*a file name in the model folder/,
    );
    const noVocab = await textCopy('novocab', { text: { vocabulary: 'missing.txt' } });
    await rejects(loadModel(noVocab), 'NOT_FOUND', /missing\.txt/);
    const inline = await textCopy('inline', {
      classes: CLASSES,
      text: { vocabulary: ['<pad>', '<unk>'], unknownId: 7 },
    });
    await rejects(loadModel(inline), 'INVALID_FORMAT', /unknownId 7 is outside the vocabulary/);
  });
});
