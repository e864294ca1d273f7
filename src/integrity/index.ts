/**
 * Pipeline integrity: hashing, manifests and Merkle proofs, content-addressed versioning,
 * signing (OpenSSF model-signing v1.0: DSSE / in-toto / Sigstore bundles, keys, certificates), encryption at rest, lineage (SLSA provenance),
 * a hash-chained audit log and access policies. Knows nothing of the other areas: datasets
 * come in as generic {@link RecordInput}s.
 */

export * from './audit-log.js';
export * from './canonical-json.js';
export * from './dsse.js';
export * from './encryption.js';
export * from './hash.js';
export * from './keys.js';
export * from './lineage.js';
export * from './manifest.js';
export * from './merkle.js';
export * from './model-signing.js';
export * from './object-store.js';
export * from './oms-manifest.js';
export * from './policy.js';
export * from './record-hash.js';
export * from './sigstore-bundle.js';
export * from './sigstore-keyless.js';
export * from './url-download.js';
export * from './url-fetch.js';
export * from './url-host-summary.js';
export * from './url-list.js';
export * from './url-manifest.js';
export * from './url-policy.js';
export * from './url-snapshot.js';
export * from './versioning.js';
export * from './x509-chain.js';
