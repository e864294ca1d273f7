import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { TabularColumn } from '../data/datasets/tabular.js';
import type { LoadedDataset } from '../data/load.js';
import { filmTexts as texts } from '../testing/feature-data.js';
import { rejects } from '../testing/rejects.js';
import { Rng } from '../util/rng.js';
import { initEngine } from './backend.js';
import { FeatureModel } from './feature-model-io.js';
import {
  checkModelReadsData,
  loadModel,
  type Model,
  readModelSummary,
  requireFeatureModel,
  requireImageModel,
} from './model.js';
import { retrainerLike } from './model-retrain.js';
import { MODEL_JSON } from './model-summary.js';
import { trainClassifier } from './tf-classifier.js';

/** Two classes of 4×4 images: a bright top half vs a bright bottom half. */
function images(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 16);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let p = 0; p < 16; p++)
      x[i * 16 + p] = (p < 8 === (y[i] === 0) ? 0.8 : 0.1) + 0.1 * rng.next();
  }
  return {
    x,
    shape: [n, 4, 4, 1],
    y,
    classes: ['top', 'bottom'],
    ids: Array.from({ length: n }, String),
  };
}

const COLUMNS: readonly TabularColumn[] = [
  { name: 'age', kind: 'numeric' },
  { name: 'housing', kind: 'categorical', levels: ['own', 'rent'] },
];

function table(n: number): Dataset {
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    x[i * 2] = 20 + (i % 40);
    x[i * 2 + 1] = i % 2;
    y[i] = i % 2;
  }
  return { x, shape: [n, 2], y, classes: ['good', 'bad'], ids: Array.from({ length: n }, String) };
}

const loaded = (dataset: Dataset, columns?: readonly TabularColumn[]): LoadedDataset => ({
  kind: 'dataset-dir',
  spec: 'data',
  dataset,
  ...(columns ? { columns } : {}),
});

