import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { TabularColumn } from '../data/datasets/tabular.js';
import { rejects } from '../testing/rejects.js';
import { Rng } from '../util/rng.js';
import { initEngine } from './backend.js';
import {
  FeatureModel,
  modelDomain,
  PREPROCESSOR_FILE,
  trainFeatureModel,
  VECTORIZER_FILE,
} from './feature-model-io.js';
import { MODEL_JSON, WEIGHTS_BIN } from './model-io.js';
import { trainClassifier } from './tf-classifier.js';

const root = mkdtempSync(join(tmpdir(), 'antidote-feature-model-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Short texts whose label is carried by one word ("good" / "bad") among filler words. */
function texts(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const filler = ['the', 'food', 'was', 'service', 'place', 'really', 'quite', 'very', 'staff'];
  const text: string[] = [];
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    const words = Array.from({ length: 6 }, () => filler[rng.int(filler.length)]);
    words.splice(rng.int(7), 0, y[i] ? 'good' : 'bad');
    text.push(words.join(' '));
  }
  return {
    x: new Float32Array(0),
    shape: [n, 0],
    y,
    classes: ['negative', 'positive'],
    ids: Array.from({ length: n }, (_, i) => `t${i}`),
    text,
  };
}

const columns: TabularColumn[] = [
  { name: 'amount', kind: 'numeric' },
  { name: 'status', kind: 'categorical', levels: ['none', 'low', 'high'] },
];

function rows(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const amount = rng.normal(5, 2);
    x[i * 2] = amount;
    x[i * 2 + 1] = rng.int(3);
    y[i] = amount > 5 ? 1 : 0;
  }
  return { x, shape: [n, 2], y, classes: ['good', 'bad'], ids: Array.from({ length: n }, String) };
}

