import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { registerInfoCommand } from './info.js';

async function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerInfoCommand(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'antidote', 'info', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

describe('antidote info', () => {
  afterEach(() => vi.restoreAllMocks());
  const dir = join(mkdtempSync(join(tmpdir(), 'antidote-info-')), 'poisoned');
  const ready = writeDatasetDir(
    dir,
    {
      x: Float32Array.from([0, 1, 0.5, 0.25, 1, 1]),
      shape: [3, 2],
      y: Int32Array.from([0, 1, 1]),
      classes: ['ham', 'spam'],
      ids: ['a', 'b', 'c'],
      source: ['feed-1', 'feed-2', 'feed-2'],
    },
    { attack: { attack: 'label-flip', seed: 4, indices: [1, 2], params: { rate: 0.5 } } },
  );

  it('prints shape, classes with counts, sources and the attack record', async () => {
    await ready;
    const out = await run([dir]);
    expect(out).toContain('records: 3');
    expect(out).toContain('shape:   [3, 2]');
    expect(out).toMatch(/ham\s+1\s+33\.3%/);
    expect(out).toMatch(/spam\s+2\s+66\.7%/);
    expect(out).toContain('sources: 2');
    expect(out).toContain('attack: label-flip');
    expect(out).toContain('indices: [2 items]');
  });

  it('prints JSON with --json', async () => {
    await ready;
    const json = JSON.parse(await run([dir, '--json']));
    expect(json.kind).toBe('dataset-dir');
    expect(json.records).toBe(3);
    expect(json.classes).toEqual([
      { name: 'ham', count: 1 },
      { name: 'spam', count: 2 },
    ]);
    expect(json.sources.distinct).toBe(2);
    expect(json.attack).toMatchObject({ attack: 'label-flip', seed: 4, indices: '[2 items]' });
  });

  it('describes a built-in with a limit, and lets errors propagate', async () => {
    const json = JSON.parse(await run(['mnist:test', '--limit', '20', '--json']));
    expect(json.shape).toEqual([20, 28, 28, 1]);
    expect(json.classes).toHaveLength(10);
    await expect(run(['no-such-dataset'])).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('antidote info MODEL.onnx', () => {
  const fixtures = join(import.meta.dirname, '../../engine/onnx/fixtures');

  it('lists inputs, outputs, candidate layers and op counts', async () => {
    const out = await run([join(fixtures, 'cnn.onnx')]);
    expect(out).toContain('(ONNX model, from pytorch 1.13.0, IR 7, opset 13)');
    expect(out).toContain('  input  [batch, 1, 28, 28] float32');
    expect(out).toContain('layout:  nchw');
    expect(out).toContain('classifier: output, 10 classes, logits');
    expect(out).toContain('classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9');
    expect(out).toMatch(/sidecar: .*cnn\.onnx\.json/);
    expect(out).toContain('  /Flatten_output_0  (default)');
    expect(out).toMatch(/BatchNormalization\s+2/);
    expect(out).toMatch(/Relu\s+3/);
  });

  it('prints JSON with --json, and says when there is no classifier output', async () => {
    const json = JSON.parse(await run([join(fixtures, 'mlp.onnx'), '--json']));
    expect(json.layout).toBe('flat');
    expect(json.classifier).toEqual({ name: 'output', numClasses: 10, probabilities: true });
    expect(json.layers).toEqual(['/Relu_output_0']);
    expect(json.defaultLayer).toBe('/Relu_output_0');
    expect(json.ops).toEqual({ Gemm: 2, Relu: 1, Softmax: 1 });
    expect(json.weights).toBe(784 * 64 + 64 + 64 * 10 + 10);
    expect(json.sidecar).toBeNull();
  });

  it('refuses a file that is not an ONNX model', async () => {
    const junk = join(mkdtempSync(join(tmpdir(), 'antidote-info-')), 'junk.onnx');
    writeFileSync(junk, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
    await expect(run([junk])).rejects.toThrow(/junk\.onnx is not an ONNX model/);
  });
});
