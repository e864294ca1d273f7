import type { Dataset } from '../data/dataset.js';
import { isTfFeatureModel } from '../engine/feature-model-guard.js';
import type { Model } from '../engine/model.js';
import type { OnnxTextModel } from '../engine/onnx/onnx-text-model.js';
import type { TextScanContext } from './detector-entry.js';

/**
 * The raw-text side of a scan (keyword discovery, `kw`) where `model` reads and predicts texts:
 * the records as texts and the model's predictions on raw texts (a text model Antidote trained,
 * or an ONNX text model). Empty where the model is not a text model, so the scan's defaults (`defaultScanMethods`) add `kw` exactly for text models —
 * for `antidote scan` and `antidote audit` alike.
 */
export function textScanContext(
  model: Model,
  records: Pick<Dataset, 'text' | 'y' | 'classes'>,
): { text?: TextScanContext } {
  if (model.kind === 'onnx' && model.input.kind === 'text' && 'predictTexts' in model) {
    // An ONNX text model (loaded lazily elsewhere: only its type is imported here).
    const onnx = model as OnnxTextModel;
    return {
      text: {
        dataset: records,
        predict: (texts, output) => onnx.predictTexts(texts, output),
        tokenizer: onnx.tokenizer,
      },
    };
  }
  if (!isTfFeatureModel(model) || model.input.kind !== 'text') return {};
  const m = model.feature;
  return {
    text: {
      dataset: records,
      predict: (texts, output) =>
        output === 'logits' ? m.predictLogitsTexts(texts) : m.predictProbaTexts(texts),
      ...(m.tokenizer ? { tokenizer: m.tokenizer } : {}),
    },
  };
}
