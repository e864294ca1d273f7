import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejects } from '../testing/rejects.js';
import { rowImages } from '../testing/row-images.js';
import { initEngine } from './backend.js';
import { DeferredImageModel } from './deferred-image-model.js';
import { loadModel } from './model.js';
import { MODEL_JSON, WEIGHTS_BIN } from './model-summary.js';
import { type TfClassifier, trainClassifier } from './tf-classifier.js';
import type { ArchName } from './zoo.js';

const root = await mkdtemp(join(tmpdir(), 'antidote-deferred-'));
const ds = rowImages(48, 3, 1);
const ARCHS: readonly ArchName[] = ['logistic', 'mlp', 'cnn'];

beforeAll(async () => {
  await initEngine();
  for (const arch of ARCHS) {
    const m = await trainClassifier(ds, { model: arch, seed: 1, epochs: 1, batchSize: 16 });
    await m.save(join(root, arch));
    m.dispose();
  }
}, 60_000);
afterAll(() => rm(root, { recursive: true, force: true }));

describe('DeferredImageModel', () => {
  it('reads from model.json what the loaded model says, and loads only to run', async () => {
    for (const arch of ARCHS) {
      const dir = join(root, arch);
      const loaded = await loadModel(dir);
      const deferred = (await DeferredImageModel.open(dir))!;
      expect(deferred, arch).toBeDefined();
      const tf = (loaded.classifier as TfClassifier).useInference('tfjs');
      expect({
        kind: deferred.kind,
        classes: deferred.classes,
        files: deferred.files,
        input: deferred.input,
        capabilities: deferred.capabilities,
        training: deferred.training,
        inputShape: deferred.classifier.inputShape,
        numClasses: deferred.classifier.numClasses,
        layerNames: deferred.classifier.layerNames,
      }).toEqual({
        kind: loaded.kind,
        classes: loaded.classes,
        files: loaded.files,
        input: loaded.input,
        capabilities: loaded.capabilities,
        training: loaded.training,
        inputShape: tf.inputShape,
        numClasses: tf.numClasses,
        layerNames: tf.layerNames,
      });
      expect(deferred.featurize(ds)).toBe(ds);
      expect(() => deferred.featurize({ ...ds, shape: [48, 4, 16, 1] })).toThrow(/shape/);
      // Settings made before the load apply to the loaded model (checked as it checks them).
      deferred.useThreads(1).useInference('tfjs');
      expect(() => deferred.useThreads(0)).toThrow(/threads/);
      expect(deferred.isLoaded).toBe(false);
      const n = ds.y.length;
      expect(await deferred.classifier.predictProba(ds.x, n)).toEqual(
        await tf.predictProba(ds.x, n),
      );
      expect(deferred.isLoaded).toBe(true);
      const inner = (await deferred.load()).tf;
      expect(inner.inference).toBe('tfjs');
      expect(await deferred.predict(ds)).toEqual(await loaded.predict(ds));
      const a = await deferred.classifier.activations(ds.x, n, 'logits');
      expect(a).toEqual(await tf.activations(ds.x, n, 'logits'));
      deferred.dispose();
      loaded.dispose();
      await rejects(deferred.load(), 'INVALID_STATE', /disposed/);
    }
  }, 60_000);

  it('checks the metadata as the loader does, and leaves other models to it', async () => {
    const json = JSON.parse(await readFile(join(root, 'mlp', MODEL_JSON), 'utf8'));
    const write = async (name: string, doc: unknown) => {
      const dir = join(root, name);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir);
      await writeFile(join(dir, MODEL_JSON), JSON.stringify(doc));
      await copyFile(join(root, 'mlp', WEIGHTS_BIN), join(dir, WEIGHTS_BIN));
      return dir;
    };
    const bad = await write('bad', { ...json, antidote: { ...json.antidote, classes: ['one'] } });
    await rejects(DeferredImageModel.open(bad), 'INVALID_FORMAT', /antidote\.classes/);
    await rejects(loadModel(bad), 'INVALID_FORMAT', /antidote\.classes/);
    // A topology this does not read (not Sequential, or not ending in the classes): undefined.
    const functional = await write('functional', {
      ...json,
      modelTopology: { ...json.modelTopology, class_name: 'Model' },
    });
    expect(await DeferredImageModel.open(functional)).toBeUndefined();
    const extra = await write('extra-class', {
      ...json,
      antidote: { ...json.antidote, classes: [...json.antidote.classes, 'c3'] },
    });
    expect(await DeferredImageModel.open(extra)).toBeUndefined();
    const text = await write('text', {
      ...json,
      antidote: { format: 'antidote-feature-model', domain: 'text' },
    });
    expect(await DeferredImageModel.open(text)).toBeUndefined();
  });
});
