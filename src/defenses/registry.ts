import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { activationClusteringDetector } from './activation-clustering.js';
import type { DetectionReport } from './detector.js';
import { knnConsistencyDetector } from './knn-consistency.js';
import { confidentLearningDetector } from './label-noise.js';
import { spectralSignaturesDetector } from './spectral-signatures.js';
import { spectreDetector } from './spectre.js';

/**
 * The detectors by their short CLI names, frozen: `ac` activation clustering, `ss` spectral
 * signatures, `spectre` robust spectral scores, `cl` confident learning, `knn` k-NN label
 * consistency. CLI choices and docs derive from {@link DETECTOR_NAMES}.
 */
const DETECTORS = Object.freeze({
  ac: activationClusteringDetector,
  ss: spectralSignaturesDetector,
  spectre: spectreDetector,
  cl: confidentLearningDetector,
  knn: knnConsistencyDetector,
});

/** Short name of a detector. */
export type DetectorName = keyof typeof DETECTORS;

/** Every detector name, in a stable order. */
export const DETECTOR_NAMES: readonly DetectorName[] = Object.freeze(
  Object.keys(DETECTORS) as DetectorName[],
);

/**
 * The detector called `name`, as a function taking common options (seed, layer, progress); throws
 * `INVALID_ARGUMENT` for an unknown name.
 */
export function detectorByName(name: string): {
  readonly name: string;
  detect(
    ds: Dataset,
    model: Classifier,
    options?: Record<string, unknown>,
  ): Promise<DetectionReport>;
} {
  if (!Object.hasOwn(DETECTORS, name)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unknown detector "${name}"; choose one of ${DETECTOR_NAMES.join(', ')}`,
    );
  }
  const d = DETECTORS[name as DetectorName];
  return {
    name: d.name,
    detect: (ds, model, options = {}) =>
      (d.detect as (a: Dataset, b: Classifier, c: object) => Promise<DetectionReport>)(
        ds,
        model,
        options,
      ),
  };
}
