import { ddl, forbidChanges } from './sql-database.js';
import type { Migration } from './sql-store.js';

/**
 * The model registry's tables (migration versions 100–199), added to the catalogue database by
 * {@link ModelRegistry.open}, on SQLite and PostgreSQL alike. Registered versions, transitions,
 * gate results and alerts are append-only (triggers refuse UPDATE and DELETE); only
 * `model_stages`, the current stage of each version, changes, and a partial unique index keeps
 * exactly one production version per model name.
 */
export const REGISTRY_MIGRATIONS: readonly Migration[] = [
  {
    version: 100,
    name: 'registry: model versions, stages, transitions, gate results, alerts, monitor snapshots',
    up(db) {
      const create = (sql: string) => db.exec(ddl(db.dialect, sql));
      create(`
        CREATE TABLE model_versions (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          seq INTEGER NOT NULL,
          dir TEXT NOT NULL,
          manifest_digest TEXT NOT NULL,
          root_digest TEXT NOT NULL,
          info TEXT NOT NULL,
          registered_by TEXT NOT NULL,
          registered_at TEXT NOT NULL,
          UNIQUE (name, seq)
        );`);
      forbidChanges(
        db,
        'model_versions',
        'model_versions',
        'registered model versions are immutable',
      );
      create(`
        CREATE TABLE model_stages (
          version_id TEXT PRIMARY KEY REFERENCES model_versions (id),
          name TEXT NOT NULL,
          stage TEXT NOT NULL CHECK (stage IN ('candidate', 'staging', 'production', 'archived')),
          updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX model_stages_one_production ON model_stages (name)
          WHERE stage = 'production';
        CREATE TABLE stage_transitions (
          id INTEGER PRIMARY KEY,
          version_id TEXT NOT NULL REFERENCES model_versions (id),
          name TEXT NOT NULL,
          from_stage TEXT,
          to_stage TEXT NOT NULL,
          kind TEXT NOT NULL,
          actor TEXT NOT NULL,
          reason TEXT,
          at TEXT NOT NULL
        );`);
      forbidChanges(
        db,
        'stage_transitions',
        'stage_transitions',
        'stage transitions are append-only',
      );
      create(`
        CREATE TABLE gate_results (
          id INTEGER PRIMARY KEY,
          version_id TEXT NOT NULL REFERENCES model_versions (id),
          passed INTEGER NOT NULL,
          policy_digest TEXT NOT NULL,
          root_digest TEXT NOT NULL,
          result TEXT NOT NULL,
          at TEXT NOT NULL
        );`);
      forbidChanges(db, 'gate_results', 'gate_results', 'gate results are append-only');
      create(`
        CREATE TABLE alerts (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          version_id TEXT,
          monitor TEXT NOT NULL,
          severity TEXT NOT NULL,
          message TEXT NOT NULL,
          value REAL,
          threshold REAL,
          details TEXT NOT NULL,
          at TEXT NOT NULL
        );`);
      forbidChanges(db, 'alerts', 'alerts', 'alerts are append-only');
      create(`
        CREATE TABLE monitor_snapshots (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          version_id TEXT,
          at TEXT NOT NULL,
          metrics TEXT NOT NULL
        );`);
    },
  },
  {
    version: 101,
    name: 'registry: lookup indexes (versions by name and content, transitions by name)',
    up(db) {
      db.exec(`
        CREATE INDEX IF NOT EXISTS model_versions_root ON model_versions (name, root_digest);
        CREATE INDEX IF NOT EXISTS stage_transitions_name ON stage_transitions (name, id);
        CREATE INDEX IF NOT EXISTS gate_results_version ON gate_results (version_id, id);
        CREATE INDEX IF NOT EXISTS model_stages_name ON model_stages (name, stage);`);
    },
  },
];
