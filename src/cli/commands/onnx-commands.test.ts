import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDatasetDir, writeDatasetDir } from '../../data/dataset-dir.js';
import { loadDataset } from '../../data/load.js';
import { neuralCleanse } from '../../defenses/neural-cleanse.js';
import { loadModel, requireDifferentiable } from '../../engine/model.js';
import type { OnnxModel } from '../../engine/onnx/onnx-model.js';
import { decodeOnnx } from '../../engine/onnx/onnx-proto.js';
import { decodeWeights } from '../../engine/onnx/onnx-tensors.js';
import { isAntidoteError } from '../../errors.js';
import { buildOnnx } from '../../testing/onnx-build.js';
import { copyOnnxFixture, ONNX_FIXTURES } from '../../testing/onnx-fixtures.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { registerAttackCommand } from './attack.js';
import { registerGateCommand } from './gate.js';
import { registerInspectCommand } from './inspect.js';
import { registerPromoteCommand } from './promote.js';
import { registerRegistryCommand } from './registry.js';
import { registerMitigateCommand, registerScanCommand } from './scan.js';
import { registerSignCommand } from './sign.js';
import { registerVerifyCommand } from './verify.js';

/**
 * The commands of issue 17, item 1, with an ONNX model file (the fixtures of
 * `src/engine/onnx/fixtures`): registry register, gate and promote; inspect (STRIP runs, Neural
 * Cleanse and fine-pruning run on the imported graph; on a model with an op that does not
 * import, they refuse naming what is missing); sign and verify; the attacks that
 * evaluate with a model (predictions only) or craft against its imported graph (feature
 * collision); mitigate --retrain fine-tunes it and writes it back as ONNX.
 */

const FIXTURES = ONNX_FIXTURES;

/** `[N, 1, 28, 28]` → Flatten → MatMul → Einsum (`ij->ij`) → `[N, 10]`. */
function opaqueModel(): Uint8Array {
  return buildOnnx({
    input: { name: 'input', shape: ['n', 1, 28, 28] },
    outputs: [{ name: 'output', shape: ['n', 10] }],
    nodes: [
      { op: 'Flatten', inputs: ['input'], outputs: ['f'] },
      { op: 'MatMul', inputs: ['f', 'w'], outputs: ['z'] },
      {
        op: 'Einsum',
        name: 'mix',
        inputs: ['z'],
        outputs: ['output'],
        attrs: { equation: 'ij->ij' },
      },
    ],
    initializers: [
      { name: 'w', dims: [784, 10], values: Array.from({ length: 7840 }, (_, i) => (i % 7) / 70) },
    ],
  });
}

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  for (const r of [
    registerRegistryCommand,
    registerGateCommand,
    registerPromoteCommand,
    registerInspectCommand,
    registerSignCommand,
    registerVerifyCommand,
    registerAttackCommand,
    registerScanCommand,
    registerMitigateCommand,
  ]) {
    r(program);
  }
  return runProgram(program, args);
}

const failure = async (args: string[]) => rejectionOf(run(args));

