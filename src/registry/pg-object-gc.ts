import { AntidoteError } from '../errors.js';
import { parseManifest } from '../integrity/manifest.js';
import type { PgObjectStore } from './pg-object-store.js';
import type { SqlDatabase } from './sql-database.js';

/** One object {@link collectSharedGarbage} removed (or, with `dryRun`, would remove). */
export interface SharedGarbage {
  readonly digest: string;
  readonly bytes: number;
  /** `row` (in `objects`) or `chunks` (a large object). */
  readonly kind: 'row' | 'chunks';
}

/** Result of {@link collectSharedGarbage}. */
export interface SharedGcResult {
  /** Unreferenced objects removed (or, with `dryRun`, that would be). */
  readonly objects: number;
  /** Abandoned uploads (chunks never published: a killed writer, a lost race) removed. */
  readonly uploads: number;
  /** Bytes freed (object and chunk payloads). */
  readonly bytes: number;
  /** Objects still referenced. */
  readonly kept: number;
  /** Unreferenced objects kept because they were stored or leased within the grace period. */
  readonly young: number;
  readonly dryRun: boolean;
  /** The unreferenced objects removed (or that would be), by digest. */
  readonly removed: readonly SharedGarbage[];
}

const CUT = '(SELECT now() - make_interval(secs => ?))';

/**
 * Garbage collection of a shared catalogue's objects (`dataset gc` on PostgreSQL, issue 22):
 * removes every object in `objects` and `large_objects` that nothing references, and the chunks
 * of abandoned uploads. Referenced are: every dataset or model version of the catalogue (its
 * manifest and every file it names), every registered model version (its manifest digest, and
 * the files of that manifest when it is stored, and the signature and provenance stored with it)
 * and every dataset manifest its lineage (SLSA
 * provenance, in the version's `info`) names. A version's manifest that cannot be read aborts
 * the collection before anything is removed: nothing is deleted on a guess.
 *
 * Safe against concurrent commits on any machine: it runs in one transaction holding the
 * catalogue's writer lock (`PgSqlDatabase.transaction`), and keeps objects stored, or leased by a
 * writer (`PgObjectStore.has`, in a transaction under the same lock), within `graceMs` (default
 * one hour) of the server's clock — so a commit that has stored its objects but not yet inserted
 * its version loses nothing, and one that reuses an old unreferenced object keeps it. A writer
 * still uploading chunks checks they are all there when it publishes. Needs `DELETE` on the
 * object tables: the catalogue's owner (docs/postgres.md, "Roles").
 */
export function collectSharedGarbage(
  db: SqlDatabase,
  objects: PgObjectStore,
  options: { graceMs?: number; dryRun?: boolean } = {},
): SharedGcResult {
  if (db.dialect !== 'postgres') {
    throw new AntidoteError('INVALID_ARGUMENT', 'the shared object store is PostgreSQL only');
  }
  const graceS = (options.graceMs ?? 3_600_000) / 1000;
  if (!Number.isFinite(graceS) || graceS < 0) {
    throw new AntidoteError('INVALID_ARGUMENT', `grace period ${graceS} s is not ≥ 0`);
  }
  const dryRun = options.dryRun === true;
  return db.transaction(() => {
    const referenced = referencedObjects(db, objects);
    const rows = db
      .prepare(
        `SELECT o.digest, o.bytes, o.kind,
           (o.stored_at >= ${CUT} OR EXISTS (SELECT 1 FROM object_uses u
              WHERE u.digest = o.digest AND u.at >= ${CUT})) AS young
         FROM (SELECT digest, octet_length(data)::bigint AS bytes, stored_at, 'row' AS kind FROM objects
               UNION ALL SELECT digest, bytes, stored_at, 'chunks' FROM large_objects) o
         ORDER BY o.digest`,
      )
      .all(graceS, graceS) as {
      digest: string;
      bytes: number;
      kind: 'row' | 'chunks';
      young: boolean;
    }[];
    const abandoned = db
      .prepare(
        `SELECT k.upload, SUM(octet_length(k.data))::bigint AS bytes FROM object_chunks k
         WHERE NOT EXISTS (SELECT 1 FROM large_objects l WHERE l.upload = k.upload)
         GROUP BY k.upload HAVING MAX(k.stored_at) < ${CUT} ORDER BY k.upload`,
      )
      .all(graceS) as { upload: string; bytes: number }[];
    const removed: SharedGarbage[] = [];
    let kept = 0;
    let young = 0;
    for (const r of rows) {
      if (referenced.has(r.digest)) kept++;
      else if (r.young) young++;
      else removed.push({ digest: r.digest, bytes: r.bytes, kind: r.kind });
    }
    if (!dryRun) {
      const delRow = db.prepare('DELETE FROM objects WHERE digest = ?');
      const delChunks = db.prepare(
        'DELETE FROM object_chunks WHERE upload IN (SELECT upload FROM large_objects WHERE digest = ?)',
      );
      const delLarge = db.prepare('DELETE FROM large_objects WHERE digest = ?');
      const delUpload = db.prepare('DELETE FROM object_chunks WHERE upload = ?');
      for (const g of removed) {
        if (g.kind === 'row') delRow.run(g.digest);
        else {
          delChunks.run(g.digest);
          delLarge.run(g.digest);
        }
      }
      for (const a of abandoned) delUpload.run(a.upload);
      db.prepare(`DELETE FROM object_uses WHERE at < ${CUT}`).run(graceS);
    }
    return {
      objects: removed.length,
      uploads: abandoned.length,
      bytes: removed.reduce((s, g) => s + g.bytes, 0) + abandoned.reduce((s, a) => s + a.bytes, 0),
      kept,
      young,
      dryRun,
      removed,
    };
  });
}

