import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { readScanReport } from '../defenses/scan-report.js';
import type { ModelDomain } from '../engine/model-interface.js';
import { isOnnxPath, MODEL_JSON, readModelSummary } from '../engine/model-summary.js';
import { hasOnnxOptions, type OnnxLoadOptions } from '../engine/onnx/onnx-preprocess.js';
import { AntidoteError } from '../errors.js';
import { type AuditEventInput, appendAudit } from '../integrity/audit-log.js';
import type { JsonValue } from '../integrity/canonical-json.js';
import { digestEquals } from '../integrity/hash.js';
import { readLineage } from '../integrity/lineage.js';
import { type Manifest, manifestDigest, SIGNATURE_FILE } from '../integrity/manifest.js';
import { type AccessPolicy, authorize, type Decision, enforce } from '../integrity/policy.js';
import { REGISTRY_MIGRATIONS } from './migrations.js';
import {
  cachedModelVersion,
  localModelVersion,
  type StoredModelContent,
  stageModelContent,
  storeStaged,
} from './model-content.js';
import { modelManifest } from './model-manifest.js';
import * as signatures from './signature-policy.js';
import { SqlCatalogueStore } from './sql-store.js';

/** Lifecycle stages of a model version, in order. */
export const STAGES = ['candidate', 'staging', 'production', 'archived'] as const;

/** One lifecycle stage. */
export type Stage = (typeof STAGES)[number];

/** Why a stage changed. */
export type TransitionKind =
  | 'register'
  | 'promote'
  | 'override'
  | 'superseded'
  | 'archive'
  | 'rollback'
  | 'auto-rollback';

/** A dataset the model was trained on, from its SLSA provenance. */
export interface RegisteredDataset {
  readonly name: string;
  readonly version?: string;
  readonly rootDigest: string;
  readonly recordsRoot?: string;
}

/** Summary of one detector of a scan report registered with a model. */
export interface ScanSummary {
  readonly method: string;
  readonly records: number;
  readonly flagged: number;
  readonly suspiciousClasses: readonly string[];
  readonly reasons: readonly string[];
  /** The scan's verdict and its reason (reports written since issue 16). */
  readonly verdict?: { readonly verdict: 'pass' | 'review' | 'fail'; readonly reason: string };
}

/** What the registry records about a model directory when it is registered. */
export interface ModelInfo {
  /**
   * What the model reads (`image`, `text`, `tabular`), from `model.json` (when it is an Antidote
   * model; absent for versions registered before it was recorded).
   */
  readonly domain?: ModelDomain;
  /** Input shape (of the model's representation) and class names from `model.json`. */
  readonly inputShape?: readonly number[];
  readonly classes?: readonly string[];
  /** Architecture or kind (`cnn`, `tfidf-logistic`, `logistic`, …). */
  readonly arch?: string;
  /**
   * True when the directory holds a signature bundle (`antidote.sig`, or the OMS convention's
   * `model.sig`); verified under the project's signature policy (`registry/signature-policy.ts`).
   */
  readonly signed: boolean;
  /** Datasets from the SLSA provenance (`antidote.provenance.json`), when present. */
  readonly lineage?: {
    readonly datasets: readonly RegisteredDataset[];
    readonly modelMatches: boolean;
    readonly codeVersion?: string;
  };
  /** Scan results registered with the model (`antidote scan` report). */
  readonly scan?: readonly ScanSummary[];
  /**
   * An ONNX model's layout and normalisation given at registration (`--layout`, `--scale`,
   * `--mean`, `--std`), applied wherever the version is loaded (gate, serve).
   */
  readonly preprocessing?: OnnxLoadOptions;
  /**
   * Present when the model's files are stored in the catalogue's object store (versions
   * registered since issue 22): another client of the catalogue pulls or loads them from there.
   */
  readonly content?: StoredModelContent;
  readonly files: number;
  readonly bytes: number;
}

/** A registered model version and its current stage. */
export interface ModelVersion {
  /** `name@seq`. */
  readonly id: string;
  readonly name: string;
  readonly seq: number;
  /**
   * Absolute path of the model directory, or of the `.onnx` file of an ONNX model. Stored
   * relative to the project when it lies inside it (so a moved or copied project keeps working,
   * and clients of a shared catalogue resolve it in their own checkout); see {@link storedDir}.
   */
  readonly dir: string;
  readonly manifestDigest: string;
  readonly rootDigest: string;
  readonly stage: Stage;
  readonly info: ModelInfo;
  readonly registeredBy: string;
  readonly registeredAt: string;
}

/** One recorded stage change. */
export interface StageTransition {
  readonly id: number;
  readonly versionId: string;
  readonly name: string;
  readonly from?: Stage;
  readonly to: Stage;
  readonly kind: TransitionKind;
  readonly actor: string;
  readonly reason?: string;
  readonly at: string;
}

/** A stored gate result. */
export interface StoredGateResult {
  readonly id: number;
  readonly versionId: string;
  readonly passed: boolean;
  readonly policyDigest: string;
  readonly rootDigest: string;
  readonly result: JsonValue;
  readonly at: string;
}