let root: string;
/** cnn.onnx and its sidecar, alone in a folder. */
let cnn: string;
/** 40 MNIST test records, as a dataset directory. */
let data: string;
/** An NCHW MNIST model with an op Antidote does not import (Einsum): inference only. */
let opaque: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'antidote-onnx-commands-'));
  cnn = await copyOnnxFixture(join(root, 'cnn'), 'cnn');
  opaque = join(root, 'opaque', 'opaque.onnx');
  await mkdir(join(root, 'opaque'));
  await writeFile(opaque, opaqueModel());
  data = join(root, 'mnist40');
  await writeDatasetDir(data, (await loadDataset('mnist:test:40')).dataset);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('antidote registry / gate / promote with MODEL.onnx', () => {
  it('registers the .onnx file, gates it on accuracy and promotes it', async () => {
    const P = ['--project', join(root, 'project')];
    const out = JSON.parse(
      await run(['registry', 'register', cnn, '--name', 'digits', '--json', ...P]),
    );
    expect(out.created).toBe(true);
    expect(out.version.info).toMatchObject({ arch: 'onnx', domain: 'image', files: 2 });
    const policy = join(root, 'policy.json');
    await writeFile(policy, JSON.stringify({ version: 1, accuracy: { testSet: data, min: 0.8 } }));
    const G = ['gate', '--model', 'digits@1', '--policy', policy, '--out', join(root, 'g.json')];
    const gate = await run([...G, ...P]);
    expect(gate).toMatch(/PASS {2}accuracy: clean accuracy/);
    expect(gate).toMatch(/PASSED: digits@1 may be promoted/);
    expect(await run(['promote', 'digits@1', ...P])).toMatch(/digits@1: candidate → production/);

    // Neural Cleanse needs input gradients: for a model with an op Antidote cannot import, not
    // run, failed, and the gate fails with it.
    await run(['registry', 'register', opaque, '--name', 'opaque', ...P]);
    await writeFile(
      policy,
      JSON.stringify({
        version: 1,
        backdoorProbe: { neuralCleanse: { clean: data, records: 10 } },
      }),
    );
    const e = await failure([
      'gate',
      '--model',
      'opaque@1',
      '--policy',
      policy,
      '--out',
      join(root, 'g.json'),
      ...P,
    ]);
    expect(isAntidoteError(e, 'GATE_FAILED')).toBe(true);
    expect(JSON.parse(await readFile(join(root, 'g.json'), 'utf8')).checks).toEqual([
      expect.objectContaining({
        name: 'neural-cleanse',
        passed: false,
        reason: expect.stringMatching(
          /^not run: Neural Cleanse needs input gradients.*every op imports/,
        ),
      }),
    ]);
  });
});

describe('antidote inspect --model MODEL.onnx', () => {
  it('runs STRIP (predictions only)', async () => {
    const out = join(root, 'strip');
    const r = JSON.parse(
      await run([
        'inspect',
        '--model',
        cnn,
        '--method',
        'strip',
        '--data',
        data,
        '--inputs',
        data,
        '--overlays',
        '4',
        '--out',
        out,
        '--json',
        '--quiet',
      ]),
    );
    expect(r.method).toBe('strip');
    expect(r.threshold).toBeGreaterThan(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.calibrationRecords).toBe(20);
    expect(report.inputs.total).toBe(40);
  });

  it('runs Neural Cleanse on the imported graph, as the library does on it', async () => {
    const out = join(root, 'nc');
    const args = ['--epochs', '1', '--steps', '2', '--seed', '3'];
    const r = JSON.parse(
      await run([
        'inspect',
        '--model',
        cnn,
        '--method',
        'neural-cleanse',
        '--data',
        data,
        ...args,
        '--out',
        out,
        '--json',
        '--quiet',
      ]),
    );
    expect(r.classes).toHaveLength(10);
    expect(existsSync(join(out, 'reversed-triggers.png'))).toBe(true);
    // The same run on the model's TF.js import, through the library: the same anomaly indices.
    const model = await loadModel(cnn);
    try {
      const ds = (await loadDataset(data)).dataset;
      const lib = await neuralCleanse(
        await requireDifferentiable(model, 'test'),
        { x: ds.x, n: ds.y.length },
        { seed: 3, epochs: 1, stepsPerEpoch: 2, initCost: 1e-3, anomalyScale: 'log' },
      );
      expect(r.classes.map((c: { anomalyIndex: number }) => c.anomalyIndex)).toEqual(
        lib.anomalyIndex,
      );
      expect(lib.anomalyIndex.every((v) => Number.isFinite(v))).toBe(true);
    } finally {
      model.dispose();
    }
  });

  for (const [method, model, missing] of [
    [
      'neural-cleanse',
      () => opaque,
      /needs input gradients; .*opaque\.onnx uses op Einsum \(node mix\), which Antidote cannot import/,
    ],
  ] as const) {
    it(`refuses --method ${method}, naming what is missing`, async () => {
      const out = join(root, method);
      const e = await failure([
        'inspect',
        '--model',
        model(),
        '--method',
        method,
        '--data',
        data,
        '--out',
        out,
        '--quiet',
      ]);
      expect(isAntidoteError(e, 'INVALID_ARGUMENT'), String(e)).toBe(true);
      expect((e as Error).message).toMatch(missing);
      expect(existsSync(out)).toBe(false);
    });
  }
});