/**
 * Every object digest the catalogue references (see {@link collectSharedGarbage}). Manifests of
 * catalogue versions must be readable; those named by the model registry or by lineage are
 * followed when the store holds them (the registry records model manifests by digest only).
 */
export function referencedObjects(db: SqlDatabase, objects: PgObjectStore): Set<string> {
  const out = new Set<string>();
  const follow = (digest: string, where: string, required: boolean) => {
    if (out.has(digest)) return;
    const data = objects.readSync(digest);
    if (!data) {
      if (required) {
        throw new AntidoteError(
          'NOT_FOUND',
          `the manifest of ${where} (${digest}) is not in the store: nothing removed`,
          { ref: where },
        );
      }
      return;
    }
    out.add(digest);
    for (const f of parseManifest(data, `manifest of ${where}`).files) out.add(f.digest);
  };
  const versions = db.prepare('SELECT id, kind, manifest_digest FROM versions').all() as {
    id: string;
    kind: string;
    manifest_digest: string;
  }[];
  for (const v of versions) follow(v.manifest_digest, `${v.kind} ${v.id}`, true);
  const hasRegistry = (
    db.prepare("SELECT to_regclass('model_versions') IS NOT NULL AS x").get() as { x: boolean }
  ).x;
  if (hasRegistry) {
    const models = db.prepare('SELECT id, manifest_digest, info FROM model_versions').all() as {
      id: string;
      manifest_digest: string;
      info: string;
    }[];
    for (const m of models) {
      if (/^[0-9a-f]{64}$/.test(m.manifest_digest)) {
        follow(m.manifest_digest, `model ${m.id}`, false);
      }
      for (const d of lineageManifests(m.info)) follow(d, `lineage of model ${m.id}`, false);
      for (const d of modelExtras(m.info)) out.add(d);
    }
  }
  return out;
}

/** A version's `info` JSON, parsed; undefined when malformed. */
function parseInfo(info: string): unknown {
  try {
    return JSON.parse(info);
  } catch {
    return undefined;
  }
}

const isDigest = (d: unknown): d is string => typeof d === 'string' && /^[0-9a-f]{64}$/.test(d);

/**
 * The objects of the signature and provenance files stored with a registered model's content
 * (`info.content.extras`, ./model-content.ts; malformed info: none).
 */
export function modelExtras(info: string): string[] {
  const extras = (parseInfo(info) as { content?: { extras?: unknown } } | undefined)?.content
    ?.extras;
  return extras && typeof extras === 'object' ? Object.values(extras).filter(isDigest) : [];
}

/** The dataset manifest digests a registered model's lineage names (malformed info: none). */
function lineageManifests(info: string): string[] {
  const datasets = (parseInfo(info) as { lineage?: { datasets?: unknown } } | undefined)?.lineage
    ?.datasets;
  if (!Array.isArray(datasets)) return [];
  return datasets.map((d) => (d as { manifestDigest?: unknown }).manifestDigest).filter(isDigest);
}
