import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { loadDataset } from '../../data/load.js';
import { isAntidoteError } from '../../errors.js';
import {
  argmaxRows,
  imageRecords,
  type OnnxExpectations,
  readOnnxExpectations,
} from '../../testing/onnx-expect.js';
import { ONNX_FIXTURES } from '../../testing/onnx-fixtures.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { Rng } from '../../util/rng.js';
import { registerAuditCommand } from './audit.js';
import { registerEvaluateCommand } from './evaluate.js';
import { registerPredictCommand } from './predict.js';
import { registerScanCommand } from './scan.js';

/**
 * The ResNet-style and text fixtures through the commands (issue 17, items 4 and 5): predict,
 * evaluate, scan and audit with `--model MODEL.onnx`, the layout and normalisation flags, and
 * the preprocessing recorded in the reports.
 */

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  for (const r of [
    registerPredictCommand,
    registerEvaluateCommand,
    registerScanCommand,
    registerAuditCommand,
  ]) {
    r(program);
  }
  return runProgram(program, args);
}

const RESNET = join(ONNX_FIXTURES, 'resnet.onnx');
const TEXT = join(ONNX_FIXTURES, 'text.onnx');
const DIGITS = Array.from({ length: 10 }, (_, k) => String(k));

let root: string;
let expected: OnnxExpectations;
/** The 4 recorded coloured digits, as a dataset directory. */
let resnet4: string;
/** 60 MNIST test digits, padded to 32×32 and coloured (seeded), as a dataset directory. */
let coloured: string;
/** The 8 recorded texts, as a JSONL file. */
let texts: string;

