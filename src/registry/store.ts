import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AntidoteError } from '../errors.js';
import type { AuditLogBackend } from '../integrity/audit-log.js';
import type { ObjectStore } from '../integrity/object-store.js';
import type { VersionCatalogue } from '../integrity/versioning.js';

/** Name of the project folder holding the catalogue and the object store. */
export const PROJECT_FOLDER = '.antidote';

/**
 * The catalogue: dataset and model versions, the audit log and their content-addressed objects,
 * behind one interface so another database can implement it. The SQLite implementation is
 * {@link SqliteCatalogueStore} (./sqlite-store.ts). Implementations must keep committed versions
 * and audit entries immutable and run each write in a transaction.
 */
export interface CatalogueStore extends VersionCatalogue, AuditLogBackend {
  /** The directory that contains `.antidote/`. */
  readonly projectDir: string;
  /** Content-addressed objects under `.antidote/objects/sha256/…`. */
  readonly objects: ObjectStore;
  /** A small key-value store for project settings (e.g. the policy file path). */
  getSetting(key: string): string | undefined;
  setSetting(key: string, value: string): void;
  close(): void;
}

/** Walks up from `start` to the first directory holding `.antidote/`; undefined when none. */
export function findProjectDir(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    const p = join(dir, PROJECT_FOLDER);
    if (existsSync(p) && statSync(p).isDirectory()) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * The project directory to use: `explicit` when given (must hold `.antidote/` unless `create`),
 * else the nearest ancestor of `cwd` with `.antidote/`, else `cwd` when `create` is set.
 * Fails with `NOT_FOUND` otherwise.
 */
export function resolveProjectDir(options: {
  explicit?: string;
  cwd: string;
  create?: boolean;
}): string {
  if (options.explicit) {
    const dir = resolve(options.cwd, options.explicit);
    if (!options.create && !existsSync(join(dir, PROJECT_FOLDER))) {
      throw new AntidoteError(
        'NOT_FOUND',
        `${dir} is not an Antidote project (no ${PROJECT_FOLDER}/ folder)`,
        {
          path: dir,
        },
      );
    }
    return dir;
  }
  const found = findProjectDir(options.cwd);
  if (found) return found;
  if (options.create) return resolve(options.cwd);
  throw new AntidoteError(
    'NOT_FOUND',
    `no ${PROJECT_FOLDER}/ folder in ${resolve(options.cwd)} or its parents (commit a dataset first, or pass --project DIR)`,
    { path: resolve(options.cwd) },
  );
}
