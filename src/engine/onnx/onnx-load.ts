/**
 * The ONNX entry of `loadModel` (issue 17): reads the file's graph and returns the adapter that
 * fits its input, an image/feature model (`OnnxModel`, float input) or a text model
 * (`OnnxTextModel`, int64 token ids). Imported lazily: it loads ONNX Runtime.
 */
import { readBytes } from '../../util/fs.js';
import type { Model } from '../model-interface.js';
import { OnnxModel } from './onnx-model.js';
import type { OnnxLoadOptions } from './onnx-preprocess.js';
import { decodeOnnx } from './onnx-proto.js';
import { OnnxTextModel, readsTokenIds } from './onnx-text-model.js';

/**
 * Loads the `.onnx` file at `path` as the {@link Model} its input calls for, with `options`
 * (layout and normalisation overrides). Errors: those of `OnnxModel.load` and
 * `OnnxTextModel.load`.
 */
export async function loadOnnxModel(path: string, options?: OnnxLoadOptions): Promise<Model> {
  const graph = decodeOnnx(await readBytes(path), path);
  return readsTokenIds(graph) ? OnnxTextModel.load(path, options) : OnnxModel.load(path, options);
}
