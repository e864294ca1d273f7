import { describe, expect, it } from 'vitest';
import { loadDataset } from '../data/load.js';
import { initEngine } from '../engine/backend.js';
import { FeatureModel } from '../engine/feature-model-io.js';
import { TfFeatureModel, TfImageModel } from '../engine/model.js';
import { trainClassifier } from '../engine/tf-classifier.js';
import { filmTexts as texts } from '../testing/feature-data.js';
import { runAudit } from './audit.js';
import { auditModel } from './audit-model.js';

const FIXTURE = new URL('./fixtures/numpy-bars', import.meta.url).pathname;

describe('auditModel: any Model, or a bare TfClassifier', () => {
  it('reads a TfClassifier as the image Model it is, in the audit and its report', async () => {
    await initEngine();
    const data = await loadDataset(FIXTURE);
    const tf = await trainClassifier(data.dataset, { model: 'mlp', seed: 1, epochs: 1 });
    try {
      const bare = await auditModel(data, { model: tf, seed: 1 });
      const wrapped = await auditModel(data, { model: new TfImageModel(tf), seed: 1 });
      for (const m of [bare, wrapped]) {
        expect(m.classifier).toBe(tf);
        expect(m.features).toBe(data.dataset);
        expect(m.readsRecords).toBe(true);
        expect(m.trainedHere).toBe(false);
        expect(m.description).toBe('given');
        expect(m.victimArch).toBe('cnn');
        m.dispose(); // a given model stays the caller's: the audits below still use it
      }

      const audit = (model: typeof tf | TfImageModel) =>
        runAudit({ data, model, seed: 1, vulnerability: false });
      const a = await audit(tf);
      const b = await audit(new TfImageModel(tf));
      expect(b.report.data.scan).toEqual(a.report.data.scan);
      // Same sections (charts' renderer class names count the charts drawn in this process).
      const sections = (r: typeof a) =>
        JSON.stringify(r.report.sections).replace(/zr\d+-cls-\d+/g, 'zr');
      expect(sections(b)).toBe(sections(a));
      expect(a.report.subject.model).toBe('given');
      expect(JSON.stringify(a.report.sections)).toContain(
        'The scan read the representations of the given model.',
      );
    } finally {
      tf.dispose();
    }
  }, 120_000);

  it('reads a text model through its featurizer, and skips what needs pixels', async () => {
    await initEngine();
    const ds = texts(40);
    const fm = await FeatureModel.train(
      { dataset: ds },
      { seed: 1, epochs: 1, vectorizer: { minDocFreq: 1 } },
    );
    const model = new TfFeatureModel(fm);
    try {
      const loaded = { kind: 'dataset-dir' as const, spec: 'texts', dataset: ds };
      const m = await auditModel(loaded, { model, seed: 1 });
      expect(m.model).toBe(model);
      expect(m.readsRecords).toBe(false);
      expect(m.classifier).toBe(fm.classifier);
      expect(m.features.x).toEqual(fm.featurize(ds).x);
      expect(m.features.ids).toEqual(ds.ids);
      expect(m.victimArch).toBeUndefined();
      expect(m.description).toBe('given (text model tfidf-logistic)');
      // An image model given text records: what to do instead.
      const tf = await trainClassifier(
        { x: new Float32Array(40 * 4), shape: [40, 4], y: ds.y, classes: ds.classes, ids: ds.ids },
        { model: 'logistic', seed: 1, epochs: 1 },
      );
      try {
        await expect(auditModel(loaded, { model: tf, seed: 1 })).rejects.toThrow(
          /texts has no numeric features \(a text dataset\?\)/,
        );
      } finally {
        tf.dispose();
      }
    } finally {
      model.dispose();
    }
  }, 60_000);
});