describe('feature model directories', () => {
  const textDir = join(root, 'text');
  const tabDir = join(root, 'tab');
  const train = texts(120, 1);
  const test = texts(40, 2);

  beforeAll(async () => {
    await initEngine();
  });

  it.each(['tfidf-logistic', 'tfidf-mlp', 'embedding-bag'] as const)(
    'a %s model predicts exactly the same after save and load',
    async (kind) => {
      const m = await trainFeatureModel(
        { dataset: train },
        { kind, seed: 3, epochs: 3, vectorizer: { minDocFreq: 1 } },
      );
      const dir = join(root, `rt-${kind}`);
      const before = await m.predictProbaRaw(test);
      await m.save(dir);
      m.dispose();
      expect(existsSync(join(dir, VECTORIZER_FILE))).toBe(true);
      expect(await modelDomain(dir)).toBe('text');
      const back = await FeatureModel.load(dir);
      try {
        expect(back.kind).toBe(kind);
        expect(back.classes).toEqual(['negative', 'positive']);
        expect(await back.predictProbaRaw(test)).toEqual(before);
        expect(back.training[0]).toMatchObject({ seed: 3, epochs: 3, records: 120 });
        const reps = await back.classifier.activations(back.featurize(test).x, 40);
        expect(reps.dim).toBeGreaterThan(0);
      } finally {
        back.dispose();
      }
    },
  );

  it('a tabular mlp round-trips with its preprocessor and columns', async () => {
    const m = await trainFeatureModel(
      { dataset: rows(200, 1), columns },
      { kind: 'mlp', seed: 1, epochs: 5 },
    );
    const probe = rows(50, 9);
    const before = await m.predictRaw(probe);
    await m.save(tabDir);
    m.dispose();
    const json = JSON.parse(readFileSync(join(tabDir, MODEL_JSON), 'utf8'));
    expect(json.antidote).toMatchObject({
      format: 'antidote-feature-model',
      domain: 'tabular',
      kind: 'mlp',
      spec: { arch: 'mlp', hidden: [32] },
      inputShape: [4],
      classes: ['good', 'bad'],
      featurizer: { file: PREPROCESSOR_FILE },
    });
    const back = await FeatureModel.load(tabDir);
    try {
      expect(await back.predictRaw(probe)).toEqual(before);
      expect(back.columns).toEqual(columns);
    } finally {
      back.dispose();
    }
  });

  it('a tampered preprocessor is refused, and so is a malformed one with a matching digest', async () => {
    const copy = async (name: string, edit: (p: Record<string, unknown>) => void) => {
      const d = join(root, name);
      await cp(tabDir, d, { recursive: true });
      const p = JSON.parse(readFileSync(join(d, PREPROCESSOR_FILE), 'utf8'));
      edit(p);
      return { d, bytes: `${JSON.stringify(p)}\n` };
    };
    const withDigest = (d: string, bytes: string) => {
      writeFileSync(join(d, PREPROCESSOR_FILE), bytes);
      const meta = JSON.parse(readFileSync(join(d, MODEL_JSON), 'utf8'));
      meta.antidote.featurizer.sha256 = createHash('sha256').update(bytes).digest('hex');
      writeFileSync(join(d, MODEL_JSON), JSON.stringify(meta));
    };
    // A shifted mean changes every prediction's input: the digest catches it.
    const a = await copy('tab-shifted', (p) => {
      const mean = p.mean as number[];
      mean[0] = mean[0]! + 1;
    });
    writeFileSync(join(a.d, PREPROCESSOR_FILE), a.bytes);
    await rejects(FeatureModel.load(a.d), 'INTEGRITY_MISMATCH', /preprocessor\.json is not the/);
    // Digest updated, but the columns are not a schema (one name twice, a level twice).
    const b = await copy('tab-dup-column', (p) => {
      (p.columns as { name: string }[])[1]!.name = 'amount';
    });
    withDigest(b.d, b.bytes);
    await rejects(FeatureModel.load(b.d), 'INVALID_FORMAT', /share a name/);
    const c = await copy('tab-dup-level', (p) => {
      (p.columns as { levels?: string[] }[])[1]!.levels = ['none', 'none', 'high'];
    });
    withDigest(c.d, c.bytes);
    await rejects(FeatureModel.load(c.d), 'INVALID_FORMAT', /level twice/);
    // A zero standard deviation (a division by zero at prediction time).
    const z = await copy('tab-zero-std', (p) => {
      (p.std as number[])[0] = 0;
    });
    withDigest(z.d, z.bytes);
    await rejects(FeatureModel.load(z.d), 'INVALID_FORMAT', /std/);
    // An mlp whose spec lost its hidden sizes.
    const h = await copy('tab-no-hidden', () => {});
    const noHidden = JSON.parse(readFileSync(join(h.d, MODEL_JSON), 'utf8'));
    delete noHidden.antidote.spec.hidden;
    writeFileSync(join(h.d, MODEL_JSON), JSON.stringify(noHidden));
    await rejects(FeatureModel.load(h.d), 'INVALID_FORMAT', /arch mlp with hidden/);
    // A text model's metadata pointing at a preprocessor.
    const t = await copy('tab-as-text', () => {});
    const meta = JSON.parse(readFileSync(join(t.d, MODEL_JSON), 'utf8'));
    meta.antidote.domain = 'text';
    writeFileSync(join(t.d, MODEL_JSON), JSON.stringify(meta));
    await rejects(FeatureModel.load(t.d), 'INVALID_FORMAT', /cannot use preprocessor\.json/);
  });

  it('refuses a model kind of the other domain', async () => {
    await rejects(
      trainFeatureModel({ dataset: train }, { kind: 'mlp', seed: 1 }),
      'INVALID_ARGUMENT',
      /not a text model/,
    );
    await rejects(
      trainFeatureModel({ dataset: rows(10, 1), columns }, { kind: 'embedding-bag', seed: 1 }),
      'INVALID_ARGUMENT',
      /not a tabular model/,
    );
  });

  it('malformed or mismatched files are AntidoteErrors naming the file', async () => {
    const m = await trainFeatureModel(
      { dataset: train },
      { seed: 1, epochs: 1, vectorizer: { minDocFreq: 1 } },
    );
    await m.save(textDir);
    m.dispose();
    const copy = async (name: string) => {
      const d = join(root, name);
      await cp(textDir, d, { recursive: true });
      return d;
    };
    // Missing vectorizer.
    const a = await copy('no-vectorizer');
    rmSync(join(a, VECTORIZER_FILE));
    await rejects(FeatureModel.load(a), 'NOT_FOUND', /vectorizer\.json/);
    // Edited vectorizer: its digest no longer matches.
    const b = await copy('edited');
    const v = JSON.parse(readFileSync(join(b, VECTORIZER_FILE), 'utf8'));
    v.idf[0] = 42;
    writeFileSync(join(b, VECTORIZER_FILE), JSON.stringify(v));
    await rejects(FeatureModel.load(b), 'INTEGRITY_MISMATCH', /not the vectorizer/);
    // A vectorizer of another width, digest updated: the sizes disagree.
    const c = await copy('narrow');
    const narrow = { ...v, vocabulary: v.vocabulary.slice(0, 3), idf: v.idf.slice(0, 3) };
    const bytes = `${JSON.stringify(narrow)}\n`;
    writeFileSync(join(c, VECTORIZER_FILE), bytes);
    const meta = JSON.parse(readFileSync(join(c, MODEL_JSON), 'utf8'));
    meta.antidote.featurizer.sha256 = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(c, MODEL_JSON), JSON.stringify(meta));
    await rejects(FeatureModel.load(c), 'SHAPE_MISMATCH', /produces 3 features/);
    // Bad metadata.
    const d = await copy('bad-kind');
    const bad = JSON.parse(readFileSync(join(d, MODEL_JSON), 'utf8'));
    bad.antidote.kind = 'resnet';
    writeFileSync(join(d, MODEL_JSON), JSON.stringify(bad));
    await rejects(FeatureModel.load(d), 'INVALID_FORMAT', /antidote\.kind/);
    // A spec of another architecture (trainLike would rebuild that one).
    const s = await copy('bad-spec');
    const spec = JSON.parse(readFileSync(join(s, MODEL_JSON), 'utf8'));
    spec.antidote.spec = { arch: 'tfidf-mlp' };
    writeFileSync(join(s, MODEL_JSON), JSON.stringify(spec));
    await rejects(FeatureModel.load(s), 'INVALID_FORMAT', /does not describe a tfidf-logistic/);
    // Not JSON at all.
    const e = await copy('not-json');
    writeFileSync(join(e, MODEL_JSON), '{ nope');
    await rejects(FeatureModel.load(e), 'INVALID_FORMAT', /not valid JSON/);
    await rejects(modelDomain(e), 'INVALID_FORMAT', /not valid JSON/);
    // Truncated weights.
    const f = await copy('short-weights');
    writeFileSync(join(f, WEIGHTS_BIN), new Uint8Array(8));
    await rejects(FeatureModel.load(f), 'INVALID_FORMAT', /weights\.bin/);
    await rejects(modelDomain(join(root, 'missing')), 'NOT_FOUND', /model\.json/);
  });

  it('an image model directory is not a feature model', async () => {
    const img = await trainClassifier(
      {
        x: new Float32Array(4 * 4).map((_, i) => i % 3),
        shape: [4, 4],
        y: Int32Array.from([0, 1, 0, 1]),
        classes: ['a', 'b'],
        ids: ['0', '1', '2', '3'],
      },
      { model: 'logistic', seed: 1, epochs: 1 },
    );
    const dir = join(root, 'image');
    await img.save(dir);
    img.dispose();
    expect(await modelDomain(dir)).toBe('image');
    await rejects(FeatureModel.load(dir), 'INVALID_FORMAT', /not a text or tabular model/);
  });
});