/** MNIST digits as 32×32 RGB records: padded by 2, one random colour per record and side. */
function colourise(ds: Dataset, rng: Rng): Dataset {
  const n = ds.y.length;
  const x = new Float32Array(n * 32 * 32 * 3);
  for (let i = 0; i < n; i++) {
    const fg = [0, 1, 2].map(() => 0.4 + 0.6 * rng.next());
    const bg = [0, 1, 2].map(() => 0.35 * rng.next());
    for (let h = 0; h < 32; h++) {
      for (let w = 0; w < 32; w++) {
        const inside = h >= 2 && h < 30 && w >= 2 && w < 30;
        const g = inside ? ds.x[i * 784 + (h - 2) * 28 + (w - 2)]! : 0;
        for (let c = 0; c < 3; c++) {
          x[((i * 32 + h) * 32 + w) * 3 + c] = g * fg[c]! + (1 - g) * bg[c]!;
        }
      }
    }
  }
  return { ...ds, x, shape: [n, 32, 32, 3] };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'antidote-onnx-preprocess-'));
  expected = await readOnnxExpectations();
  resnet4 = join(root, 'resnet4');
  await writeDatasetDir(resnet4, imageRecords(expected.resnet, [32, 32, 3], DIGITS));
  coloured = join(root, 'coloured60');
  const mnist = (await loadDataset('mnist:test:60')).dataset;
  await writeDatasetDir(coloured, colourise(mnist, new Rng(17)));
  texts = join(root, 'texts.jsonl');
  const e = expected.text;
  const labels = ['negative', 'positive'];
  await writeFile(
    texts,
    `${e.texts.map((text, i) => JSON.stringify({ text, label: labels[e.labels[i]!] })).join('\n')}\n`,
  );
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The predictions `predict --out` wrote. */
async function predictions(
  file: string,
): Promise<{ predicted: string; probabilities: number[] }[]> {
  return (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('predict and evaluate with the ResNet-style and text fixtures', () => {
  it('predicts the coloured records (NCHW, per-channel sidecar normalisation) as PyTorch does', async () => {
    const out = join(root, 'resnet.jsonl');
    const r = JSON.parse(
      await run(['predict', '--model', RESNET, '--data', resnet4, '--out', out, '--json']),
    );
    expect(r.records).toBe(4);
    const rows = await predictions(out);
    const want = expected.resnet.probabilities;
    const argmax = argmaxRows(want, 4, 10);
    rows.forEach((row, i) => {
      expect(row.predicted).toBe(String(argmax[i]));
      row.probabilities.forEach((v, j) => {
        expect(Math.abs(v - want[i * 10 + j]!)).toBeLessThanOrEqual(1e-5);
      });
    });
  });

  it('predicts texts (tokenised by the sidecar) as PyTorch does', async () => {
    const out = join(root, 'text.jsonl');
    const r = JSON.parse(
      await run(['predict', '--model', TEXT, '--data', texts, '--out', out, '--json']),
    );
    expect(r.records).toBe(8);
    expect(r.classes).toEqual(['negative', 'positive']);
    const rows = await predictions(out);
    const want = expected.text.probabilities;
    rows.forEach((row, i) => {
      expect(row.predicted).toBe(r.classes[argmaxRows(want, 8, 2)[i]!]);
      row.probabilities.forEach((v, j) => {
        expect(Math.abs(v - want[i * 2 + j]!)).toBeLessThanOrEqual(1e-5);
      });
    });
    const ev = JSON.parse(await run(['evaluate', '--model', TEXT, '--data', texts, '--json']));
    const correct = argmaxRows(want, 8, 2).filter((p, i) => p === expected.text.labels[i]).length;
    expect(ev.cleanAccuracy ?? ev.accuracy).toBeCloseTo(correct / 8, 10);
  });

  it('the flags change what the model is fed, and wrong shapes or flags say what is expected', async () => {
    // A normalisation that ignores the sidecar's changes the predictions' probabilities.
    const out = join(root, 'flags.jsonl');
    await run(['predict', '--model', RESNET, '--data', resnet4, '--out', out, '--mean', '0']);
    const rows = await predictions(out);
    const moved = rows.some((row, i) =>
      row.probabilities.some(
        (v, j) => Math.abs(v - expected.resnet.probabilities[i * 10 + j]!) > 1e-3,
      ),
    );
    expect(moved).toBe(true);
    const mnist = join(root, 'mnist8');
    await writeDatasetDir(mnist, (await loadDataset('mnist:test:8')).dataset);
    const shape = await rejectionOf(run(['predict', '--model', RESNET, '--data', mnist]));
    expect(isAntidoteError(shape, 'SHAPE_MISMATCH')).toBe(true);
    expect(String(shape)).toMatch(
      /reads records of shape \[32, 32, 3\] \(HWC; the model's NCHW input is \[N, 3, 32, 32\]\), the data has \[28, 28, 1\]/,
    );
    const channels = await rejectionOf(
      run(['predict', '--model', RESNET, '--data', resnet4, '--std', '1,2']),
    );
    expect(isAntidoteError(channels, 'INVALID_ARGUMENT')).toBe(true);
    expect(String(channels)).toMatch(/std has 2 values; the model has 3 channel/);
    // Read as NHWC, the input has 32 channels: the sidecar's 3 means no longer fit...
    const sidecar = await rejectionOf(
      run(['predict', '--model', RESNET, '--data', resnet4, '--layout', 'nhwc']),
    );
    expect(String(sidecar)).toMatch(/normalization\.mean has 3 values; the model has 32 channel/);
    // ... and with the normalisation replaced too, the records do not fit.
    const layout = await rejectionOf(
      run([
        'predict',
        '--model',
        RESNET,
        '--data',
        resnet4,
        '--layout',
        'nhwc',
        '--mean',
        '0',
        '--std',
        '1',
      ]),
    );
    expect(isAntidoteError(layout, 'SHAPE_MISMATCH')).toBe(true);
    expect(String(layout)).toMatch(
      /reads records of shape \[3, 32, 32\], the data has \[32, 32, 3\]/,
    );
  });
});

describe('scan and audit record the preprocessing', () => {
  it('scan --model resnet.onnx writes the layout and normalisation used in report.json', async () => {
    const out = join(root, 'scan-resnet');
    await run(['scan', '--model', RESNET, '--data', coloured, '--out', out, '--quiet', '--json']);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.records).toBe(60);
    const sidecar = JSON.parse(await readFile(`${RESNET}.json`, 'utf8'));
    expect(report.preprocessing).toEqual({
      layout: 'nchw',
      layoutSource: 'model',
      normalization: sidecar.normalization,
      normalizationSource: 'sidecar',
    });
    expect(report.decision.flagged).toHaveLength(60);
    // With --scale, the report says the options replaced the sidecar's scale.
    const out2 = join(root, 'scan-resnet-scale');
    await run(['scan', '--model', RESNET, '--data', coloured, '--out', out2, '--scale', '1.5']);
    const report2 = JSON.parse(await readFile(join(out2, 'report.json'), 'utf8'));
    expect(report2.preprocessing.normalization.scale).toBe(1.5);
    expect(report2.preprocessing.normalizationSource).toBe('sidecar+options');
  });

  it('scan --model text.onnx scans texts in the model representation, recording the tokenisation', async () => {
    const out = join(root, 'scan-text');
    await run([
      'scan',
      '--model',
      TEXT,
      '--data',
      texts,
      '--out',
      out,
      '--method',
      'ss',
      '--quiet',
    ]);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.records).toBe(8);
    expect(report.preprocessing.layout).toBe('tokens');
    expect(report.preprocessing.text).toMatchObject({ maxTokens: 24, padId: 0, unknownId: 1 });
    // Keyword discovery runs on an ONNX text model's raw texts (one of its default detectors).
    const kw = join(root, 'scan-text-kw');
    await run(['scan', '--model', TEXT, '--data', texts, '--out', kw, '--method', 'kw', '--quiet']);
    const r = JSON.parse(await readFile(join(kw, 'report.json'), 'utf8'));
    expect(r.records).toBe(8);
    expect(Object.keys(r.methods)).toEqual(['kw']);
  });

  it('audit --model resnet.onnx --scale records the normalisation in report.json', async () => {
    const out = join(root, 'audit-resnet');
    // The policy may fail (records flagged) after the report is written.
    const failed = await rejectionOf(
      run([
        'audit',
        '--model',
        RESNET,
        '--data',
        coloured,
        '--out',
        out,
        '--no-vulnerability',
        '--scale',
        '1',
        '--quiet',
        '--json',
      ]),
    );
    expect(failed === undefined || isAntidoteError(failed, 'GATE_FAILED')).toBe(true);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.data.preprocessing).toMatchObject({
      layout: 'nchw',
      normalizationSource: 'sidecar+options',
    });
    expect(JSON.parse(report.subject.preprocessing).normalization.std).toHaveLength(3);
  });
});
