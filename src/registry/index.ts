/**
 * The catalogue and the operational last line of defence: the SQLite catalogue store, the model
 * registry (versions, stages, gate results, alerts), the deployment gate and its policy, the STRIP
 * backdoor probe, live-traffic monitors and rollback.
 */
export * from './migrations.js';
export * from './model-registry.js';
export * from './sqlite-store.js';
export * from './store.js';