describe('antidote inspect --method fine-prune --model MODEL.onnx', () => {
  it('prunes the input units of the last Gemm, fine-tunes and writes the model back as ONNX', async () => {
    const out = join(root, 'fine-prune');
    const saved = join(root, 'pruned', 'digits.onnx');
    const args = ['inspect', '--model', cnn, '--method', 'fine-prune', '--data', data];
    const r = JSON.parse(
      await run([
        ...args,
        ...['--fine-tune-epochs', '1', '--save-model', saved, '--out', out, '--json', '--quiet'],
      ]),
    );
    // The default layer: the 32-wide input of the last Gemm.
    const graph = decodeOnnx(await readFile(cnn), cnn);
    const gemm = graph.nodes.filter((n) => n.opType === 'Gemm').at(-1)!;
    expect(r.layer).toBe(gemm.inputs[0]);
    expect(r.pruned.length).toBeGreaterThan(0);
    expect(r.fraction).toBe(r.pruned.length / 32);
    expect(r.savedModel).toBe(saved);
    expect(JSON.parse(await readFile(join(out, 'report.json'), 'utf8')).pruned).toEqual(r.pruned);
    // Same graph, new weights; the sidecar copied; the pruned units' weights zero in the file;
    // ONNX Runtime predicts the written file as the engine predicts its import.
    expect(decodeOnnx(await readFile(saved), saved)).toEqual(graph);
    expect(await readFile(`${saved}.json`, 'utf8')).toBe(await readFile(`${cnn}.json`, 'utf8'));
    const model = (await loadModel(saved)) as OnnxModel;
    try {
      const imported = await model.importGraph();
      const w = imported.graph.initializerValues().get(gemm.inputs[1]!)!;
      const transB = gemm.attributes.transB === 1;
      const outputs = w.length / 32;
      for (const unit of r.pruned as number[]) {
        for (let o = 0; o < outputs; o++) {
          expect(Math.abs(w[transB ? o * 32 + unit : unit * outputs + o]!)).toBe(0);
        }
      }
      const f = model.featurize((await loadDataset(data)).dataset);
      const n = f.y.length;
      const fromRuntime = await model.classifier.predictProba(f.x, n);
      const fromEngine = await imported.predictProba(f.x, n);
      let worst = 0;
      for (let i = 0; i < fromEngine.length; i++) {
        worst = Math.max(worst, Math.abs(fromEngine[i]! - fromRuntime[i]!));
      }
      expect(worst).toBeLessThanOrEqual(1e-5);
    } finally {
      model.dispose();
    }
    // BatchNorm in training mode by default (running statistics moved); frozen on request.
    const kept = join(root, 'pruned-frozen', 'digits.onnx');
    await run([
      ...args,
      ...['--fine-tune-epochs', '1', '--save-model', kept, '--out', `${out}-frozen`],
      ...['--batch-norm', 'frozen', '--quiet'],
    ]);
    const stats = async (path: string) =>
      decodeWeights(await readFile(path), path).initializers.get('bn2.running_mean')!.data;
    expect(Array.from(await stats(kept))).toEqual(Array.from(await stats(cnn)));
    expect(Array.from(await stats(saved))).not.toEqual(Array.from(await stats(cnn)));
    // A graph with an op Antidote does not import cannot be pruned: refused, naming the op.
    const e = await failure([
      'inspect',
      '--model',
      opaque,
      '--method',
      'fine-prune',
      '--data',
      data,
      '--out',
      join(root, 'fp-opaque'),
      '--quiet',
    ]);
    expect(isAntidoteError(e, 'INVALID_STATE'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(
      /uses op Einsum \(node mix\), which Antidote cannot import/,
    );
    expect(existsSync(join(root, 'fp-opaque'))).toBe(false);
  });
});

describe('antidote sign / verify MODEL.onnx', () => {
  it('signs and verifies the folder holding only the model and its sidecar', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const priv = join(root, 'signer.pem');
    const pub = join(root, 'signer.pub.pem');
    await writeFile(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await writeFile(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    const model = await copyOnnxFixture(join(root, 'to-sign'), 'cnn');
    const P = ['--project', join(root, 'project')];
    const signed = JSON.parse(await run(['sign', model, '--key', priv, '--json', ...P]));
    expect(signed.bundle).toBe(join(root, 'to-sign', 'antidote.sig'));
    expect(await run(['verify', model, '--key', pub, ...P])).toMatch(/OK — signature by .*2 files/);

    // A changed sidecar changes the model: verify names it.
    await writeFile(`${model}.json`, JSON.stringify({ normalization: { scale: 255 } }));
    const e = await failure(['verify', model, '--key', pub, ...P]);
    expect(isAntidoteError(e, 'INTEGRITY_MISMATCH')).toBe(true);
    expect((e as Error).message).toMatch(/cnn\.onnx\.json/);

    // The fixtures folder holds other models: signing one of them is refused, saying why.
    const refused = await failure(['sign', join(FIXTURES, 'mlp.onnx'), '--key', priv, ...P]);
    expect(isAntidoteError(refused, 'INVALID_ARGUMENT')).toBe(true);
    expect((refused as Error).message).toMatch(/also holds .*into a folder of their own/);
    expect(existsSync(join(FIXTURES, 'antidote.sig'))).toBe(false);
  });
});

describe('antidote attack --model MODEL.onnx', () => {
  it('adversarial label flipping ranks the records by the ONNX model', async () => {
    const out = join(root, 'flip');
    await run([
      'attack',
      'label-flip',
      '--data',
      data,
      '--mode',
      'adversarial',
      '--model',
      cnn,
      '--count',
      '4',
      '--out',
      out,
      '--json',
    ]);
    const { dataset } = await readDatasetDir(out);
    const clean = (await loadDataset('mnist:test:40')).dataset;
    const flipped = Array.from(dataset.y).filter((y, i) => y !== clean.y[i]).length;
    expect(flipped).toBe(4);
    // The ONNX flags reach the model: three channel means for a one-channel model are refused.
    const e = await failure([
      ...['attack', 'label-flip', '--data', data, '--mode', 'adversarial', '--model', cnn],
      ...['--count', '4', '--mean', '0,0,0', '--out', join(root, 'flip-bad')],
    ]);
    expect(isAntidoteError(e, 'INVALID_ARGUMENT'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(/mean/);
    expect(existsSync(join(root, 'flip-bad'))).toBe(false);
  });

  it('feature collision crafts poisons against the imported graph; an op it cannot import is refused', async () => {
    const args = (model: string, out: string) => [
      'attack',
      'feature-collision',
      '--data',
      data,
      '--model',
      model,
      '--target-data',
      data,
      '--target-index',
      '0',
      '--base-class',
      '1',
      '--poisons',
      '2',
      '--iterations',
      '5',
      '--out',
      out,
    ];
    const e = await failure(args(opaque, join(root, 'fc0')));
    expect(isAntidoteError(e, 'INVALID_ARGUMENT'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(/feature collision needs input gradients; .*op Einsum/);
    expect(existsSync(join(root, 'fc0'))).toBe(false);
    const out = join(root, 'fc');
    await run([...args(cnn, out), '--json']);
    const { dataset, attack } = await readDatasetDir(out);
    expect(dataset.y.length).toBe(42);
    // The poisons moved towards the target in the representation (the last Gemm's input).
    const params = (attack as { params?: Record<string, number[]> }).params;
    const before = params?.baseFeatureDistance ?? [];
    const after = params?.featureDistance ?? [];
    expect(after).toHaveLength(2);
    for (const [i, d] of after.entries()) expect(d).toBeLessThan(before[i]!);
  });
});

describe('antidote registry register MODEL.onnx --mean/--std', () => {
  it('records the preprocessing in the version; the gate loads the model with it', async () => {
    const P = ['--project', join(root, 'project-pre')];
    // A normalisation the model was not trained with: the version records it, and the gate's
    // accuracy (≥ 0.8 with the sidecar's, as above) falls with it.
    const shifted = ['--mean', '0.9', '--std', '0.05'];
    const out = JSON.parse(
      await run(['registry', 'register', cnn, '--name', 'shifted', ...shifted, '--json', ...P]),
    );
    expect(out.version.info.preprocessing).toEqual({ mean: [0.9], std: [0.05] });
    const policy = join(root, 'policy-pre.json');
    await writeFile(policy, JSON.stringify({ version: 1, accuracy: { testSet: data, min: 0.8 } }));
    const report = join(root, 'g-pre.json');
    const e = await failure([
      'gate',
      '--model',
      'shifted@1',
      '--policy',
      policy,
      '--out',
      report,
      ...P,
    ]);
    expect(isAntidoteError(e, 'GATE_FAILED'), String(e)).toBe(true);
    expect(JSON.parse(await readFile(report, 'utf8')).checks).toEqual([
      expect.objectContaining({ name: 'accuracy', passed: false }),
    ]);
    // Values the model cannot use are refused before anything is registered.
    const bad = await failure([
      'registry',
      'register',
      cnn,
      '--name',
      'bad',
      '--mean',
      '0,0,0',
      ...P,
    ]);
    expect(isAntidoteError(bad, 'INVALID_ARGUMENT'), String(bad)).toBe(true);
    expect(await run(['registry', 'list', ...P])).not.toMatch(/bad@1/);
  });
});

describe('antidote mitigate --retrain MODEL.onnx', () => {
  it('fine-tunes the ONNX model on the cleaned data and writes a .onnx that ONNX Runtime runs', async () => {
    const scan = join(root, 'scan');
    await run(['scan', '--model', cnn, '--data', data, '--method', 'ss', '--out', scan, '--quiet']);
    const base = ['mitigate', '--data', data, '--scan', scan, '--retrain', cnn];
    // An ONNX model is written back as a .onnx file, refused before anything is written.
    const e = await failure([...base, '--out', join(root, 'c0'), '--model-out', join(root, 'd')]);
    expect(isAntidoteError(e, 'INVALID_ARGUMENT'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(/give --model-out NAME\.onnx/);
    expect(existsSync(join(root, 'c0'))).toBe(false);

    // The ONNX flags reach the model: three channel means for a one-channel model are refused.
    const f = await failure([
      ...base,
      ...['--mean', '0,0,0', '--out', join(root, 'c1'), '--model-out', join(root, 'd.onnx')],
    ]);
    expect(isAntidoteError(f, 'INVALID_ARGUMENT'), String(f)).toBe(true);
    expect((f as Error).message).toMatch(/mean/);
    expect(existsSync(join(root, 'c1'))).toBe(false);

    const tuned = join(root, 'tuned', 'digits.onnx');
    const r = JSON.parse(
      await run([...base, '--out', join(root, 'cleaned'), '--model-out', tuned, '--json']),
    );
    expect(r.retrained).toMatchObject({ kind: 'onnx', seed: 1, records: r.records });
    // Same graph and size, new weights; the sidecar as it was.
    const [before, after] = [await readFile(cnn), await readFile(tuned)];
    expect(after.length).toBe(before.length);
    expect(decodeOnnx(after, tuned)).toEqual(decodeOnnx(before, cnn));
    expect(after.equals(before)).toBe(false);
    expect(await readFile(`${tuned}.json`, 'utf8')).toBe(await readFile(`${cnn}.json`, 'utf8'));
    // BatchNorm in training mode by default: the running statistics moved; --batch-norm frozen
    // keeps them as they were.
    const frozen = join(root, 'tuned-frozen', 'digits.onnx');
    await run([
      ...base,
      ...['--out', join(root, 'cleaned-frozen'), '--model-out', frozen, '--batch-norm', 'frozen'],
    ]);
    const stats = async (path: string) =>
      decodeWeights(await readFile(path), path).initializers.get('bn1.running_var')!.data;
    expect(Array.from(await stats(frozen))).toEqual(Array.from(await stats(cnn)));
    expect(Array.from(await stats(tuned))).not.toEqual(Array.from(await stats(cnn)));
    // ONNX Runtime runs the written file as the engine runs its import.
    const model = (await loadModel(tuned)) as OnnxModel;
    try {
      const f = model.featurize((await loadDataset(data)).dataset);
      const n = f.y.length;
      const fromRuntime = await model.classifier.predictProba(f.x, n);
      const imported = await (await model.importGraph()).predictProba(f.x, n);
      let worst = 0;
      for (let i = 0; i < imported.length; i++) {
        worst = Math.max(worst, Math.abs(imported[i]! - fromRuntime[i]!));
      }
      expect(worst).toBeLessThanOrEqual(1e-5);
      const acc = (await model.predict((await loadDataset(data)).dataset)).filter(
        (p, i) => p === f.y[i],
      ).length;
      expect(acc / n).toBeGreaterThan(0.8);
    } finally {
      model.dispose();
    }
  });
});
