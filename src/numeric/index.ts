/**
 * Numeric building blocks below every domain layer: covariance and PCA over typed arrays, dense
 * symmetric eigen-decomposition, order statistics, k-means and silhouette, FastICA, MCD-style
 * robust covariance, and the hook through which the engine lends them a fast matrix product.
 * Imports nothing but errors.ts.
 */
export * from './accelerator.js';
export * from './anomaly-index.js';
export * from './chi-square.js';
export * from './cholesky.js';
export * from './covariance.js';
export * from './fast-ica.js';
export * from './hypergeometric.js';
export * from './kmeans.js';
export * from './multiple-testing.js';
export * from './order-statistics.js';
export * from './orthonormalize.js';
export * from './pca.js';
export type * from './random.js';
export * from './robust-covariance.js';
export * from './symmetric-eigen.js';
