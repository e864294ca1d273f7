import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/load.js';
import { loadModel } from '../engine/model.js';
import { Deployment } from '../registry/deployment.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { parseMonitorConfig } from '../registry/monitor.js';
import { copyOnnxFixture } from '../testing/onnx-fixtures.js';
import { type RunningServer, startServer } from './start.js';

/**
 * Serving an ONNX model (issue 17) end to end: register the CNN fixture (NCHW, normalised by its
 * sidecar), promote it, serve it on loopback and check that `POST /v1/predict`, given records as
 * flattened HWC pixel arrays like any image model's, answers what the library predicts.
 */

describe('serving an ONNX model (end to end)', () => {
  let root: string;
  let reg: ModelRegistry;
  let server: RunningServer | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-serve-onnx-'));
    reg = ModelRegistry.open(join(root, 'project'));
  });
  afterAll(async () => {
    await server?.close(1000);
    reg?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('answers /v1/predict with the ONNX model, STRIP monitor on', async () => {
    const path = await copyOnnxFixture(join(root, 'cnn'), 'cnn');
    const { version } = await reg.register(path, { name: 'digits', actor: 'test' });
    reg.recordGateResult(version.id, { passed: true, policyDigest: 'test', result: {} });
    await reg.promote(version.id, { actor: 'test' });

    const test = (await loadDataset('mnist:test:40')).dataset;
    const notices: string[] = [];
    const deployment = await Deployment.start(reg, 'digits', {
      reference: test,
      monitor: parseMonitorConfig({}),
      seed: 1,
      onEvent: (e) => {
        if (e.type === 'notice') notices.push(e.message);
      },
    });
    // The records are pixels: the STRIP monitor stays on (no notice turning it off).
    expect(notices).toEqual([]);
    expect(deployment.signature.input).toEqual({ kind: 'tensor', shape: [28, 28, 1] });
    server = await startServer({ registry: reg, deployment, port: 0, syncIntervalMs: 0 });

    const n = 12;
    const size = 28 * 28;
    const inputs = Array.from({ length: n }, (_, i) =>
      Array.from(test.x.subarray(i * size, (i + 1) * size)),
    );
    const r = await fetch(`${server.url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs }),
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      version: string;
      predictions: { class: number; label: string; probabilities: number[] }[];
    };
    expect(body.version).toBe(version.id);

    const model = await loadModel(path);
    try {
      const first = { ...test, x: test.x.subarray(0, n * size), shape: [n, 28, 28, 1] };
      const expected = await model.predict({
        ...first,
        y: test.y.subarray(0, n),
        ids: test.ids.slice(0, n),
      });
      // Several classes predicted: a server answering one class everywhere would fail.
      expect(new Set(expected).size).toBeGreaterThan(3);
      expect(body.predictions.map((p) => p.class)).toEqual(Array.from(expected));
      expect(body.predictions.map((p) => p.label)).toEqual(Array.from(expected, (k) => String(k)));
    } finally {
      model.dispose();
    }

    // A record of another shape: a 4xx, not a crash.
    const bad = await fetch(`${server.url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [[0, 1, 2]] }),
    });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.status).toBeLessThan(500);
  });
  it('serves a version with the preprocessing recorded at registration', async () => {
    const path = await copyOnnxFixture(join(root, 'cnn-pre'), 'cnn');
    const onnx = { mean: [0.5], std: [0.25] };
    const { version } = await reg.register(path, { name: 'digits-pre', actor: 'test', onnx });
    expect(version.info.preprocessing).toEqual(onnx);
    reg.recordGateResult(version.id, { passed: true, policyDigest: 'test', result: {} });
    await reg.promote(version.id, { actor: 'test' });
    const test = (await loadDataset('mnist:test:40')).dataset;
    const deployment = await Deployment.start(reg, 'digits-pre', {
      reference: test,
      monitor: parseMonitorConfig({}),
      seed: 1,
    });
    try {
      const served = await deployment.predictRecords(test);
      const [withIt, without] = [await loadModel(path, { onnx }), await loadModel(path)];
      try {
        expect(Array.from(served.probabilities)).toEqual(
          Array.from(await withIt.predictProba(test)),
        );
        // The recorded preprocessing changes the answers: not the sidecar's silently.
        const plain = await without.predictProba(test);
        expect(served.probabilities.some((v, i) => Math.abs(v - plain[i]!) > 1e-3)).toBe(true);
      } finally {
        withIt.dispose();
        without.dispose();
      }
    } finally {
      await deployment.close();
    }
  });
});
