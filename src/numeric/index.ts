/**
 * Numeric building blocks below every domain layer: covariance and PCA over typed arrays, dense
 * symmetric eigen-decomposition, order statistics, k-means and silhouette, FastICA, MCD-style
 * robust covariance, and the hook through which the engine lends them a fast matrix product.
 * Imports nothing but errors.ts.
 */
export {
  ACCELERATOR_MIN_WORK,
  acceleratorFor,
  type MatMulAccelerator,
  setMatMulAccelerator,
} from './accelerator.js';
export { chiSquareQuantile } from './chi-square.js';
export { centredRows, rowCovariance, rowMean } from './covariance.js';
export { type FastIcaOptions, type FastIcaResult, fastIca } from './fast-ica.js';
export {
  type KMeansOptions,
  type KMeansResult,
  kMeans,
  type Silhouette,
  silhouette,
} from './kmeans.js';
export { mad, median, quantile, selectKth } from './order-statistics.js';
export { orthonormalizeRows } from './orthonormalize.js';
export {
  DENSE_EIGEN_MAX_DIM,
  type PrincipalComponents,
  principalComponents,
  projectRows,
} from './pca.js';
export type { RandomSource } from './random.js';
export { inverseSqrt, type RobustEstimate, robustMeanCov } from './robust-covariance.js';
export { type EigenPairs, eigenSymmetric, symmetricEigen } from './symmetric-eigen.js';