describe('loadModel and the Model interface', () => {
  let root: string;
  const dirs = { image: '', text: '', tabular: '' };
  const models: Model[] = [];

  beforeAll(async () => {
    await initEngine();
    root = await mkdtemp(join(tmpdir(), 'antidote-model-'));
    const image = await trainClassifier(images(40, 1), {
      model: { arch: 'logistic' },
      seed: 1,
      epochs: 2,
    });
    dirs.image = join(root, 'image');
    await image.save(dirs.image);
    image.dispose();
    const text = await FeatureModel.train(
      { dataset: texts(40) },
      { seed: 1, epochs: 2, vectorizer: { minDocFreq: 1 } },
    );
    dirs.text = join(root, 'text');
    await text.save(dirs.text);
    text.dispose();
    const tab = await FeatureModel.train(
      { dataset: table(40), columns: COLUMNS },
      { seed: 1, epochs: 2 },
    );
    dirs.tabular = join(root, 'tabular');
    await tab.save(dirs.tabular);
    tab.dispose();
  }, 60_000);
  afterAll(async () => {
    for (const m of models) m.dispose();
    await rm(root, { recursive: true, force: true });
  });

  const load = async (path: string) => {
    const m = await loadModel(path);
    models.push(m);
    return m;
  };

  it('loads each kind of model directory behind one interface', async () => {
    const data = { image: images(6, 2), text: texts(6), tabular: table(6) };
    for (const domain of ['image', 'text', 'tabular'] as const) {
      const m = await load(dirs[domain]);
      expect(m.domain).toBe(domain);
      expect(m.path).toBe(dirs[domain]);
      expect(m.files.map((f) => f.slice(dirs[domain].length + 1))).toEqual(
        domain === 'image'
          ? ['model.json', 'weights.bin']
          : [
              'model.json',
              'weights.bin',
              domain === 'text' ? 'vectorizer.json' : 'preprocessor.json',
            ],
      );
      expect(m.capabilities.pixels).toBe(domain === 'image');
      expect(m.capabilities.threads).toBe(domain === 'image');
      expect(m.training).toHaveLength(1);
      // featurize + classifier = predict on raw records.
      const ds = data[domain];
      const f = m.featurize(ds);
      expect(f.shape.slice(1)).toEqual([...m.classifier.inputShape]);
      expect(await m.predict(ds)).toEqual(await m.classifier.predict(f.x, 6));
      expect(await m.predictProba(ds)).toEqual(await m.classifier.predictProba(f.x, 6));
      expect(m.useThreads(1)).toBe(m);
      expect(() => m.useThreads(0)).toThrow(/inference threads/);
      m.checkReads(loaded(ds, domain === 'tabular' ? COLUMNS : undefined));
      const summary = await readModelSummary(dirs[domain]);
      expect(summary).toMatchObject({ domain, kind: m.kind, classes: [...m.classes] });
    }
    expect((await load(dirs.image)).featurize(data.image)).toBe(data.image);
    expect((await load(dirs.text)).input).toEqual({ kind: 'text' });
    expect((await load(dirs.tabular)).input).toEqual({ kind: 'tabular', columns: COLUMNS });
    expect((await load(dirs.image)).input).toEqual({ kind: 'tensor', shape: [4, 4, 1] });
  });

  it('checks what a model reads', async () => {
    const text = await load(dirs.text);
    const image = await load(dirs.image);
    expect(() => image.checkReads(loaded(texts(4)))).toThrow(
      /is an image model but data holds text records/,
    );
    expect(() => text.checkReads(loaded(images(4, 1)))).toThrow(/is a text model but data holds/);
    // The check itself, naming the directory it is given.
    expect(() => checkModelReadsData(text, 'elsewhere', loaded(images(4, 1)))).toThrow(
      /^elsewhere is a text model/,
    );
    expect(() => image.featurize(table(2))).toThrow(/expects records of shape \[4, 4, 1\]/);
  });

  it('trains fresh classifiers like the model (folds) and narrows to the runtime models', async () => {
    for (const domain of ['image', 'text'] as const) {
      const m = await load(dirs[domain]);
      const f = m.featurize(domain === 'image' ? images(20, 3) : texts(20));
      const c = await m.trainLike(f, { seed: 2, epochs: 1 });
      try {
        expect(c.inputShape).toEqual(m.classifier.inputShape);
        expect((await c.predictProba(f.x, 20)).length).toBe(40);
      } finally {
        c.dispose();
      }
    }
    const image = await load(dirs.image);
    const text = await load(dirs.text);
    expect(requireImageModel(image, 'x').classes).toEqual(['top', 'bottom']);
    expect(requireFeatureModel(text, 'x').domain).toBe('text');
    expect(() => requireImageModel(text, 'fine-pruning')).toThrow(
      /fine-pruning needs an image model; .* is a text model/,
    );
    expect(() => requireFeatureModel(image, 'keyword discovery')).toThrow(
      /keyword discovery needs a text or tabular model/,
    );
  });

  it('recognises a model directory or its model.json, and says what else is not a model', async () => {
    expect((await load(join(dirs.text, MODEL_JSON))).domain).toBe('text');
    await rejects(loadModel(join(root, 'missing')), 'NOT_FOUND', /model\.json is missing/);
    const empty = join(root, 'empty');
    await mkdir(empty);
    await rejects(loadModel(empty), 'NOT_FOUND', /model\.json is missing/);
    await writeFile(join(root, 'model.onnx'), 'onnx');
    await rejects(loadModel(join(root, 'model.onnx')), 'INVALID_FORMAT', /is not an ONNX model/);
    await writeFile(join(root, 'notes.txt'), 'hello');
    await rejects(
      loadModel(join(root, 'notes.txt')),
      'INVALID_FORMAT',
      /is not a model: give a model directory/,
    );
    await rejects(readModelSummary(join(root, 'notes.txt')), 'INVALID_FORMAT', /is not a model/);
  });

  it('retrains like the model on raw records: same architecture and featurizer settings', async () => {
    const settings = { seed: 3, epochs: 1 };
    const cases = [
      {
        domain: 'image',
        data: loaded(images(30, 4)),
        direct: () => trainClassifier(images(30, 4), { model: { arch: 'logistic' }, ...settings }),
      },
      {
        domain: 'text',
        data: loaded(texts(30)),
        direct: () =>
          FeatureModel.train(
            { dataset: texts(30) },
            { kind: 'tfidf-logistic', ...settings, vectorizer: { minDocFreq: 1 } },
          ),
      },
      {
        domain: 'tabular',
        data: loaded(table(30), COLUMNS),
        direct: () =>
          FeatureModel.train(
            { dataset: table(30), columns: COLUMNS },
            { kind: 'logistic', ...settings },
          ),
      },
    ] as const;
    for (const c of cases) {
      const m = await loadModel(dirs[c.domain]);
      const retrain = retrainerLike(m, settings);
      // What it needs is kept: the model may go before the trainer runs.
      m.dispose();
      const fresh = await retrain(c.data);
      const direct = await c.direct();
      const out = join(root, `retrained-${c.domain}`);
      try {
        await fresh.save(out, {});
        const reloaded = await load(out);
        expect(reloaded.domain).toBe(c.domain);
        expect(reloaded.kind).toBe((await load(dirs[c.domain])).kind);
        const probe =
          c.domain === 'image' ? images(8, 9) : c.domain === 'text' ? texts(8) : table(8);
        const want =
          direct instanceof FeatureModel
            ? await direct.predictProbaRaw(probe)
            : await direct.predictProba(probe.x, 8);
        expect(Array.from(await reloaded.predictProba(probe))).toEqual(Array.from(want));
      } finally {
        direct.dispose();
      }
    }
    const fake = { ...(await load(dirs.image)) } as unknown as Model;
    expect(() => retrainerLike(fake, settings)).toThrow(/cannot be retrained by Antidote/);
  }, 60_000);
});
