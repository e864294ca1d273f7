/**
 * `antidote mitigate --retrain MODEL.onnx`: the ONNX model fine-tuned on the cleaned records (its
 * imported weights the starting point, `OnnxModel.trainLike`), written back as an ONNX file with
 * the model's sidecar beside it.
 */
import type { Dataset } from '../../data/dataset.js';
import { AntidoteError } from '../../errors.js';
import { readText } from '../../util/fs.js';
import type { TrainLikeOptions } from '../model-interface.js';
import { isOnnxPath } from '../model-summary.js';
import { OnnxModel } from './onnx-model.js';
import type { OnnxLoadOptions } from './onnx-preprocess.js';
import { readSidecar } from './onnx-sidecar.js';
import type { OnnxTfClassifier } from './onnx-tf-classifier.js';

/** A fine-tuned ONNX model, to be written as a `.onnx` file (and its sidecar). */
export interface FineTunedOnnx {
  /**
   * Writes `path` (a `.onnx` file) and, when the model had a sidecar, `path.json` with the same
   * text. `INVALID_ARGUMENT` for a path that is not a `.onnx` file; `ALREADY_EXISTS` unless
   * `overwrite`.
   */
  save(path: string, options: { overwrite?: boolean }): Promise<void>;
  dispose(): void;
}

/**
 * Fine-tunes the ONNX model at `path` on the raw records `ds` (featurized as the model reads
 * them, with the layout and normalisation of `load` where given) with `options`. `INVALID_STATE` when its graph does not import into the engine.
 */
export async function fineTuneOnnx(
  path: string,
  ds: Dataset,
  options: TrainLikeOptions,
  load?: OnnxLoadOptions,
): Promise<FineTunedOnnx> {
  const model = await OnnxModel.load(path, load);
  let sidecar: string | undefined;
  const tuned = await (async () => {
    try {
      const found = (await readSidecar(path)).path;
      if (found) sidecar = await readText(found);
      return await model.trainLike(model.featurize(ds), options);
    } finally {
      model.dispose();
    }
  })();
  return {
    save: (out, o) =>
      writeOnnx(tuned, out, { ...o, ...(sidecar !== undefined ? { sidecar } : {}) }),
    dispose: () => tuned.dispose(),
  };
}

/**
 * Writes `tuned` (an imported graph with new weights) as the `.onnx` file `out`, with the sidecar
 * text `sidecar` beside it when given. `INVALID_ARGUMENT` for a path that is not a `.onnx` file;
 * `ALREADY_EXISTS` unless `overwrite`.
 */
async function writeOnnx(
  tuned: OnnxTfClassifier,
  out: string,
  o: { overwrite?: boolean; sidecar?: string },
): Promise<void> {
  if (!isOnnxPath(out)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `an ONNX model is written as a .onnx file; ${out} is not one`,
      { path: out },
    );
  }
  await tuned.saveOnnx(out, o);
}

/**
 * Writes `tuned`, a repaired copy of the imported graph of the ONNX model at `modelPath` (e.g.
 * fine-pruned), as the `.onnx` file `out` with a copy of the model's sidecar, if it has one.
 * `INVALID_ARGUMENT` for a path that is not a `.onnx` file; `ALREADY_EXISTS` unless `overwrite`.
 */
export async function saveRepairedOnnx(
  tuned: OnnxTfClassifier,
  modelPath: string,
  out: string,
  options: { overwrite?: boolean },
): Promise<void> {
  const found = (await readSidecar(modelPath)).path;
  const sidecar = found ? await readText(found) : undefined;
  await writeOnnx(tuned, out, { ...options, ...(sidecar !== undefined ? { sidecar } : {}) });
}