/** An alert raised by a monitor. */
export interface Alert {
  readonly id: number;
  readonly name: string;
  readonly versionId?: string;
  readonly monitor: string;
  readonly severity: 'warning' | 'critical';
  readonly message: string;
  readonly value?: number;
  readonly threshold?: number;
  readonly details: { readonly [key: string]: JsonValue };
  readonly at: string;
}

/** A new alert (the registry assigns id and time). */
export type NewAlert = Omit<Alert, 'id' | 'at'>;

/** A point of a monitor time series. */
export interface MonitorSnapshot {
  readonly id: number;
  readonly name: string;
  readonly versionId?: string;
  readonly at: string;
  readonly metrics: { readonly [key: string]: number };
}

/** Who acts, and under which access policy. */
export interface Actor {
  /** Key fingerprint (`sha256:…`) or a name; `anonymous` when nobody is known. */
  readonly actor: string;
  /**
   * The access policy to enforce. With a policy, `actor` must be a principal's key fingerprint
   * holding the permission; the decision is audited either way.
   */
  readonly policy?: AccessPolicy;
}

/** Options of {@link ModelRegistry.promote}. */
export interface PromoteOptions extends Actor {
  /** Target stage; default `production`. */
  readonly to?: Stage;
  /**
   * Promote to production although the version has not passed the gate. Needs an access policy
   * granting `model:promote` to the actor, and a reason; audited as `model.promote.override`.
   */
  readonly override?: { readonly reason: string };
  readonly reason?: string;
}

/** Options of {@link ModelRegistry.rollback}. */
export interface RollbackOptions extends Actor {
  readonly reason: string;
  /** The version to restore; default: the last production version before the current one. */
  readonly to?: string;
  /** `true` when a monitor triggered it (audited as `model.rollback.auto`). */
  readonly automatic?: boolean;
  /** Extra audit details (e.g. the alert that tripped). */
  readonly details?: { readonly [key: string]: JsonValue };
}

interface VersionRow {
  id: string;
  name: string;
  seq: number;
  dir: string;
  manifest_digest: string;
  root_digest: string;
  info: string;
  registered_by: string;
  registered_at: string;
  stage: Stage;
}

/**
 * What hashing a version's files found: their root digest, or why they could not be hashed
 * (missing, unreadable, a link).
 */
type FilesCheck = { readonly rootDigest: string } | { readonly problem: string };

/** Hashes the files of `v` (never throws: a failure is a `problem`). */
async function hashRegisteredFiles(v: ModelVersion): Promise<FilesCheck> {
  try {
    return { rootDigest: (await modelManifest(v.dir)).rootDigest };
  } catch (e) {
    return { problem: (e as Error).message };
  }
}

const VERSION_SELECT = `SELECT v.*, s.stage FROM model_versions v JOIN model_stages s ON s.version_id = v.id`;

/**
 * How a model path is stored: relative to `projectDir` (with `/` separators) when it lies inside
 * the project, absolute otherwise (issue 21, item 5: a project folder that is moved or copied
 * keeps its registry working).
 */
export function storedDir(projectDir: string, abs: string): string {
  const rel = relative(resolve(projectDir), abs);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return abs;
  return rel.split(sep).join('/');
}

/**
 * The absolute path of a stored model path: relative ones resolve against `projectDir`; rows
 * written before paths were relative hold absolute paths and are read as they are.
 */
export function resolveStoredDir(projectDir: string, stored: string): string {
  return isAbsolute(stored) ? stored : resolve(projectDir, ...stored.split('/'));
}

function toVersion(r: VersionRow, projectDir: string): ModelVersion {
  return {
    id: r.id,
    name: r.name,
    seq: r.seq,
    dir: resolveStoredDir(projectDir, r.dir),
    manifestDigest: r.manifest_digest,
    rootDigest: r.root_digest,
    stage: r.stage,
    info: JSON.parse(r.info) as ModelInfo,
    registeredBy: r.registered_by,
    registeredAt: r.registered_at,
  };
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Checks a model name: letters, digits, `.`, `_`, `-`, at most 128 characters. */
export function checkModelName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `invalid model name "${name}": use letters, digits, ".", "_" and "-" (at most 128 characters)`,
      { name },
    );
  }
}

/**
 * Reads the scan summaries of an `antidote scan` report (`report.json`, or its directory),
 * checked against the scan report schema (`defenses/scan-report.ts`).
 */
export async function readScanSummary(path: string): Promise<ScanSummary[]> {
  const { report } = await readScanReport(path);
  return Object.entries(report.methods).map(([method, rep]) => {
    const suspicious = rep.perClass.filter((c) => c.suspicious);
    return {
      method,
      records: rep.flagged.length,
      flagged: rep.flagged.filter((v) => v === 1).length,
      suspiciousClasses: suspicious.map((c) => c.className),
      reasons: suspicious.map((c) => `${c.className}: ${c.reason}`),
      ...(report.verdict
        ? { verdict: { verdict: report.verdict.verdict, reason: report.verdict.reason } }
        : {}),
    };
  });
}

