import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { loadDataset } from '../data/load.js';
import { initEngine } from '../engine/backend.js';
import { FeatureModel } from '../engine/feature-model-io.js';
import { loadModel } from '../engine/model.js';
import { Deployment } from '../registry/deployment.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { parseMonitorConfig } from '../registry/monitor.js';
import { CREDIT_COLUMNS, creditTable } from '../testing/feature-data.js';
import { type RunningServer, startServer } from './start.js';

/**
 * Serving text and tabular models end to end: train small models, register and promote them,
 * serve each on loopback and check that `POST /v1/predict` answers what the library predicts
 * for the same records.
 */

const COLUMNS = CREDIT_COLUMNS;

describe('serving text and tabular models (end to end)', () => {
  let root: string;
  let reg: ModelRegistry;
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    await initEngine();
    root = await mkdtemp(join(tmpdir(), 'antidote-serve-features-'));
    reg = ModelRegistry.open(join(root, 'project'));
  });
  afterAll(async () => {
    for (const s of servers) await s.close(1000);
    reg?.close();
    await rm(root, { recursive: true, force: true });
  });

  /** Registers `dir` as `name`, records a passed gate and promotes it to production. */
  async function registerAndPromote(dir: string, name: string): Promise<string> {
    const { version } = await reg.register(dir, { name, actor: 'test' });
    reg.recordGateResult(version.id, { passed: true, policyDigest: 'test', result: {} });
    await reg.promote(version.id, { actor: 'test' });
    return version.id;
  }

  async function serve(name: string, reference: Dataset, notices: string[]) {
    const deployment = await Deployment.start(reg, name, {
      reference,
      monitor: parseMonitorConfig({}),
      seed: 1,
      onEvent: (e) => {
        if (e.type === 'notice') notices.push(e.message);
      },
    });
    const server = await startServer({ registry: reg, deployment, port: 0, syncIntervalMs: 0 });
    servers.push(server);
    expect(server.host).toBe('127.0.0.1');
    return server;
  }

  async function predict(server: RunningServer, inputs: unknown[]) {
    const r = await fetch(`${server.url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs }),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }

  const labels = (body: Record<string, unknown>) =>
    (body.predictions as { label: string }[]).map((p) => p.label);

  it('serves a registered text model: records are {"text": …}', async () => {
    const train = (await loadDataset('sentiment:train:300')).dataset;
    const test = (await loadDataset('sentiment:test:40')).dataset;
    const trained = await FeatureModel.train(
      { dataset: train },
      { seed: 1, epochs: 4, vectorizer: { minDocFreq: 1 } },
    );
    const dir = join(root, 'text-model');
    await trained.save(dir);
    trained.dispose();
    const id = await registerAndPromote(dir, 'reviews');
    expect(reg.get(id).info).toMatchObject({
      domain: 'text',
      arch: 'tfidf-logistic',
      classes: test.classes,
    });

    const notices: string[] = [];
    const server = await serve('reviews', test, notices);
    // STRIP superimposes images: off for a text model, and said so.
    expect(notices.join('\n')).toMatch(/STRIP monitor superimposes images: off for reviews@1/);

    const model = await loadModel(dir);
    try {
      const expected = Array.from(await model.predict(test), (k) => test.classes[k]);
      // Both classes predicted: a server answering one class everywhere would fail.
      expect(new Set(expected).size).toBe(2);
      const texts = test.text!.map((text) => ({ text }));
      const r = await predict(server, texts);
      expect(r.status).toBe(200);
      expect(r.body.version).toBe(id);
      expect(labels(r.body)).toEqual(expected);
      // Probabilities too, to the 6 digits the server rounds to.
      const probs = await model.predictProba(test);
      const served = (r.body.predictions as { probabilities: number[] }[]).flatMap(
        (p) => p.probabilities,
      );
      served.forEach((p, i) => {
        expect(p).toBeCloseTo(probs[i]!, 5);
      });
    } finally {
      model.dispose();
    }

    // Records a text model cannot read: a 4xx naming the record.
    const bad = await predict(server, [{ text: 'fine' }, [1, 2, 3]]);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/inputs\[1\] must be \{\\"text\\"/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/antidote_predict_records_total 40/);
    expect(metrics).toMatch(/antidote_bad_requests_total 1/);
  }, 120_000);

  it('serves a registered tabular model: records are column objects or arrays', async () => {
    const train = creditTable(240, 1);
    const test = creditTable(30, 2);
    const trained = await FeatureModel.train(
      { dataset: train, columns: COLUMNS },
      { kind: 'mlp', seed: 1, epochs: 20 },
    );
    const dir = join(root, 'tabular-model');
    await trained.save(dir);
    trained.dispose();
    const id = await registerAndPromote(dir, 'credit');
    expect(reg.get(id).info).toMatchObject({ domain: 'tabular', arch: 'mlp' });

    const server = await serve('credit', test, []);
    const model = await loadModel(dir);
    try {
      const expected = Array.from(await model.predict(test), (k) => test.classes[k]);
      expect(new Set(expected).size).toBe(2);
      const levels = ['own', 'rent', 'free'];
      const row = (i: number) => Array.from(test.x.subarray(i * 3, i * 3 + 3));
      // As objects keyed by column name, categorical values by level name …
      const objects = Array.from({ length: 30 }, (_, i) => {
        const [age, housing, amount] = row(i);
        return { amount, housing: levels[housing!], age };
      });
      const byName = await predict(server, objects);
      expect(byName.status).toBe(200);
      expect(byName.body.version).toBe(id);
      expect(labels(byName.body)).toEqual(expected);
      // … or as arrays in column order, categorical values by level index.
      const byArray = await predict(
        server,
        Array.from({ length: 30 }, (_, i) => row(i)),
      );
      expect(labels(byArray.body)).toEqual(expected);
    } finally {
      model.dispose();
    }

    const unknownLevel = await predict(server, [{ age: 30, housing: 'castle', amount: 1 }]);
    expect(unknownLevel.status).toBe(400);
    expect(JSON.stringify(unknownLevel.body)).toMatch(
      /inputs\[0\]: column \\"housing\\" has no level/,
    );
    const missing = await predict(server, [{ age: 30, amount: 1 }]);
    expect(missing.status).toBe(400);
    expect(JSON.stringify(missing.body)).toMatch(/missing column\(s\) housing/);
    const short = await predict(server, [[30, 1]]);
    expect(short.status).toBe(400);
    expect(JSON.stringify(short.body)).toMatch(/has 2 values; the model reads 3 columns/);
  }, 120_000);
});
