/**
 * The names of the zoo's architectures, apart from `zoo.ts` so that a saved model's metadata is
 * checked (`./tf-classifier-metadata.ts`) without loading TensorFlow.js (issue 22).
 */

/** The model architectures of the zoo. */
export type ArchName = 'logistic' | 'mlp' | 'cnn';

/** Every architecture name, for CLI choices and validation. */
export const ARCH_NAMES: readonly ArchName[] = ['logistic', 'mlp', 'cnn'];
