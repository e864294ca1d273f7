import type { Dataset } from '../data/dataset.js';
import type { DataDomain } from '../data/load.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { activationClusteringEntry } from './activation-clustering.js';
import { arbitraryLabelEntry } from './arbitrary-labels.js';
import { confusionTrainingEntry } from './confusion-training.js';
import type { DetectionReport } from './detector.js';
import {
  type DetectorContext,
  type DetectorEntry,
  parseDetectorOptions,
} from './detector-entry.js';
import { featureTriggerEntry } from './feature-trigger-discovery.js';
import { keywordDiscoveryEntry } from './keyword-discovery.js';
import { knnConsistencyEntry } from './knn-consistency.js';
import { confidentLearningEntry } from './label-noise.js';
import { scanUntanglingEntry } from './scan-untangling.js';
import { spectralSignaturesEntry } from './spectral-signatures.js';
import { spectreEntry } from './spectre.js';
import { trainingDynamicsEntry } from './training-dynamics.js';
import { triggerReversalEntry } from './trigger-reversal.js';
import { triggerTransferEntry } from './trigger-transfer.js';

/**
 * The detector registry, frozen, in a stable order: `ac` activation clustering, `ss` spectral
 * signatures, `spectre` robust spectral scores (backdoors); `cl` confident learning, `knn` k-NN
 * label consistency (label noise); `kw` keyword discovery (text models); `sca` SCAn statistical
 * contamination analysis (backdoors, Tang et al. 2021); `abl` training dynamics (backdoors,
 * retrains: not a default); `ln` the arbitrary-label test (label flips from the model's in-sample
 * probabilities, a default); `ct` confusion training (backdoors incl. clean-label and adaptive ones,
 * Qi et al. 2023; retrains: not a default); `ft` feature-value trigger discovery (tabular models,
 * a default there); `tt` low-variance cluster trigger transfer (backdoors whose cluster sits where
 * the class varies little, issue 16; a default for images); `nc` trigger reversal (a fast Neural
 * Cleanse, Wang et al. 2019, with record attribution by occlusion: clean-label and adaptive
 * backdoors, issue 16; images, not a default). `antidote scan` derives
 * its `--method` choices and its detector flags from it, and {@link scanDataset} runs its entries.
 * Adding a detector is one file exporting a {@link DetectorEntry} plus one line here
 * (`CONTRIBUTING.md`).
 */
export const DETECTORS: readonly DetectorEntry[] = Object.freeze([
  activationClusteringEntry,
  spectralSignaturesEntry,
  spectreEntry,
  confidentLearningEntry,
  knnConsistencyEntry,
  keywordDiscoveryEntry,
  scanUntanglingEntry,
  trainingDynamicsEntry,
  arbitraryLabelEntry,
  confusionTrainingEntry,
  featureTriggerEntry,
  triggerTransferEntry,
  triggerReversalEntry,
] as DetectorEntry[]);

/** Short name of a detector. */
export type DetectorName =
  | 'ac'
  | 'ss'
  | 'spectre'
  | 'cl'
  | 'knn'
  | 'kw'
  | 'sca'
  | 'abl'
  | 'ln'
  | 'ct'
  | 'ft'
  | 'tt'
  | 'nc';

/** Every detector name, in registry order. */
export const DETECTOR_NAMES: readonly DetectorName[] = Object.freeze(
  DETECTORS.map((d) => d.name as DetectorName),
);

/** The registry entry called `name`; `INVALID_ARGUMENT` for an unknown name. */
export function detectorEntry(name: string): DetectorEntry {
  const entry = DETECTORS.find((d) => d.name === name);
  if (!entry) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unknown detector "${name}"; choose one of ${DETECTOR_NAMES.join(', ')}`,
      { field: 'method' },
    );
  }
  return entry;
}

/** The detectors that apply to data of `domain`, in registry order. */
export function detectorsFor(domain: DataDomain): readonly DetectorEntry[] {
  return DETECTORS.filter((d) => d.domains.includes(domain));
}

/**
 * The detector called `name`, as a function taking common options (`seed`, `layer`,
 * `onProgress`) plus the entry's own options; throws `INVALID_ARGUMENT` for an unknown name.
 */
export function detectorByName(name: string): {
  readonly name: string;
  detect(
    ds: Dataset,
    model: Classifier,
    options?: Record<string, unknown>,
  ): Promise<DetectionReport>;
} {
  const entry = detectorEntry(name);
  return {
    name: entry.name,
    detect: (ds, model, options = {}) => {
      const { seed, layer, onProgress, ...own } = options;
      const context: DetectorContext = {
        seed: typeof seed === 'number' ? seed : 0,
        ...(typeof layer === 'string' ? { layer } : {}),
        ...(typeof onProgress === 'function'
          ? { onProgress: onProgress as DetectorContext['onProgress'] & object }
          : {}),
      };
      return entry.run(ds, model, parseDetectorOptions(entry, own), context);
    },
  };
}
