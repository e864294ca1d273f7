import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadModel, requireImageModel } from '../../engine/model.js';
import { exportLayersModel } from '../../engine/onnx/onnx-export.js';
import { AntidoteError } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { Rng } from '../../util/rng.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, printResult } from '../output.js';

interface ExportCliOptions extends OutputOptions {
  model: string;
  out: string;
  softmax?: boolean;
  force?: boolean;
  seed: number;
}

/** Records the written file is checked on against the engine. */
const CHECK_RECORDS = 16;

/**
 * `antidote export`: writes a model trained (or mitigated) in Antidote as an ONNX file, with its
 * class names in the sidecar `FILE.json` (`engine/onnx/onnx-sidecar.ts`), so that it can be
 * deployed elsewhere and read back by every command (`--model FILE.onnx`). The written file is
 * run in ONNX Runtime on a few seeded random records and compared with the engine (TF.js).
 */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write a model trained in Antidote as an ONNX file (deploy it anywhere)')
    .requiredOption('--model <dir>', 'model directory (from antidote train or mitigate)')
    .requiredOption('--out <file>', 'the .onnx file to write (its class names go to FILE.json)')
    .option('--softmax', 'end the graph with a softmax (probabilities) instead of the logits')
    .option(
      '--seed <n>',
      'seed of the random records the written file is checked on',
      parseInteger,
      1,
    )
    .option('--force', 'replace an existing file')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress output')
    .action((o: ExportCliOptions) => runExport(o));
}

async function runExport(o: ExportCliOptions): Promise<void> {
  if (!o.out.toLowerCase().endsWith('.onnx')) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--out names the .onnx file to write, got ${o.out}`,
    );
  }
  const sidecar = `${o.out}.json`;
  for (const f of [o.out, sidecar]) {
    if (existsSync(f) && !o.force) {
      throw new AntidoteError(
        'ALREADY_EXISTS',
        `${f} already exists (pass --force to replace it)`,
        {
          path: f,
        },
      );
    }
  }
  const model = await loadModel(o.model);
  try {
    const tf = requireImageModel(model, 'antidote export');
    const graph = exportLayersModel(tf.model, {
      ...(o.softmax ? { softmax: true } : {}),
      producerVersion: (await import('../../version.js')).version,
    });
    const check = await compareWithEngine(
      graph.bytes,
      graph.output,
      tf,
      o.seed,
      o.softmax ?? false,
    );
    await writeFileAtomic(o.out, graph.bytes);
    await writeFileAtomic(sidecar, `${JSON.stringify({ classes: tf.classes }, null, 2)}\n`);
    const result = {
      file: o.out,
      sidecar,
      bytes: graph.bytes.length,
      input: { name: 'input', shape: ['N', ...tf.inputShape] },
      output: { name: graph.output, shape: ['N', ...graph.outputShape] },
      classes: tf.classes,
      checked: { records: CHECK_RECORDS, maxDifference: check },
    };
    printResult(
      o,
      () =>
        [
          `wrote ${o.out} (${graph.bytes.length} bytes, ONNX opset 13) and ${sidecar} (class names)`,
          `input ${result.input.name} [${result.input.shape.join(', ')}] (HWC records, as Antidote reads them), output ${graph.output} [${result.output.shape.join(', ')}]`,
          `checked in ONNX Runtime on ${CHECK_RECORDS} random records: largest difference from the engine ${check.toExponential(2)}`,
        ].join('\n'),
      result,
    );
  } finally {
    model.dispose();
  }
}

/**
 * Runs the written graph in ONNX Runtime and the model in TF.js on seeded random records; the
 * largest absolute difference of their outputs. `ENGINE_ERROR` above 1e-4 (nothing is written).
 */
async function compareWithEngine(
  bytes: Uint8Array,
  output: string,
  tf: ReturnType<typeof requireImageModel>,
  seed: number,
  softmax: boolean,
): Promise<number> {
  const { InferenceSession, Tensor } = await import('onnxruntime-node');
  const size = tf.inputShape.reduce((a, b) => a * b, 1);
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: CHECK_RECORDS * size }, () => rng.next());
  const session = await InferenceSession.create(bytes);
  try {
    const got = await session.run({
      input: new Tensor('float32', x, [CHECK_RECORDS, ...tf.inputShape]),
    });
    const onnx = got[output]!.data as Float32Array;
    tf.useInference('tfjs');
    const want = softmax
      ? await tf.predictProba(x, CHECK_RECORDS)
      : (await tf.activations(x, CHECK_RECORDS, tf.layerNames[tf.layerNames.length - 1])).data;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(onnx[i]! - want[i]!));
    if (!(worst <= 1e-4)) {
      throw new AntidoteError(
        'ENGINE_ERROR',
        `the exported graph differs from the model by ${worst} on random records; nothing written`,
      );
    }
    return worst;
  } finally {
    await session.release();
  }
}
