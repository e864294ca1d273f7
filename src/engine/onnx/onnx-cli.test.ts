import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { runCli } from '../../testing/run-cli.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

interface Expected {
  readonly pixels: number[][];
  readonly labels: number[];
  readonly probabilities: number[];
}

let root: string;
let expected: { mlp: Expected; cnn: Expected };
let data: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'antidote-onnx-cli-'));
  expected = JSON.parse(await readFile(join(FIXTURES, 'expectations.json'), 'utf8'));
  const e = expected.cnn;
  const n = e.pixels.length;
  const ds: Dataset = {
    x: Float32Array.from(e.pixels.flat(), (v) => v / 255),
    shape: [n, 28, 28, 1],
    y: Int32Array.from(e.labels),
    classes: Array.from({ length: 10 }, (_, k) => String(k)),
    ids: e.pixels.map((_, i) => `t${i}`),
  };
  data = join(root, 'mnist8');
  await writeDatasetDir(data, ds);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('antidote predict --model MODEL.onnx', () => {
  for (const name of ['cnn', 'mlp'] as const) {
    it(`predicts the ${name} fixture's records as PyTorch does`, async () => {
      const out = join(root, `${name}.jsonl`);
      const r = runCli([
        'predict',
        '--model',
        join(FIXTURES, `${name}.onnx`),
        '--data',
        data,
        '--out',
        out,
        '--json',
        '--quiet',
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).records).toBe(8);
      const rows = (await readFile(out, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const want = expected[name].probabilities;
      rows.forEach((row: { id: string; predicted: string; probabilities: number[] }, i) => {
        expect(row.id).toBe(`t${i}`);
        const p = want.slice(i * 10, (i + 1) * 10);
        expect(row.predicted).toBe(String(p.indexOf(Math.max(...p))));
        // --out rounds to 6 decimals.
        row.probabilities.forEach((v, j) => {
          expect(Math.abs(v - p[j]!)).toBeLessThanOrEqual(1e-5);
        });
      });
    });
  }

  it('says why a corrupted or missing model cannot be read', async () => {
    const junk = join(root, 'junk.onnx');
    await writeFile(junk, 'not a model');
    const bad = runCli(['predict', '--model', junk, '--data', data]);
    expect(bad.code).toBe(65);
    expect(bad.stderr).toMatch(/INVALID_FORMAT.*junk\.onnx is not an ONNX model/);
    const missing = runCli(['predict', '--model', join(root, 'missing.onnx'), '--data', data]);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toMatch(/missing\.onnx does not exist/);
  });
});
