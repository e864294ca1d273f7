/**
 * Antidote: attack your own training pipeline with data poisoning, find the poison, and lock the
 * pipeline down. The root entry re-exports the core types; each area has its own entry point
 * (`antidote/data`, `antidote/engine`, ...).
 */

export type { Dataset } from './data/dataset.js';
export { Rng } from './data/rng.js';
export type { Classifier } from './engine/classifier.js';
export { AntidoteError, type AntidoteErrorCode, ERROR_CODES, isAntidoteError } from './errors.js';