async function describeModelDir(
  dir: string,
  scanReport: string | undefined,
  preprocessing: OnnxLoadOptions | undefined,
): Promise<{ info: ModelInfo; rootDigest: string; manifestDigest: string; manifest: Manifest }> {
  if (preprocessing && hasOnnxOptions(preprocessing)) {
    // Refused here unless they fit: for a model that is no ONNX file, or values the model cannot use.
    const { loadModel } = await import('../engine/model.js');
    (await loadModel(dir, { onnx: preprocessing })).dispose();
  }
  const manifest = await modelManifest(dir);
  const onnx = isOnnxPath(dir);
  const summary =
    onnx || existsSync(join(dir, MODEL_JSON)) ? await readModelSummary(dir) : undefined;
  const lineage = onnx ? undefined : await lineageOf(dir);
  const info: ModelInfo = {
    ...(summary ? { domain: summary.domain } : {}),
    ...(summary?.inputShape ? { inputShape: summary.inputShape } : {}),
    ...(summary?.classes ? { classes: summary.classes } : {}),
    ...(summary?.kind ? { arch: summary.kind } : {}),
    // An ONNX model is signed as the folder holding it (see signedFolderOf).
    signed: [SIGNATURE_FILE, 'model.sig'].some((f) =>
      existsSync(join(onnx ? dirname(dir) : dir, f)),
    ),
    ...(lineage ? { lineage } : {}),
    ...(scanReport ? { scan: await readScanSummary(scanReport) } : {}),
    ...(preprocessing && hasOnnxOptions(preprocessing) ? { preprocessing } : {}),
    files: manifest.files.length,
    bytes: manifest.files.reduce((s, f) => s + f.size, 0),
  };
  return {
    info,
    rootDigest: manifest.rootDigest,
    manifestDigest: manifestDigest(manifest),
    manifest,
  };
}

/** The datasets of the SLSA provenance beside a model directory, when there is one. */
async function lineageOf(dir: string): Promise<ModelInfo['lineage']> {
  try {
    const l = await readLineage(dir);
    return {
      datasets: l.datasets.map((d) => ({
        name: d.name,
        ...(d.version ? { version: d.version } : {}),
        rootDigest: d.rootDigest,
        ...(d.recordsRoot ? { recordsRoot: d.recordsRoot } : {}),
      })),
      modelMatches: l.modelMatches,
      ...(l.codeVersion ? { codeVersion: l.codeVersion } : {}),
    };
  } catch (e) {
    if (!(e instanceof AntidoteError && e.code === 'NOT_FOUND')) throw e;
    return undefined;
  }
}

/**
 * The model registry: versions of named models with automated sequence numbers, their stages
 * (candidate → staging → production → archived, exactly one production version per name), gate
 * results, monitor alerts and snapshots, in the catalogue (SQLite, or a shared PostgreSQL). Every
 * stage change runs in one serialised write transaction together with its audit entry, so
 * concurrent processes (on any machine sharing the store) serialise and nothing is lost.
 */
export class ModelRegistry {
  private readonly now: () => Date;

