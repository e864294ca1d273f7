/**
 * The catalogue and the operational last line of defence: the catalogue store (SQLite, or a shared
 * PostgreSQL server), the model registry (versions, stages, gate results, alerts), the deployment
 * gate and its policy, the STRIP backdoor probe, live-traffic monitors and rollback, and the
 * signature policy every load and promotion is checked under.
 */

export * from './backdoor-probe.js';
export * from './deployment.js';
export * from './drift.js';
export * from './gate.js';
export * from './gate-policy.js';
export * from './migrations.js';
export * from './model-cache.js';
export * from './model-content.js';
export * from './model-registry.js';
export * from './monitor.js';
export * from './pg-database.js';
export * from './pg-object-gc.js';
export * from './pg-object-schema.js';
export * from './pg-object-store.js';
export * from './pg-roles.js';
export * from './signature-policy.js';
export * from './sql-database.js';
export * from './sql-sqlite.js';
export * from './sql-store.js';
export * from './sqlite-store.js';
export * from './store.js';
