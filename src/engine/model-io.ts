import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { readBytes, writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { parseWith } from '../util/schema.js';
import { MODEL_JSON, readModelJson, WEIGHTS_BIN } from './model-summary.js';

// Moved to model-summary.ts (no TF.js imports, for fast-starting commands); re-exported here.
export { MODEL_JSON, readModelJson, WEIGHTS_BIN };

const weightSpecSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.enum(['float32', 'int32', 'bool']),
});

const modelJsonSchema = z.object({
  format: z.literal('layers-model'),
  generatedBy: z.string().optional(),
  convertedBy: z.string().nullable().optional(),
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z
    .array(
      z.object({
        paths: z.array(z.literal(WEIGHTS_BIN)).length(1),
        weights: z.array(weightSpecSchema),
      }),
    )
    .length(1),
  antidote: z.record(z.string(), z.unknown()),
});

/** Options of {@link saveLayersModel}. */
export interface SaveLayersModelOptions {
  /** Replace an existing directory (default false: `ALREADY_EXISTS`). */
  readonly overwrite?: boolean;
  /**
   * Further files written into the same directory in the same atomic step (e.g. a fitted text
   * vectorizer), by plain file name. `model.json`, `weights.bin` and names with a path separator
   * are refused (`INVALID_ARGUMENT`).
   */
  readonly files?: Readonly<Record<string, string | Uint8Array>>;
}

/**
 * Saves `model` to `dir` as TF.js's layers format (`model.json` + one `weights.bin`), with
 * Antidote's metadata (architecture, class names, training record) under `antidote` in model.json,
 * plus any extra `files`. Written atomically: a reader never sees a half-written model. Refuses to
 * replace an existing directory unless `overwrite` is set.
 */
export async function saveLayersModel(
  model: tfl.LayersModel,
  dir: string,
  metadata: Record<string, unknown>,
  options: SaveLayersModelOptions = {},
): Promise<void> {
  const extra = Object.entries(options.files ?? {});
  for (const [name] of extra) {
    if (name === MODEL_JSON || name === WEIGHTS_BIN || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `cannot save an extra model file named ${JSON.stringify(name)}`,
        { path: dir },
      );
    }
  }
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save({
    save: async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
    },
  });
  if (!captured?.weightSpecs || captured.weightData === undefined) {
    throw new AntidoteError('ENGINE_ERROR', 'TF.js returned no weights when saving the model');
  }
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(captured.weightData));
  const json = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    convertedBy: null,
    modelTopology: captured.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: captured.weightSpecs }],
    antidote: metadata,
  };
  await writeDirAtomic(
    dir,
    async (tmp) => {
      await writeFileAtomic(join(tmp, WEIGHTS_BIN), weights);
      for (const [name, content] of extra) await writeFileAtomic(join(tmp, name), content);
      await writeFileAtomic(join(tmp, MODEL_JSON), `${JSON.stringify(json, null, 1)}\n`);
    },
    { overwrite: options.overwrite ?? false },
  );
}

const BYTES_PER_DTYPE = { float32: 4, int32: 4, bool: 1 } as const;

/**
 * Loads a model saved by {@link saveLayersModel}. Only TF.js layer classes are instantiated from
 * the JSON (no code runs from the file). A missing file, a malformed model.json or a weights file
 * whose size disagrees with the manifest gives an `AntidoteError` naming the file.
 */
export async function loadLayersModel(
  dir: string,
): Promise<{ model: tfl.LayersModel; metadata: Record<string, unknown> }> {
  const jsonPath = join(dir, MODEL_JSON);
  const weightsPath = join(dir, WEIGHTS_BIN);
  const raw = await readModelJson(dir);
  const parsed = parseWith(modelJsonSchema, raw, jsonPath, {
    head: `${jsonPath} is not an Antidote model`,
  });
  const manifest = parsed.weightsManifest[0]!;
  const expectedBytes = manifest.weights.reduce(
    (sum, w) => sum + w.shape.reduce((a, b) => a * b, 1) * BYTES_PER_DTYPE[w.dtype],
    0,
  );
  const weights = await readBytes(weightsPath, {
    message: (e) => `cannot read ${weightsPath}: ${e.message}`,
  });
  if (weights.byteLength !== expectedBytes) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${weightsPath} holds ${weights.byteLength} bytes, the manifest needs ${expectedBytes}`,
      { path: weightsPath },
    );
  }
  const weightData = weights.buffer.slice(
    weights.byteOffset,
    weights.byteOffset + weights.byteLength,
  );
  try {
    const model = await tfl.loadLayersModel({
      load: async () => ({
        modelTopology: parsed.modelTopology,
        weightSpecs: manifest.weights,
        weightData,
        format: 'layers-model',
      }),
    });
    return { model, metadata: parsed.antidote };
  } catch (e) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `cannot build the model in ${dir}: ${(e as Error).message}`,
      {
        path: jsonPath,
      },
    );
  }
}
