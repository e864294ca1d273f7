import type { Migration } from './sqlite-store.js';

/**
 * The model registry's tables (migration versions 100–199), added to the catalogue database by
 * {@link openRegistryStore}. Registered versions, transitions, gate results and alerts are
 * append-only (triggers refuse UPDATE and DELETE); only `model_stages`, the current stage of
 * each version, changes, and a partial unique index keeps exactly one production version per
 * model name.
 */
export const REGISTRY_MIGRATIONS: readonly Migration[] = [
  {
    version: 100,
    name: 'registry: model versions, stages, transitions, gate results, alerts, monitor snapshots',
    up(db) {
      db.exec(`
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
        );
        CREATE TRIGGER model_versions_no_update BEFORE UPDATE ON model_versions
          BEGIN SELECT RAISE(ABORT, 'registered model versions are immutable'); END;
        CREATE TRIGGER model_versions_no_delete BEFORE DELETE ON model_versions
          BEGIN SELECT RAISE(ABORT, 'registered model versions are immutable'); END;
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
        );
        CREATE TRIGGER stage_transitions_no_update BEFORE UPDATE ON stage_transitions
          BEGIN SELECT RAISE(ABORT, 'stage transitions are append-only'); END;
        CREATE TRIGGER stage_transitions_no_delete BEFORE DELETE ON stage_transitions
          BEGIN SELECT RAISE(ABORT, 'stage transitions are append-only'); END;
        CREATE TABLE gate_results (
          id INTEGER PRIMARY KEY,
          version_id TEXT NOT NULL REFERENCES model_versions (id),
          passed INTEGER NOT NULL,
          policy_digest TEXT NOT NULL,
          root_digest TEXT NOT NULL,
          result TEXT NOT NULL,
          at TEXT NOT NULL
        );
        CREATE TRIGGER gate_results_no_update BEFORE UPDATE ON gate_results
          BEGIN SELECT RAISE(ABORT, 'gate results are append-only'); END;
        CREATE TRIGGER gate_results_no_delete BEFORE DELETE ON gate_results
          BEGIN SELECT RAISE(ABORT, 'gate results are append-only'); END;
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
        );
        CREATE TRIGGER alerts_no_update BEFORE UPDATE ON alerts
          BEGIN SELECT RAISE(ABORT, 'alerts are append-only'); END;
        CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
          BEGIN SELECT RAISE(ABORT, 'alerts are append-only'); END;
        CREATE TABLE monitor_snapshots (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          version_id TEXT,
          at TEXT NOT NULL,
          metrics TEXT NOT NULL
        );
      `);
    },
  },
];
