import * as tfl from '@tensorflow/tfjs-layers';
import { AntidoteError } from '../errors.js';
import { ARCH_NAMES, type ArchName } from './arch-names.js';

export { ARCH_NAMES, type ArchName };

/** An architecture with its options. */
export interface ModelSpec {
  readonly arch: ArchName;
  /** Hidden layer sizes: mlp default `[256]`; cnn the width of its dense layer (default `[128]`). */
  readonly hidden?: readonly number[];
  /** cnn only: filters of its two convolution blocks (default `[16, 32]`). */
  readonly filters?: readonly [number, number];
}

/** Name of the logits layer every zoo model ends with (softmax is applied outside the model). */
export const LOGITS_LAYER = 'logits';

/** Normalises an architecture name or spec to a full {@link ModelSpec}, validating it. */
export function resolveModelSpec(model: ArchName | ModelSpec): ModelSpec {
  const spec: ModelSpec = typeof model === 'string' ? { arch: model } : model;
  if (!ARCH_NAMES.includes(spec.arch)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unknown model architecture "${spec.arch}" (expected ${ARCH_NAMES.join(', ')})`,
    );
  }
  for (const h of [...(spec.hidden ?? []), ...(spec.filters ?? [])]) {
    if (!Number.isInteger(h) || h < 1 || h > 65536) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `layer sizes must be integers in [1, 65536], got ${h}`,
      );
    }
  }
  switch (spec.arch) {
    case 'logistic':
      return { arch: 'logistic' };
    case 'mlp':
      return { arch: 'mlp', hidden: spec.hidden ?? [256] };
    case 'cnn':
      return { arch: 'cnn', hidden: spec.hidden ?? [128], filters: spec.filters ?? [16, 32] };
  }
}

/**
 * Builds an untrained model of the zoo with seeded Glorot-uniform initialisation (same seed → the
 * same weights, bit for bit) and named layers, so activations can be asked for by name. Every model
 * outputs logits from its last layer ({@link LOGITS_LAYER}); the layer before it is the
 * representation the detectors read by default ("features" for mlp and cnn).
 *
 * - `logistic`: flatten → dense(K). Multinomial logistic regression.
 * - `mlp`: flatten → dense(h, relu) per hidden size (`hidden1`, `hidden2`, …; the last is `features`)
 *   → dense(K).
 * - `cnn`: two blocks of 3×3 conv (same padding, relu) + 2×2 max-pool (`conv1`, `pool1`, `conv2`,
 *   `pool2`), flatten, dense(128, relu) `features`, dense(K). Adapts to its input: 8×8 inputs skip
 *   the second pool (too small), 28×28×1 and 32×32×3 use both; any H, W ≥ 4 and channel count work.
 */
export function buildModel(
  spec: ModelSpec,
  inputShape: readonly number[],
  numClasses: number,
  seed: number,
): tfl.LayersModel {
  const full = resolveModelSpec(spec);
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `a classifier needs at least 2 classes, got ${numClasses}`,
    );
  }
  let seedCounter = seed >>> 0;
  const init = () => tfl.initializers.glorotUniform({ seed: seedCounter++ });
  const model = tfl.sequential({ name: full.arch });
  // The first layer of a model declares its input shape.
  const dense = (units: number, name: string, activation?: 'relu') =>
    tfl.layers.dense({
      units,
      name,
      activation: activation ?? 'linear',
      kernelInitializer: init(),
      biasInitializer: 'zeros',
      ...(model.layers.length === 0 ? { inputShape: [...inputShape] } : {}),
    });

  if (full.arch === 'cnn') {
    if (inputShape.length !== 3 || inputShape[0]! < 4 || inputShape[1]! < 4) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `cnn needs image inputs [H, W, C] with H, W ≥ 4, got [${inputShape.join(', ')}]`,
      );
    }
    const [f1, f2] = full.filters!;
    const conv = (filters: number, name: string, first: boolean) =>
      tfl.layers.conv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name,
        kernelInitializer: init(),
        biasInitializer: 'zeros',
        ...(first ? { inputShape: [...inputShape] } : {}),
      });
    model.add(conv(f1, 'conv1', true));
    model.add(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool1' }));
    model.add(conv(f2, 'conv2', false));
    if (Math.min(inputShape[0]!, inputShape[1]!) >= 16) {
      model.add(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool2' }));
    }
    model.add(tfl.layers.flatten({ name: 'flatten' }));
    model.add(dense(full.hidden![0]!, 'features', 'relu'));
  } else {
    // Flat records ([D]) go straight into the dense layers; anything else is flattened first.
    if (inputShape.length !== 1) {
      model.add(tfl.layers.flatten({ name: 'flatten', inputShape: [...inputShape] }));
    }
    if (full.arch === 'mlp') {
      const hidden = full.hidden!;
      hidden.forEach((h, i) => {
        model.add(dense(h, i === hidden.length - 1 ? 'features' : `hidden${i + 1}`, 'relu'));
      });
    }
  }
  model.add(dense(numClasses, LOGITS_LAYER));
  return model;
}
