import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { type Dataset, numRecords, selectRecords } from '../../data/dataset.js';
import { finePrune, type PrunableClassifier } from '../../defenses/fine-pruning.js';
import { neuralCleanse } from '../../defenses/neural-cleanse.js';
import { fitStrip, stripDetect } from '../../defenses/strip.js';
import {
  type DifferentiableImageModel,
  loadModel,
  type Model,
  requireDifferentiable,
  requireImageModel,
  TfImageModel,
} from '../../engine/model.js';
import type { OnnxModel } from '../../engine/onnx/onnx-model.js';
import { AntidoteError } from '../../errors.js';
import { renderImageGrid } from '../../report/image-grid.js';
import { writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { Rng } from '../../util/rng.js';
import { addBatchNormFlag, type BatchNormCliOptions, batchNormOption } from '../batch-norm-flag.js';
import { addDataOptions, loadDataArg } from '../data-arg.js';
import { addOnnxFlags, type OnnxCliOptions, onnxLoadOptions } from '../onnx-flags.js';
import { parseInteger, parseNumber } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { createProgressBar, progressEnabled } from '../progress.js';

/** Model-level inspection methods. */
export const INSPECT_METHODS = ['neural-cleanse', 'strip', 'fine-prune'] as const;
/** One of {@link INSPECT_METHODS}. */
export type InspectMethod = (typeof INSPECT_METHODS)[number];

/** File names inside an inspection report directory. */
export const INSPECT_REPORT_FILE = 'report.json';
/** Neural Cleanse: masks (row 1) and stamped patterns m·p (row 2), one column per class. */
export const INSPECT_TRIGGERS_FILE = 'reversed-triggers.png';
/** Neural Cleanse: the suspected target's reversed trigger m·p, upscaled. */
export const INSPECT_SUSPECT_FILE = 'suspected-trigger.png';

interface InspectCliOptions extends OutputOptions, OnnxCliOptions, BatchNormCliOptions {
  model: string;
  method: InspectMethod;
  data: string;
  inputs?: string;
  limit?: number;
  seed: number;
  out: string;
  force?: boolean;
  epochs: number;
  steps: number;
  initCost: number;
  anomalyScale: 'log' | 'linear';
  overlays: number;
  frr: number;
  maxDrop: number;
  fineTuneEpochs: number;
  saveModel?: string;
}

/** Splits `ds` (seeded) into a first part of `share` and the rest. */
function split(ds: Dataset, share: number, seed: number): [Dataset, Dataset] {
  const n = numRecords(ds);
  const perm = new Rng(seed).fork('inspect-split').permutation(n);
  const k = Math.floor(n * share);
  return [selectRecords(ds, perm.subarray(0, k)), selectRecords(ds, perm.subarray(k))];
}

function imageShape(model: DifferentiableImageModel): [number, number, number] {
  const s = model.inputShape;
  const [h = 0, w = 0, c = 1] = s;
  if (s.length === 3 || s.length === 2) return [h, w, c];
  throw new AntidoteError(
    'SHAPE_MISMATCH',
    `model-level inspection needs an image model, this one takes [${s.join(', ')}]`,
  );
}

/**
 * `antidote inspect --model M --method neural-cleanse|strip|fine-prune --data CLEAN --out DIR`:
 * model-level backdoor findings. Neural Cleanse reverse-engineers a trigger per class and flags
 * anomalous ones (reversed triggers written as PNG); STRIP fits an entropy threshold on clean
 * inputs and screens `--inputs`; fine-prune prunes dormant neurons, fine-tunes, and can save the
 * repaired model.
 */
export function registerInspectCommand(program: Command): void {
  const cmd = program
    .command('inspect')
    .description('inspect a trained model for a backdoor (Neural Cleanse, STRIP, fine-pruning)')
    .requiredOption(
      '--model <model>',
      'model directory, or a .onnx file (strip; neural-cleanse and fine-prune where its ops import: docs/onnx.md)',
    )
    .addOption(
      new Option('--method <name>', 'inspection method')
        .choices([...INSPECT_METHODS])
        .default('neural-cleanse'),
    )
    .requiredOption('--data <data>', 'clean held-out data (directory or built-in, e.g. mnist:test)')
    .option('--inputs <data>', 'strip: inputs to screen (e.g. a triggered test set)')
    .option('--limit <n>', 'use only the first n records of --data', parseInteger)
    .option('--seed <n>', 'seed of every random choice', parseInteger, 1)
    .option('--epochs <n>', 'neural-cleanse: optimisation epochs per class', parseInteger, 10)
    .option('--steps <n>', 'neural-cleanse: mini-batches per epoch', parseInteger, 20)
    .option('--init-cost <c>', 'neural-cleanse: initial mask-norm cost λ', parseNumber, 1e-3)
    .addOption(
      new Option(
        '--anomaly-scale <scale>',
        'neural-cleanse: anomaly index on log mask norms or on the raw norms (the paper)',
      )
        .choices(['log', 'linear'])
        .default('log'),
    )
    .option('--overlays <n>', 'strip: clean images superimposed per input', parseInteger, 20)
    .option('--frr <share>', 'strip: false rejection rate of the threshold', parseNumber, 0.01)
    .option(
      '--max-drop <share>',
      'fine-prune: tolerated validation accuracy drop',
      parseNumber,
      0.04,
    )
    .option('--fine-tune-epochs <n>', 'fine-prune: fine-tuning epochs', parseInteger, 2)
    .option(
      '--save-model <dir>',
      'fine-prune: write the pruned, fine-tuned model here (a .onnx file for an ONNX model)',
    )
    .requiredOption('--out <dir>', 'report directory to write')
    .option('--force', 'replace existing output directories')
    .option('--json', 'print the findings as JSON')
    .option('--quiet', 'no progress bars');
  addBatchNormFlag(cmd, 'fine-prune');
  addDataOptions(addOnnxFlags(cmd)).action(async (o: InspectCliOptions) => {
    const { dataset } = await loadDataArg(o.data, {
      ...o,
      ...(o.limit !== undefined ? { limit: o.limit } : {}),
    });
    const loadedModel = await loadModel(o.model, onnxLoadOptions(o));
    try {
      // Superimposition needs pixels and predictions only (an ONNX model too); trigger
      // reverse-engineering needs gradients, pruning a zoo image model's weights.
      if (o.method === 'strip' && loadedModel.capabilities.pixels) {
        await inspectStrip(loadedModel, dataset, o);
        return;
      }
      if (o.method === 'neural-cleanse') {
        // Any differentiable image model: the zoo's, or an ONNX graph imported into the engine.
        const model = await requireDifferentiable(loadedModel, 'inspect --method neural-cleanse');
        await inspectNeuralCleanse(model, dataset, o);
        return;
      }
      if (o.method === 'fine-prune' && 'importGraph' in loadedModel) {
        // The imported graph (where its ops import), pruned and fine-tuned, written as ONNX
        // (onnxruntime-node loads only for ONNX models).
        const onnx = loadedModel as OnnxModel;
        const { batchNorm } = batchNormOption(o, onnx.kind);
        const tuned = (await onnx.importGraph()).clone();
        if (batchNorm) tuned.batchNorm = batchNorm;
        const { saveRepairedOnnx } = await import('../../engine/onnx/onnx-fine-tune.js');
        try {
          await inspectFinePrune(tuned, onnx.featurize(dataset), o, (out) =>
            saveRepairedOnnx(tuned, onnx.path, out, { overwrite: o.force ?? false }),
          );
        } finally {
          tuned.dispose();
        }
        return;
      }
      if (o.method === 'fine-prune') batchNormOption(o, loadedModel.kind);
      requireInternals(loadedModel, o.method);
      const model = requireImageModel(loadedModel, `inspect --method ${o.method}`);
      if (o.method === 'strip') await inspectStrip(loadedModel, dataset, o);
      else
        await inspectFinePrune(model, dataset, o, (out) =>
          model.save(out, { overwrite: o.force ?? false }),
        );
    } finally {
      loadedModel.dispose();
    }
  });
}

async function inspectNeuralCleanse(
  model: DifferentiableImageModel,
  ds: Dataset,
  o: InspectCliOptions,
): Promise<void> {
  const [h, w, c] = imageShape(model);
  const bar = createProgressBar('neural cleanse', model.numClasses, progressEnabled(o));
  let report: Awaited<ReturnType<typeof neuralCleanse>>;
  try {
    report = await neuralCleanse(
      model,
      { x: ds.x, n: numRecords(ds) },
      {
        seed: o.seed,
        epochs: o.epochs,
        stepsPerEpoch: o.steps,
        initCost: o.initCost,
        anomalyScale: o.anomalyScale,
        onProgress: (p) => bar.update(Number(p.stage.split(' ')[1]), p.stage),
      },
    );
  } finally {
    bar.stop();
  }
  const stamped = (t: (typeof report.triggers)[number]) =>
    Float32Array.from(t.pattern, (v, i) => v * t.mask[Math.floor(i / c)]!);
  const grid = renderImageGrid(
    [
      report.triggers.map((t) => ({ data: t.mask, shape: [h, w] })),
      report.triggers.map((t) => ({ data: stamped(t), shape: [h, w, c] })),
    ],
    { scale: 4 },
  );
  const suspect =
    report.suspectedTarget === null
      ? undefined
      : report.triggers.find((t) => t.classIndex === report.suspectedTarget);
  const classes = model.classes;
  const document = {
    format: 'antidote-inspect',
    version: 1,
    method: 'neural-cleanse',
    model: o.model,
    data: o.data,
    classes: report.triggers.map((t, i) => ({
      classIndex: t.classIndex,
      className: classes[t.classIndex],
      maskL1: t.maskL1,
      anomalyIndex: report.anomalyIndex[i]!,
      linearAnomalyIndex: report.linearAnomalyIndex[i],
      attackSuccessRate: t.attackSuccessRate,
      reachedThreshold: t.reachedThreshold,
      seconds: t.seconds,
    })),
    anomalyScale: report.anomalyScale,
    median: report.median,
    mad: report.mad,
    flagged: report.flagged.map((k) => classes[k]),
    suspectedTarget: report.suspectedTarget === null ? null : classes[report.suspectedTarget],
    secondsPerClass: report.secondsPerClass,
    params: report.params,
    ...(suspect
      ? {
          suspectedTrigger: {
            mask: Array.from(suspect.mask),
            pattern: Array.from(suspect.pattern),
          },
        }
      : {}),
  };
  await writeDirAtomic(
    o.out,
    async (tmp) => {
      await writeFileAtomic(join(tmp, INSPECT_REPORT_FILE), `${JSON.stringify(document)}\n`);
      await writeFileAtomic(join(tmp, INSPECT_TRIGGERS_FILE), grid);
      if (suspect) {
        await writeFileAtomic(
          join(tmp, INSPECT_SUSPECT_FILE),
          renderImageGrid([[{ data: stamped(suspect), shape: [h, w, c] }]], { scale: 8 }),
        );
      }
    },
    { overwrite: o.force ?? false },
  );
  const { suspectedTrigger: _omit, ...summary } = document;
  printResult(
    o,
    () =>
      [
        report.suspectedTarget === null
          ? 'neural cleanse: no class flagged (no backdoor found)'
          : `neural cleanse: suspected backdoor target class ${classes[report.suspectedTarget]} (flagged: ${document.flagged.join(', ')})`,
        ...document.classes.map(
          (k) =>
            `  class ${k.className}: mask L1 ${k.maskL1.toFixed(1)}, anomaly index ${k.anomalyIndex.toFixed(2)}${report.flagged.includes(k.classIndex) ? '  ← flagged' : ''}`,
        ),
        `  ${report.secondsPerClass.toFixed(1)} s per class; report written to ${o.out}`,
      ].join('\n'),
    { ...summary, out: o.out },
  );
}

/**
 * `INVALID_ARGUMENT` naming what fine-pruning needs and an image model lacks: a zoo model's dense
 * layers to prune (an ONNX model has none Antidote prunes; `mitigate --retrain` fine-tunes it).
 * Other models pass (text and tabular models are refused by `requireImageModel`, as before).
 */
function requireInternals(model: Model, method: InspectMethod): void {
  if (!model.capabilities.pixels || method !== 'fine-prune' || model instanceof TfImageModel) {
    return;
  }
  throw new AntidoteError(
    'INVALID_ARGUMENT',
    `inspect --method fine-prune prunes the dense layers of a model Antidote trained or an imported ONNX graph; ${model.path || 'this model'} is an ${model.kind} model; --method strip and neural-cleanse read any image model`,
    { path: model.path, method },
  );
}

/** STRIP on any image model: superimposition in the model's representation, predictions only. */
async function inspectStrip(loaded: Model, raw: Dataset, o: InspectCliOptions): Promise<void> {
  if (numRecords(raw) < 4) {
    throw new AntidoteError('INVALID_ARGUMENT', 'strip needs at least 4 clean records in --data');
  }
  const model = loaded.classifier;
  const ds = loaded.featurize(raw);
  const [pool, calib] = split(ds, 0.5, o.seed);
  const fit = await fitStrip(
    model,
    { x: calib.x, n: numRecords(calib) },
    { x: pool.x, n: numRecords(pool) },
    { seed: o.seed, overlays: o.overlays, frr: o.frr },
  );
  let inputs: { ids: string[]; entropy: number[]; rejected: number[] } | undefined;
  if (o.inputs) {
    const { dataset: inp } = await loadDataArg(o.inputs, o);
    const d = await stripDetect(model, loaded.featurize(inp).x, numRecords(inp), fit);
    inputs = {
      ids: [...inp.ids],
      entropy: Array.from(d.entropy),
      rejected: Array.from(d.rejected),
    };
  }
  const rejected = inputs ? inputs.rejected.reduce((a, b) => a + b, 0) : 0;
  const document = {
    format: 'antidote-inspect',
    version: 1,
    method: 'strip',
    model: o.model,
    data: o.data,
    threshold: fit.threshold,
    frr: fit.frr,
    overlays: fit.options.overlays,
    poolRecords: numRecords(pool),
    calibrationRecords: numRecords(calib),
    cleanEntropy: Array.from(fit.cleanEntropy),
    ...(inputs
      ? {
          inputs: {
            source: o.inputs,
            rejectedCount: rejected,
            total: inputs.ids.length,
            ...inputs,
          },
        }
      : {}),
  };
  await writeDirAtomic(
    o.out,
    (tmp) => writeFileAtomic(join(tmp, INSPECT_REPORT_FILE), `${JSON.stringify(document)}\n`),
    { overwrite: o.force ?? false },
  );
  printResult(
    o,
    () =>
      [
        `strip: entropy threshold ${fit.threshold.toFixed(4)} bits at FRR ${pct(fit.frr)} (${numRecords(calib)} clean inputs, ${fit.options.overlays} overlays)`,
        ...(inputs
          ? [
              `  ${o.inputs}: rejected ${rejected} of ${inputs.ids.length} (${pct(rejected / Math.max(inputs.ids.length, 1))}) as likely triggered`,
            ]
          : []),
        `  report written to ${o.out}`,
      ].join('\n'),
    {
      method: 'strip',
      threshold: fit.threshold,
      frr: fit.frr,
      out: o.out,
      ...(inputs ? { rejected, total: inputs.ids.length } : {}),
    },
  );
}

async function inspectFinePrune(
  model: PrunableClassifier,
  ds: Dataset,
  o: InspectCliOptions,
  save: (out: string) => Promise<void>,
): Promise<void> {
  if (numRecords(ds) < 10) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'fine-prune needs at least 10 clean records in --data',
    );
  }
  const [tune, validation] = split(ds, 0.8, o.seed);
  const bar = createProgressBar('fine-prune', 1, progressEnabled(o));
  let r: Awaited<ReturnType<typeof finePrune>>;
  try {
    r = await finePrune(model, tune, validation, {
      seed: o.seed,
      maxAccuracyDrop: o.maxDrop,
      fineTuneEpochs: o.fineTuneEpochs,
      onProgress: (p) => bar.update(p.done, p.stage, p.total),
    });
  } finally {
    bar.stop();
  }
  const document = {
    format: 'antidote-inspect',
    version: 1,
    method: 'fine-prune',
    model: o.model,
    data: o.data,
    ...r,
    ...(o.saveModel ? { savedModel: o.saveModel } : {}),
  };
  await writeDirAtomic(
    o.out,
    (tmp) => writeFileAtomic(join(tmp, INSPECT_REPORT_FILE), `${JSON.stringify(document)}\n`),
    { overwrite: o.force ?? false },
  );
  if (o.saveModel) await save(o.saveModel);
  const { meanActivation: _m, ...summary } = document;
  printResult(
    o,
    () =>
      [
        `fine-prune: pruned ${r.pruned.length} units of "${r.layer}" (${pct(r.fraction)}); validation accuracy ${pct(r.accuracyBefore)} → ${pct(r.accuracyAfterPruning)} pruned → ${pct(r.accuracyAfter)} fine-tuned`,
        ...(o.saveModel ? [`  wrote the repaired model to ${o.saveModel}`] : []),
        `  report written to ${o.out}`,
      ].join('\n'),
    { ...summary, out: o.out },
  );
}
