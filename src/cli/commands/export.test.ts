import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../engine/backend.js';
import { loadModel } from '../../engine/model.js';
import { TfClassifier } from '../../engine/tf-classifier.js';
import { runCli } from '../../testing/run-cli.js';
import { Rng } from '../../util/rng.js';

describe('antidote export', () => {
  let dir: string;
  let modelDir: string;

  beforeAll(async () => {
    await initEngine();
    dir = mkdtempSync(join(tmpdir(), 'antidote-export-cli-'));
    modelDir = join(dir, 'model');
    const c = await TfClassifier.create({ arch: 'cnn' }, [12, 10, 1], ['cat', 'dog', 'eel'], 4);
    await c.save(modelDir);
    c.dispose();
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the .onnx file and its class names; ONNX Runtime reads it as the model predicts', async () => {
    const out = join(dir, 'model.onnx');
    const r = runCli(['export', '--model', modelDir, '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.output).toEqual({ name: 'logits', shape: ['N', 3] });
    expect(result.input.shape).toEqual(['N', 12, 10, 1]);
    expect(result.checked.maxDifference).toBeLessThan(1e-5);
    expect(JSON.parse(readFileSync(`${out}.json`, 'utf8')).classes).toEqual(['cat', 'dog', 'eel']);

    const onnx = await loadModel(out);
    const tf = await TfClassifier.load(modelDir);
    tf.useInference('tfjs');
    expect(onnx.classes).toEqual(['cat', 'dog', 'eel']);
    const rng = new Rng(2);
    const x = Float32Array.from({ length: 9 * 120 }, () => rng.next());
    const want = await tf.predictProba(x, 9);
    const got = await onnx.classifier.predictProba(x, 9);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-5);
    onnx.dispose();
    tf.dispose();
  });

  it('refuses to replace a file without --force, and a name that is not .onnx', () => {
    const out = join(dir, 'again.onnx');
    expect(runCli(['export', '--model', modelDir, '--out', out, '--quiet']).code).toBe(0);
    const again = runCli(['export', '--model', modelDir, '--out', out]);
    expect(again.code).toBe(73);
    expect(again.stderr).toMatch(/error \[ALREADY_EXISTS\].*--force/);
    const forced = runCli(['export', '--model', modelDir, '--out', out, '--force', '--softmax']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/output probabilities \[N, 3\]/);
    const bad = runCli(['export', '--model', modelDir, '--out', join(dir, 'model.bin')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/error \[INVALID_ARGUMENT\].*\.onnx/);
    expect(existsSync(join(dir, 'model.bin'))).toBe(false);
  });
});