  constructor(
    /** The catalogue holding the registry tables (opened with {@link REGISTRY_MIGRATIONS}). */
    readonly store: SqlCatalogueStore,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Opens the catalogue of `projectDir` with the registry's migrations, on the backend `store`
   * selects (`postgres://…`; default `ANTIDOTE_STORE`, else the embedded SQLite database).
   */
  static open(
    projectDir: string,
    options: { now?: () => Date; store?: string } = {},
  ): ModelRegistry {
    return new ModelRegistry(
      SqlCatalogueStore.open(projectDir, {
        migrations: REGISTRY_MIGRATIONS,
        ...(options.store !== undefined ? { store: options.store } : {}),
      }),
      options,
    );
  }

  /**
   * `v` as this machine can load it: unchanged when its files are here, else fetched from the
   * catalogue's object store into `.antidote/models/<manifest digest>/` (verified) with `dir`
   * pointing there; `NOT_FOUND` saying what to do for a version whose content was never stored
   * (./model-content.ts).
   */
  local(v: ModelVersion): Promise<ModelVersion> {
    return localModelVersion(this.store, v);
  }

  /**
   * `v` at the copy this machine already fetched (by `gate`, `serve`) when its registered path is
   * missing; `v` itself otherwise. Promotion and rollback check what this machine holds and
   * fetch nothing: a model that is nowhere here fails their integrity check.
   */
  private here(v: ModelVersion): ModelVersion {
    return cachedModelVersion(this.store.projectDir, v);
  }

  private version(r: VersionRow): ModelVersion {
    return toVersion(r, this.store.projectDir);
  }

  /** Closes the underlying catalogue. */
  close(): void {
    this.store.close();
  }

  private get db() {
    return this.store.db;
  }

  /**
   * Runs `fn` in one serialised write transaction (SQLite's IMMEDIATE, PostgreSQL's advisory
   * lock: ./sql-database.ts). A `PERMISSION_DENIED` or `INTEGRITY_MISMATCH`
   * thrown inside still commits (authorisation and the target's integrity check come before any
   * other write, and their audit entries must survive), then is rethrown; any other error rolls
   * everything back.
   */
  private tx<T>(fn: () => T): T {
    let denied: AntidoteError | undefined;
    const r = this.db.transaction(() => {
      try {
        return fn();
      } catch (e) {
        if (
          e instanceof AntidoteError &&
          (e.code === 'PERMISSION_DENIED' ||
            e.code === 'INTEGRITY_MISMATCH' ||
            e.code === 'SIGNATURE_INVALID')
        ) {
          denied = e;
          return undefined;
        }
        throw e;
      }
    });
    if (denied) throw denied;
    return r as T;
  }

  private audit(input: AuditEventInput): void {
    appendAudit(this.store, input, this.now);
  }

  /** The project's signature policy check of `v` (registry/signature-policy.ts). */
  private async signatureOf(v: signatures.SignedSubject): Promise<signatures.SignatureCheck> {
    const policy = await signatures.projectSignaturePolicy(this.store.projectDir);
    return signatures.checkSignature(v, policy);
  }

  private readonly sink: signatures.RefusalSink = {
    audit: (e) => this.audit(e),
    alert: (a) => void this.recordAlert(a),
  };

  /**
   * Registers the model in `dir` (a model directory, or a `.onnx` file: that file and its
   * sidecar JSON are hashed) under `name` as a new `candidate` version (`name@seq`, seq =
   * latest + 1), recording its manifest digest, signature presence, lineage and, with
   * `scanReport`, the scan results. Registering content identical to an existing version of
   * the same name returns that version with `created: false` (unless it was registered before
   * content was stored: then a new version is created, carrying it). The model's files, its manifest
   * and the signature and provenance beside it are stored in the catalogue's object store first
   * (./model-content.ts; identical files once), recorded as `info.content`, so any client of the
   * catalogue can pull or load the version.
   */
  async register(
    dir: string,
    options: {
      name: string;
      actor?: string;
      scanReport?: string;
      policy?: AccessPolicy;
      /** An ONNX model's layout and normalisation, recorded in the version's info. */
      onnx?: OnnxLoadOptions;
    },
  ): Promise<{ version: ModelVersion; created: boolean }> {
    checkModelName(options.name);
    const abs = resolve(dir);
    if (!existsSync(abs)) {
      throw new AntidoteError(
        'NOT_FOUND',
        `${isOnnxPath(abs) ? 'ONNX model' : 'model directory'} ${abs} does not exist`,
        { path: abs },
      );
    }
    const actor = options.actor ?? 'anonymous';
    // Default deny before anything is written: a refused registration leaves no objects behind
    // (the transaction below checks again and records the decision in the audit log).
    if (options.policy && !authorize(options.policy, actor, 'model:register').allowed)
      enforce(options.policy, actor, 'model:register', this.store, `model:${options.name}`);
    const described = await describeModelDir(abs, options.scanReport, options.onnx);
    // The model's content: on PostgreSQL its last objects go in the version's transaction below
    // (one serialised commit per registration), elsewhere they are stored now.
    const objects = this.store.objects;
    const staged = await stageModelContent(objects, abs, described.manifest);
    if (!objects.inCatalogue) await storeStaged(objects, staged);
    const d = { ...described, info: { ...described.info, content: staged.content } };
    const subject = { id: options.name, name: options.name, dir: abs };
    const sig = await this.signatureOf(subject);
    return this.tx(() => {
      if (options.policy)
        enforce(options.policy, actor, 'model:register', this.store, `model:${options.name}`);
      signatures.requireSignature(sig, subject, 'model.register', actor, this.sink);
      if (objects.inCatalogue) storeStaged(objects, staged, true);
      // One round trip: the version with the same content, if any, and the latest seq.
      const found = this.db
        .prepare(
          `SELECT (SELECT v.id FROM model_versions v WHERE v.name = ? AND v.root_digest = ?
             ORDER BY v.seq LIMIT 1) AS same, (SELECT MAX(seq) FROM model_versions WHERE name = ?) AS m`,
        )
        .get(options.name, d.rootDigest, options.name) as { same: string | null; m: number | null };
      if (found.same) {
        const same = this.get(found.same);
        if (same.info.content?.stored) return { version: same, created: false };
        // Registered before content was stored: the newest identical version that has it, else
        // a new version carries the content (versions are immutable).
        const stored = (
          this.db
            .prepare(
              'SELECT id, info FROM model_versions WHERE name = ? AND root_digest = ? ORDER BY seq',
            )
            .all(options.name, d.rootDigest) as { id: string; info: string }[]
        ).find((r) => (JSON.parse(r.info) as ModelInfo).content?.stored);
        if (stored) return { version: this.get(stored.id), created: false };
      }
      const seq = (found.m ?? 0) + 1;
      const id = `${options.name}@${seq}`;
      const at = this.now().toISOString();
      const dirRow = storedDir(this.store.projectDir, abs);
      this.db
        .prepare(
          `INSERT INTO model_versions (id, name, seq, dir, manifest_digest, root_digest, info,
               registered_by, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          options.name,
          seq,
          dirRow,
          d.manifestDigest,
          d.rootDigest,
          JSON.stringify(d.info),
          actor,
          at,
        );
      this.db
        .prepare(
          'INSERT INTO model_stages (version_id, name, stage, updated_at) VALUES (?, ?, ?, ?)',
        )
        .run(id, options.name, 'candidate', at);
      this.insertTransition(id, options.name, undefined, 'candidate', 'register', actor, at);
      this.audit({
        actor,
        action: 'model.register',
        subject: `model:${id}`,
        outcome: 'ok',
        digests: { root: d.rootDigest, manifest: d.manifestDigest },
        details: {
          dir: dirRow,
          signed: d.info.signed,
          lineage: d.info.lineage ? d.info.lineage.datasets.map((x) => x.name) : null,
          scanned: d.info.scan ? d.info.scan.map((s) => s.method) : null,
        },
      });
      // What get(id) would read back, without the round trip.
      const version: ModelVersion = {
        id,
        name: options.name,
        seq,
        dir: resolveStoredDir(this.store.projectDir, dirRow),
        manifestDigest: d.manifestDigest,
        rootDigest: d.rootDigest,
        stage: 'candidate',
        info: JSON.parse(JSON.stringify(d.info)) as ModelInfo,
        registeredBy: actor,
        registeredAt: at,
      };
      return { version, created: true };
    });
  }

  private insertTransition(
    versionId: string,
    name: string,
    from: Stage | undefined,
    to: Stage,
    kind: TransitionKind,
    actor: string,
    at: string,
    reason?: string,
  ): void {
    this.db
      .prepare(
        `INSERT INTO stage_transitions (version_id, name, from_stage, to_stage, kind, actor, reason, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(versionId, name, from ?? null, to, kind, actor, reason ?? null, at);
  }

  private setStage(
    v: ModelVersion,
    to: Stage,
    kind: TransitionKind,
    actor: string,
    reason?: string,
    details: { readonly [key: string]: JsonValue } = {},
  ): void {
    const at = this.now().toISOString();
    this.db
      .prepare('UPDATE model_stages SET stage = ?, updated_at = ? WHERE version_id = ?')
      .run(to, at, v.id);
    this.insertTransition(v.id, v.name, v.stage, to, kind, actor, at, reason);
    const action =
      kind === 'override'
        ? 'model.promote.override'
        : kind === 'auto-rollback'
          ? 'model.rollback.auto'
          : `model.${kind}`;
    this.audit({
      actor,
      action,
      subject: `model:${v.id}`,
      outcome: 'ok',
      digests: { root: v.rootDigest },
      details: { from: v.stage, to, ...(reason ? { reason } : {}), ...details },
    });
  }

  /**
   * Inside a transition's transaction, before its first stage write: `INTEGRITY_MISMATCH`
   * (audited as `action` with outcome `error`, nothing else written) unless `check` — the files
   * of `v` hashed just before the transaction — found the registered root digest.
   */
  private requireIntact(v: ModelVersion, check: FilesCheck, action: string, actor: string): void {
    const found = 'rootDigest' in check ? check.rootDigest : undefined;
    if (found !== undefined && digestEquals(found, v.rootDigest)) return;
    const why =
      found === undefined
        ? `its files cannot be hashed (${check && 'problem' in check ? check.problem : 'unknown'})`
        : 'its files changed since registration';
    this.audit({
      actor,
      action,
      subject: `model:${v.id}`,
      outcome: 'error',
      digests: { root: v.rootDigest, ...(found ? { found } : {}) },
      details: { refused: 'integrity', reason: why, dir: v.dir, stage: v.stage },
    });
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `refusing to move ${v.id}: ${why}; nothing was changed (${v.dir})`,
      { version: v.id, path: v.dir },
    );
  }

  /** A version by id (`name@seq`), name (latest) or `name@stage`; throws `NOT_FOUND`. */
  get(ref: string): ModelVersion {
    const v = this.find(ref);
    if (!v) throw new AntidoteError('NOT_FOUND', `no registered model version "${ref}"`, { ref });
    return v;
  }

  /**
   * A version by id (`name@seq`), name (latest) or `name@stage` (the newest version in that
   * stage, e.g. `fraud@production`), or undefined.
   */
  find(ref: string): ModelVersion | undefined {
    const at = ref.lastIndexOf('@');
    const stage = at > 0 ? ref.slice(at + 1) : '';
    if ((STAGES as readonly string[]).includes(stage)) {
      const r = this.db
        .prepare(`${VERSION_SELECT} WHERE v.name = ? AND s.stage = ? ORDER BY v.seq DESC LIMIT 1`)
        .get(ref.slice(0, at), stage) as VersionRow | undefined;
      return r ? this.version(r) : undefined;
    }
    const byId = this.db.prepare(`${VERSION_SELECT} WHERE v.id = ?`).get(ref) as
      | VersionRow
      | undefined;
    if (byId) return this.version(byId);
    const latest = this.db
      .prepare(`${VERSION_SELECT} WHERE v.name = ? ORDER BY v.seq DESC LIMIT 1`)
      .get(ref) as VersionRow | undefined;
    return latest ? this.version(latest) : undefined;
  }

  /** Versions of `name` (every model when omitted), by name then seq. */
  list(name?: string): ModelVersion[] {
    const rows = (
      name
        ? this.db.prepare(`${VERSION_SELECT} WHERE v.name = ? ORDER BY v.seq`).all(name)
        : this.db.prepare(`${VERSION_SELECT} ORDER BY v.name, v.seq`).all()
    ) as VersionRow[];
    return rows.map((r) => this.version(r));
  }

  /** Every model name with its version count and production version. */
  models(): { name: string; versions: number; production?: string; latest: string }[] {
    const rows = this.db
      .prepare(
        `SELECT v.name AS name, COUNT(*) AS n, MAX(v.seq) AS latest,
           (SELECT s.version_id FROM model_stages s WHERE s.name = v.name AND s.stage = 'production') AS prod
         FROM model_versions v GROUP BY v.name ORDER BY v.name`,
      )
      .all() as { name: string; n: number; latest: number; prod: string | null }[];
    return rows.map((r) => ({
      name: r.name,
      versions: r.n,
      latest: `${r.name}@${r.latest}`,
      ...(r.prod ? { production: r.prod } : {}),
    }));
  }

  /** The production version of `name`, if any. */
  production(name: string): ModelVersion | undefined {
    const r = this.db
      .prepare(`${VERSION_SELECT} WHERE v.name = ? AND s.stage = 'production'`)
      .get(name) as VersionRow | undefined;
    return r ? this.version(r) : undefined;
  }

  /** Stage transitions, oldest first (of one model name, or all). */
  transitions(name?: string): StageTransition[] {
    const rows = (
      name
        ? this.db.prepare('SELECT * FROM stage_transitions WHERE name = ? ORDER BY id').all(name)
        : this.db.prepare('SELECT * FROM stage_transitions ORDER BY id').all()
    ) as {
      id: number;
      version_id: string;
      name: string;
      from_stage: Stage | null;
      to_stage: Stage;
      kind: TransitionKind;
      actor: string;
      reason: string | null;
      at: string;
    }[];
    return rows.map((r) => ({
      id: r.id,
      versionId: r.version_id,
      name: r.name,
      ...(r.from_stage ? { from: r.from_stage } : {}),
      to: r.to_stage,
      kind: r.kind,
      actor: r.actor,
      ...(r.reason ? { reason: r.reason } : {}),
      at: r.at,
    }));
  }

  /** Stores a gate result for `versionId` (audited as `gate.pass` / `gate.fail`). */
  recordGateResult(
    versionId: string,
    r: { passed: boolean; policyDigest: string; result: JsonValue; actor?: string },
  ): StoredGateResult {
    return this.db.transaction(() => {
      const v = this.get(versionId);
      const at = this.now().toISOString();
      const info = this.db
        .prepare(
          'INSERT INTO gate_results (version_id, passed, policy_digest, root_digest, result, at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id',
        )
        .get(
          v.id,
          r.passed ? 1 : 0,
          r.policyDigest,
          v.rootDigest,
          JSON.stringify(r.result),
          at,
        ) as {
        id: number;
      };
      this.audit({
        actor: r.actor ?? 'anonymous',
        action: r.passed ? 'gate.pass' : 'gate.fail',
        subject: `model:${v.id}`,
        outcome: 'ok',
        digests: { root: v.rootDigest, policy: r.policyDigest },
      });
      return this.gateResults(v.id).find((g) => g.id === Number(info.id))!;
    });
  }

  /** Gate results, newest first (of one version, or all). */
  gateResults(versionId?: string, limit = 1000): StoredGateResult[] {
    const rows = (
      versionId
        ? this.db
            .prepare('SELECT * FROM gate_results WHERE version_id = ? ORDER BY id DESC LIMIT ?')
            .all(versionId, limit)
        : this.db.prepare('SELECT * FROM gate_results ORDER BY id DESC LIMIT ?').all(limit)
    ) as {
      id: number;
      version_id: string;
      passed: number;
      policy_digest: string;
      root_digest: string;
      result: string;
      at: string;
    }[];
    return rows.map((r) => ({
      id: r.id,
      versionId: r.version_id,
      passed: r.passed === 1,
      policyDigest: r.policy_digest,
      rootDigest: r.root_digest,
      result: JSON.parse(r.result) as JsonValue,
      at: r.at,
    }));
  }

  /** True when the newest gate result of `v` passed and covers its content. */
  hasPassedGate(v: ModelVersion): boolean {
    const g = this.gateResults(v.id, 1)[0];
    return !!g && g.passed && g.rootDigest === v.rootDigest;
  }

  /**
   * Moves a version forward: candidate → staging → production (→ archived). Production needs a
   * passed gate result, or an override (a reason, and `model:promote` granted by the access
   * policy: without a policy nobody may override). The previous production version becomes
   * `archived` (`superseded`) in the same transaction. With a policy, normal promotion needs
   * `model:promote` too. The version's files are hashed first and must still match its
   * registered root digest: otherwise `INTEGRITY_MISMATCH`, audited, and no stage changes.
   * Every step is audited.
   */
  async promote(ref: string, options: PromoteOptions): Promise<ModelVersion> {
    const to = options.to ?? 'production';
    const pre = this.get(ref);
    const here = to === 'archived' ? pre : this.here(pre);
    const files: FilesCheck =
      to === 'archived' ? { rootDigest: pre.rootDigest } : await hashRegisteredFiles(here);
    const sig = to === 'archived' ? undefined : await this.signatureOf(here);
    return this.tx(() => {
      const v = this.get(pre.id);
      const subject = `model:${v.id}`;
      const from = STAGES.indexOf(v.stage);
      const target = STAGES.indexOf(to);
      if (to === 'archived') return this.archiveIn(v, options);
      if (v.stage === 'archived' || target <= from) {
        throw new AntidoteError(
          'INVALID_STATE',
          `${v.id} is ${v.stage}; it can only move forward (candidate → staging → production); use rollback to restore an archived version`,
          { version: v.id, stage: v.stage, to },
        );
      }
      let kind: TransitionKind = 'promote';
      let decision: Decision | undefined;
      if (to === 'production' && !this.hasPassedGate(v)) {
        if (!options.override) {
          const last = this.gateResults(v.id, 1)[0];
          throw new AntidoteError(
            'GATE_FAILED',
            last
              ? `${v.id} did not pass the gate (last run ${last.at}); fix it, or override with a reason and the model:promote permission`
              : `${v.id} has not been through the gate; run \`antidote gate --model ${v.id} --policy FILE\` first`,
            { version: v.id },
          );
        }
        const reason = options.override.reason.trim();
        if (reason.length === 0) {
          throw new AntidoteError('INVALID_ARGUMENT', 'an override needs a non-empty reason', {
            version: v.id,
          });
        }
        if (!options.policy) {
          this.audit({
            actor: options.actor,
            action: 'authz.model:promote',
            subject,
            outcome: 'deny',
            details: { reason: 'no access policy: overrides are denied by default' },
          });
          throw new AntidoteError(
            'PERMISSION_DENIED',
            'overriding the gate needs an access policy granting model:promote (none is installed; default deny)',
            { version: v.id },
          );
        }
        kind = 'override';
      }
      if (options.policy) {
        decision = enforce(options.policy, options.actor, 'model:promote', this.store, subject);
      }
      const reason = kind === 'override' ? options.override!.reason.trim() : options.reason;
      const action = kind === 'override' ? 'model.promote.override' : 'model.promote';
      this.requireIntact(v, files, action, options.actor);
      signatures.requireSignature(sig, v, action, options.actor, this.sink);
      if (to === 'production') {
        const current = this.production(v.name);
        if (current) {
          this.setStage(current, 'archived', 'superseded', options.actor, `superseded by ${v.id}`);
        }
      }
      this.setStage(v, to, kind, options.actor, reason, {
        ...(decision?.principal ? { principal: decision.principal } : {}),
        gatePassed: this.hasPassedGate(v),
      });
      return this.get(v.id);
    });
  }

  private archiveIn(v: ModelVersion, options: Actor & { reason?: string }): ModelVersion {
    if (v.stage === 'archived') {
      throw new AntidoteError('INVALID_STATE', `${v.id} is already archived`, { version: v.id });
    }
    if (options.policy)
      enforce(options.policy, options.actor, 'model:promote', this.store, `model:${v.id}`);
    this.setStage(v, 'archived', 'archive', options.actor, options.reason);
    return this.get(v.id);
  }

  /** Archives a version (audited). */
  archive(ref: string, options: Actor & { reason?: string }): ModelVersion {
    return this.tx(() => this.archiveIn(this.get(ref), options));
  }

  /**
   * The version a rollback of `name` restores: the most recent earlier production version
   * (newest production transition first) that is not the current one and was never rolled
   * back from production.
   */
  rollbackTarget(name: string): ModelVersion | undefined {
    const current = this.production(name);
    const ts = this.transitions(name);
    const bad = new Set(
      ts
        .filter(
          (t) => (t.kind === 'rollback' || t.kind === 'auto-rollback') && t.from === 'production',
        )
        .map((t) => t.versionId),
    );
    for (let i = ts.length - 1; i >= 0; i--) {
      const t = ts[i]!;
      if (t.to !== 'production' || t.versionId === current?.id || bad.has(t.versionId)) continue;
      return this.get(t.versionId);
    }
    return undefined;
  }

  /**
   * Rolls `name` back: the current production version is archived and the previous good one
   * (or `to`) becomes production, in one transaction. Manual rollbacks need `model:promote`
   * when a policy is given; both kinds are audited (`model.rollback`, `model.rollback.auto`).
   * The target's files are hashed first and must still match its registered root digest:
   * otherwise `INTEGRITY_MISMATCH`, audited, and no stage changes.
   */
  async rollback(
    name: string,
    options: RollbackOptions,
  ): Promise<{ from?: ModelVersion; to: ModelVersion }> {
    const pre = options.to ? this.get(options.to) : this.rollbackTarget(name);
    const here = pre ? this.here(pre) : undefined;
    const files = here ? await hashRegisteredFiles(here) : undefined;
    const sig = here ? await this.signatureOf(here) : undefined;
    return this.tx(() => {
      const current = this.production(name);
      const target = options.to ? this.get(options.to) : this.rollbackTarget(name);
      if (!target) {
        throw new AntidoteError(
          'INVALID_STATE',
          `no earlier production version of ${name} to roll back to`,
          { name },
        );
      }
      if (target.name !== name) {
        throw new AntidoteError('INVALID_ARGUMENT', `${target.id} is not a version of ${name}`);
      }
      if (current?.id === target.id) {
        throw new AntidoteError('INVALID_STATE', `${target.id} is already in production`);
      }
      if (options.policy) {
        enforce(options.policy, options.actor, 'model:promote', this.store, `model:${name}`);
      }
      const kind: TransitionKind = options.automatic ? 'auto-rollback' : 'rollback';
      const action = options.automatic ? 'model.rollback.auto' : 'model.rollback';
      if (!files || target.id !== pre?.id) {
        // Another process moved the stages while the files were hashed.
        throw new AntidoteError(
          'INVALID_STATE',
          `the rollback target of ${name} changed while it was being checked; retry`,
          { name },
        );
      }
      this.requireIntact(target, files, action, options.actor);
      signatures.requireSignature(sig, target, action, options.actor, this.sink);
      const details = { ...(options.details ?? {}), restored: target.id };
      if (current) this.setStage(current, 'archived', kind, options.actor, options.reason, details);
      this.setStage(target, 'production', kind, options.actor, options.reason, {
        ...(options.details ?? {}),
        ...(current ? { replaced: current.id } : {}),
      });
      return { ...(current ? { from: this.get(current.id) } : {}), to: this.get(target.id) };
    });
  }

  /** Stores an alert (audited as `monitor.alert`). */
  recordAlert(a: NewAlert): Alert {
    return this.db.transaction(() => {
      const at = this.now().toISOString();
      const r = this.db
        .prepare(
          `INSERT INTO alerts (name, version_id, monitor, severity, message, value, threshold, details, at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        )
        .get(
          a.name,
          a.versionId ?? null,
          a.monitor,
          a.severity,
          a.message,
          a.value ?? null,
          a.threshold ?? null,
          JSON.stringify(a.details),
          at,
        ) as { id: number };
      this.audit({
        actor: 'monitor',
        action: 'monitor.alert',
        subject: `model:${a.versionId ?? a.name}`,
        outcome: 'ok',
        details: {
          monitor: a.monitor,
          severity: a.severity,
          message: a.message,
          ...(a.value !== undefined ? { value: a.value } : {}),
          ...(a.threshold !== undefined ? { threshold: a.threshold } : {}),
        },
      });
      return { ...a, id: Number(r.id), at };
    });
  }

  /** Alerts, newest first. */
  alerts(options: { name?: string; limit?: number } = {}): Alert[] {
    const limit = options.limit ?? 200;
    const rows = (
      options.name
        ? this.db
            .prepare('SELECT * FROM alerts WHERE name = ? ORDER BY id DESC LIMIT ?')
            .all(options.name, limit)
        : this.db.prepare('SELECT * FROM alerts ORDER BY id DESC LIMIT ?').all(limit)
    ) as {
      id: number;
      name: string;
      version_id: string | null;
      monitor: string;
      severity: 'warning' | 'critical';
      message: string;
      value: number | null;
      threshold: number | null;
      details: string;
      at: string;
    }[];
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      ...(r.version_id ? { versionId: r.version_id } : {}),
      monitor: r.monitor,
      severity: r.severity,
      message: r.message,
      ...(r.value !== null ? { value: r.value } : {}),
      ...(r.threshold !== null ? { threshold: r.threshold } : {}),
      details: JSON.parse(r.details),
      at: r.at,
    }));
  }

  /** Stores a point of the monitoring time series. */
  recordSnapshot(
    name: string,
    versionId: string | undefined,
    metrics: Record<string, number>,
  ): void {
    this.db
      .prepare('INSERT INTO monitor_snapshots (name, version_id, at, metrics) VALUES (?, ?, ?, ?)')
      .run(name, versionId ?? null, this.now().toISOString(), JSON.stringify(metrics));
  }

  /** The latest `limit` monitoring points of `name`, oldest first. */
  snapshots(name: string, limit = 500): MonitorSnapshot[] {
    const rows = this.db
      .prepare('SELECT * FROM monitor_snapshots WHERE name = ? ORDER BY id DESC LIMIT ?')
      .all(name, limit) as {
      id: number;
      name: string;
      version_id: string | null;
      at: string;
      metrics: string;
    }[];
    return rows.reverse().map((r) => ({
      id: r.id,
      name: r.name,
      ...(r.version_id ? { versionId: r.version_id } : {}),
      at: r.at,
      metrics: JSON.parse(r.metrics),
    }));
  }
}
