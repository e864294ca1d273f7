import { type Dataset, numRecords } from '../data/dataset.js';
import { loadModel } from '../engine/model.js';
import type { ModelInput } from '../engine/model-input.js';
import type { Model, ModelDomain } from '../engine/model-interface.js';
import { AntidoteError } from '../errors.js';
import { appendAudit } from '../integrity/audit-log.js';
import { digestEquals } from '../integrity/hash.js';
import type { SignaturePolicy } from '../integrity/policy.js';
import { Rng } from '../util/rng.js';
import { StripProbe } from './backdoor-probe.js';
import { ClientBudget } from './client-budget.js';
import { modelManifest } from './model-manifest.js';
import type { ModelRegistry, ModelVersion } from './model-registry.js';
import { LiveMonitor, type MonitorConfig, type Trip, tripMayRollBack } from './monitor.js';
import { ProbeSampler } from './probe-sampler.js';
import {
  checkSignature,
  projectSignaturePolicy,
  recordRefusal,
  signatureError,
} from './signature-policy.js';

/** Something that happened while serving (for logs; the library never prints). */
export type DeploymentEvent =
  | { type: 'loaded'; version: string }
  /** Something the operator should know that is no failure (a monitor that does not apply). */
  | { type: 'notice'; version: string; message: string }
  | { type: 'alert'; version: string; trip: Trip }
  | { type: 'rollback'; from?: string; to: string; reason: string }
  /**
   * A version the registry names was refused on load (signature or digest check failed): it is
   * not served; the refusal is in the audit log and the alerts. Said once per version and reason.
   */
  | { type: 'refused'; version: string; code: string; message: string }
  | { type: 'error'; message: string };

/**
 * Who sent a request, as far as the server can tell: an authenticated principal (`id` names its
 * token) or an unauthenticated caller (`id` is its network address, when known). The monitors
 * count distinct trusted clients before a rollback and rate-limit each client's contribution.
 */
export interface RequestClient {
  readonly id: string;
  readonly authenticated: boolean;
}

/** The caller of in-process predictions (no network, not authenticated). */
const LOCAL_CLIENT: RequestClient = { id: 'local', authenticated: false };

/** Largest magnitude a float32 holds; a larger finite number becomes ±Infinity in the model. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Options of {@link Deployment.start}. */
export interface DeploymentOptions {
  /**
   * Clean reference sample of raw records, as the model reads them (images, text, tabular rows):
   * the drift reference and, for image models, the STRIP pool and calibration. Each loaded
   * version featurizes it its own way.
   */
  readonly reference?: Dataset;
  readonly monitor: MonitorConfig;
  /** Monitoring on (default true); off serves predictions only. */
  readonly monitoring?: boolean;
  readonly seed?: number;
  /** Most records in one batched forward pass; default 256. */
  readonly maxBatchRecords?: number;
  /** Actor recorded for automatic rollbacks; default `antidote-serve`. */
  readonly actor?: string;
  readonly onEvent?: (e: DeploymentEvent) => void;
  /**
   * How long after refusing a production version (signature or digest check) the server tries
   * to load it again; default 30,000 ms. The refusal is recorded once per version and reason.
   */
  readonly refusalRetryMs?: number;
}

/** A loaded model version with its monitors and a count of requests using it. */
interface Loaded {
  readonly version: ModelVersion;
  readonly model: Model;
  readonly monitor: LiveMonitor;
  readonly strip?: StripProbe;
  readonly dim: number;
  /** The value range raw tensor and tabular records must fall in (see `Deployment.inputRange`). */
  readonly range?: readonly [number, number];
  inFlight: number;
  retired: boolean;
}

/** A queued predict call: features in the model's representation, or raw records. */
interface Pending {
  readonly x?: Float32Array;
  readonly raw?: Dataset;
  readonly n: number;
  /** Key of the trusted client for the monitors ('' untrusted); undefined: not observed. */
  readonly observeAs: string | undefined;
  resolve(p: Prediction): void;
  reject(e: unknown): void;
}

/** Result of {@link Deployment.predict}. */
export interface Prediction {
  readonly version: string;
  readonly classes: readonly string[];
  /** `[n, K]` probabilities. */
  readonly probabilities: Float32Array;
  readonly predictions: Int32Array;
  /** STRIP entropy and decision per record, when probed. */
  readonly strip?: { entropy: Float32Array; rejected: Uint8Array; threshold: number };
  /** Alerts raised by this request. */
  readonly alerts: readonly Trip[];
}

/** Options of {@link loadRegisteredVersion}. */
export interface LoadVersionOptions {
  /**
   * Verify the version's signature under this policy before loading (see
   * `registry/signature-policy.ts`); a refusal is recorded (audit entry, `signature` alert) in
   * `registry` when given, as `action` (default `model.load`) by `actor`, and thrown.
   */
  readonly signaturePolicy?: SignaturePolicy;
  readonly registry?: ModelRegistry;
  readonly action?: string;
  readonly actor?: string;
}

/**
 * Loads a registered version, of any kind (see `loadModel`; an ONNX model with the preprocessing
 * recorded at registration), after checking its files still hash to the registered root digest
 * (`INTEGRITY_MISMATCH` otherwise) and, with a signature policy, that its signature verifies
 * under it (`SIGNATURE_INVALID`, or `INTEGRITY_MISMATCH` for a replayed older signature).
 */
export async function loadRegisteredVersion(
  v: ModelVersion,
  options: LoadVersionOptions = {},
): Promise<Model> {
  await checkRegisteredFiles(v);
  if (options.signaturePolicy) {
    const check = await checkSignature(v, options.signaturePolicy);
    if (check.status === 'refused') {
      const action = options.action ?? 'model.load';
      if (options.registry) {
        const reg = options.registry;
        recordRefusal(check, v, action, options.actor ?? 'anonymous', {
          audit: (e) => appendAudit(reg.store, e),
          alert: (a) => void reg.recordAlert(a),
        });
      }
      throw signatureError(check, v, action);
    }
  }
  // An ONNX model's layout and normalisation, as registered.
  return loadModel(v.dir, v.info.preprocessing ? { onnx: v.info.preprocessing } : {});
}

/** `INTEGRITY_MISMATCH` unless the files of `v` still hash to its registered root digest. */
async function checkRegisteredFiles(v: ModelVersion): Promise<void> {
  const m = await modelManifest(v.dir);
  if (!digestEquals(m.rootDigest, v.rootDigest)) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `${v.dir} no longer matches registered version ${v.id} (files changed since registration)`,
      { path: v.dir, version: v.id },
    );
  }
}

/**
 * The production version of one model name, served with live monitoring. A monitor configured
 * with `rollback` rolls the registry back to the previous good version (audited as an automatic
 * rollback) and the deployment swaps models without dropping in-flight requests: requests that
 * started on the old model finish on it, and it is disposed when the last one ends.
 */
export class Deployment {
  private current: Loaded | undefined;
  private swapping: Promise<void> | undefined;
  private readonly rng: Rng;
  private readonly sampler: ProbeSampler;
  private closed = false;
  private readonly queue: Pending[] = [];
  private flushing = false;
  private readonly maxBatchRecords: number;
  private readonly budget: ClientBudget;
  /** Versions refused on load, with the reason and when (see {@link Deployment.refuse}). */
  private readonly refusals = new Map<string, { message: string; at: number }>();
  /** Counters for `/metrics`. */
  readonly counters = {
    predictions: 0,
    records: 0,
    failures: 0,
    rollbacks: 0,
    alerts: 0,
    /** Rollbacks a monitor asked for but withheld for want of evidence from enough clients. */
    rollbacksWithheld: 0,
    /** Requests served but not observed by the monitors (their client was over its rate). */
    unobserved: 0,
  };

  private constructor(
    readonly registry: ModelRegistry,
    readonly name: string,
    readonly options: DeploymentOptions,
  ) {
    this.rng = new Rng(options.seed ?? 0);
    this.sampler = new ProbeSampler(this.rng.fork('strip-sampling'));
    this.maxBatchRecords = options.maxBatchRecords ?? 256;
    this.budget = new ClientBudget(options.monitor.evidence.clientRecordsPerMinute);
  }

  /** Loads the production version of `name`; `INVALID_STATE` when there is none. */
  static async start(
    registry: ModelRegistry,
    name: string,
    options: DeploymentOptions,
  ): Promise<Deployment> {
    const d = new Deployment(registry, name, options);
    const v = registry.production(name);
    if (!v) {
      throw new AntidoteError(
        'INVALID_STATE',
        `model ${name} has no production version; promote one first`,
        {
          name,
        },
      );
    }
    d.current = await d.load(v);
    options.onEvent?.({ type: 'loaded', version: v.id });
    return d;
  }

  /** The version being served. */
  get version(): ModelVersion {
    return this.current!.version;
  }

  /**
   * The served model: what it reads (its raw `input` and `domain`), the shape of its
   * representation (`inputShape`, what {@link Deployment.predict} takes) and its classes.
   */
  get signature(): {
    domain: ModelDomain;
    input: ModelInput;
    inputShape: readonly number[];
    classes: readonly string[];
  } {
    const m = this.current!.model;
    return {
      domain: m.domain,
      input: m.input,
      inputShape: m.classifier.inputShape,
      classes: m.classes,
    };
  }

  /**
   * The value range every number of a raw tensor or tabular record must fall in, or undefined
   * (text models, or no reference to learn it from): [0, 1] for models that read pixels (every
   * image model reads [0, 1]; an ONNX model scales it itself), else the reference sample's range
   * widened by its span on each side. Records outside it are refused before they reach the model
   * or its monitors ({@link Deployment.checkRecords}).
   */
  get inputRange(): readonly [number, number] | undefined {
    return this.current!.range;
  }

  /**
   * Throws unless every value of `records` is finite as a float32 (`NON_FINITE_VALUE`: 1e39 or
   * 1e308 parse as JSON numbers but overflow the model's float32) and inside
   * {@link Deployment.inputRange} (`INVALID_ARGUMENT`), naming the first bad value as
   * `where[i][j]`.
   */
  checkRecords(records: Dataset, where = 'inputs'): void {
    const x = records.x;
    const n = numRecords(records);
    if (n === 0 || x.length === 0) return;
    const dim = x.length / n;
    const range = this.current?.range;
    for (let k = 0; k < x.length; k++) {
      const v = x[k]!;
      const at = `${where}[${Math.floor(k / dim)}][${k % dim}]`;
      if (!Number.isFinite(v) || Math.abs(v) > FLOAT32_MAX) {
        throw new AntidoteError(
          'NON_FINITE_VALUE',
          `${at} is not a finite float32 value (magnitude at most ${FLOAT32_MAX})`,
          { field: at },
        );
      }
      if (range && (v < range[0] || v > range[1])) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `${at} = ${v} is outside the model's input range [${range[0]}, ${range[1]}]`,
          { field: at },
        );
      }
    }
  }

  /** The monitor of the version being served. */
  get monitor(): LiveMonitor {
    return this.current!.monitor;
  }

  /**
   * Loads `v` (digest check, then the signature under the project's policy, read afresh each
   * time). A refusal (`SIGNATURE_INVALID` / `INTEGRITY_MISMATCH`) is recorded once per version and
   * reason ({@link Deployment.refuse}) and rethrown.
   */
  private async load(v: ModelVersion, action = 'model.load'): Promise<Loaded> {
    let model: Model;
    try {
      const policy = await projectSignaturePolicy(this.registry.store.projectDir);
      // A version registered on another machine: its files fetched from the store.
      const here = await this.registry.local(v);
      model = await loadRegisteredVersion(here, policy ? { signaturePolicy: policy } : {});
    } catch (e) {
      if (isRefusal(e)) this.refuse(v, action, e);
      throw e;
    }
    this.refusals.delete(v.id);
    try {
      return await this.prepare(v, model);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /**
   * Records that `v` was refused on load: an audit entry (`action`, outcome `error`), a critical
   * alert (`signature`, or `integrity` for changed files) that the dashboard lists, and a
   * `refused` event; once per version and reason (the server retries every `refusalRetryMs`).
   */
  private refuse(v: ModelVersion, action: string, e: AntidoteError): void {
    const last = this.refusals.get(v.id);
    this.refusals.set(v.id, { message: e.message, at: Date.now() });
    if (last?.message === e.message) return;
    const tamper = typeof e.details.tamper === 'string' ? e.details.tamper : undefined;
    const monitor = tamper ? 'signature' : 'integrity';
    const details = {
      refused: monitor,
      code: e.code,
      reason: e.message,
      dir: v.dir,
      ...(tamper ? { tamper } : {}),
    };
    appendAudit(this.registry.store, {
      actor: this.options.actor ?? 'antidote-serve',
      action,
      subject: `model:${v.id}`,
      outcome: 'error',
      digests: { root: v.rootDigest },
      details,
    });
    this.registry.recordAlert({
      name: this.name,
      versionId: v.id,
      monitor,
      severity: 'critical',
      message: `${action} refused: ${e.message}`,
      details: { action, ...details },
    });
    this.options.onEvent?.({ type: 'refused', version: v.id, code: e.code, message: e.message });
  }

  /** The monitors of a freshly loaded version (reference featurized by its model). */
  private async prepare(v: ModelVersion, model: Model): Promise<Loaded> {
    const dim = model.classifier.inputShape.reduce((a, b) => a * b, 1);
    const raw = this.options.reference;
    const monitoring = this.options.monitoring !== false;
    let strip: StripProbe | undefined;
    let reference: ConstructorParameters<typeof LiveMonitor>[1];
    if (raw && monitoring) {
      const ref = model.featurize(raw);
      const rdim = ref.shape.slice(1).reduce((a, b) => a * b, 1);
      if (rdim !== dim) {
        throw new AntidoteError(
          'SHAPE_MISMATCH',
          `reference records have ${rdim} features but ${v.id} takes ${dim}`,
        );
      }
      const n = numRecords(ref);
      reference = {
        x: ref.x,
        n,
        dim,
        predictions: await model.classifier.predict(ref.x, n),
        numClasses: model.classifier.numClasses,
      };
      strip = await this.calibrateStrip(v, model, ref.x, n);
    }
    const range = inputRangeOf(model, raw);
    const off = <T extends { enabled: boolean }>(c: T): T => ({ ...c, enabled: false });
    const config = this.options.monitor;
    return {
      version: v,
      model,
      monitor: new LiveMonitor(
        monitoring
          ? { ...config, ...(model.capabilities.pixels ? {} : { strip: off(config.strip) }) }
          : {
              ...config,
              inputDrift: off(config.inputDrift),
              predictionDrift: off(config.predictionDrift),
              strip: off(config.strip),
              errorRate: off(config.errorRate),
            },
        reference,
      ),
      ...(strip ? { strip } : {}),
      ...(range ? { range } : {}),
      dim,
      inFlight: 0,
      retired: false,
    };
  }

  /**
   * The STRIP probe of `model` when configured. STRIP superimposes images (Gao et al. 2019), so
   * it runs for models whose records are pixels only; for text and tabular models it is off,
   * said once by a `notice` event.
   */
  private async calibrateStrip(
    v: ModelVersion,
    model: Model,
    x: Float32Array,
    n: number,
  ): Promise<StripProbe | undefined> {
    const sc = this.options.monitor.strip;
    if (!sc.enabled) return undefined;
    if (!model.capabilities.pixels) {
      this.options.onEvent?.({
        type: 'notice',
        version: v.id,
        message: `the STRIP monitor superimposes images: off for ${v.id}, a ${model.domain} model (drift and error-rate monitors stay on)`,
      });
      return undefined;
    }
    return StripProbe.calibrate(
      model.classifier,
      { x, n },
      { seed: this.rng.nextSeed(), frr: sc.frr, overlays: sc.overlays },
    );
  }

  private release(l: Loaded): void {
    l.inFlight--;
    if (l.retired && l.inFlight === 0) l.model.dispose();
  }

  /**
   * Predicts `n` records of `x` (already in the model's representation: see
   * {@link Deployment.signature}) with the production model, runs the monitors and acts on what
   * they find (alert stored; rollback when configured). Concurrent calls are batched into one
   * forward pass (and one STRIP pass) while the previous batch runs: dynamic batching, each
   * request still observed by the monitors on its own.
   */
  predict(x: Float32Array, n: number, client: RequestClient = LOCAL_CLIENT): Promise<Prediction> {
    const l = this.current!;
    if (!this.closed && (x.length !== n * l.dim || n < 1)) {
      return Promise.reject(
        new AntidoteError(
          'SHAPE_MISMATCH',
          `expected ${n} records of ${l.dim} features (${l.model.classifier.inputShape.join('×')})`,
        ),
      );
    }
    for (let k = 0; k < x.length; k++) {
      if (!Number.isFinite(x[k]!)) {
        return Promise.reject(
          new AntidoteError('NON_FINITE_VALUE', `feature ${k} of the batch is not finite`),
        );
      }
    }
    return this.enqueue({ x, n, observeAs: this.observeAs(client, n) });
  }

  /**
   * {@link Deployment.predict} for raw records (images, text or tabular rows, e.g. from
   * `parseModelRecords`), featurized by the model that serves them: a request queued across a
   * swap is read by the new version's featurizer.
   */
  predictRecords(records: Dataset, client: RequestClient = LOCAL_CLIENT): Promise<Prediction> {
    const n = numRecords(records);
    if (n < 1) {
      return Promise.reject(new AntidoteError('INVALID_ARGUMENT', 'no records to predict'));
    }
    try {
      this.checkRecords(records);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue({ raw: records, n, observeAs: this.observeAs(client, n) });
  }

  /**
   * How the monitors see `n` records of `client`: undefined when the client is over its rate
   * (`evidence.clientRecordsPerMinute`: served, not observed), else its key when it is trusted
   * (authenticated, or any caller with `evidence.unauthenticated`), or '' (observed, but no
   * evidence for a rollback).
   */
  private observeAs(client: RequestClient, n: number): string | undefined {
    const key = `${client.authenticated ? 'principal' : 'address'}:${client.id}`;
    if (!this.budget.take(key, n)) {
      this.counters.unobserved++;
      return undefined;
    }
    return client.authenticated || this.options.monitor.evidence.unauthenticated ? key : '';
  }

  private enqueue(p: Omit<Pending, 'resolve' | 'reject'>): Promise<Prediction> {
    if (this.closed) {
      return Promise.reject(new AntidoteError('INVALID_STATE', 'the deployment is closed'));
    }
    return new Promise<Prediction>((resolve, reject) => {
      this.queue.push({ ...p, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch: Pending[] = [];
      let records = 0;
      while (
        this.queue.length > 0 &&
        (batch.length === 0 || records + this.queue[0]!.n <= this.maxBatchRecords)
      ) {
        const p = this.queue.shift()!;
        batch.push(p);
        records += p.n;
      }
      await this.runBatch(batch, records);
    }
    this.flushing = false;
  }

  /**
   * The features of each request of `batch` for `l`'s model; a request it cannot read is
   * rejected on its own (counted as a failure) and left out.
   */
  private featuresOf(l: Loaded, batch: Pending[]): { p: Pending; x: Float32Array }[] {
    const out: { p: Pending; x: Float32Array }[] = [];
    for (const p of batch) {
      try {
        const x = p.raw ? l.model.featurize(p.raw).x : p.x!;
        if (x.length !== p.n * l.dim) {
          throw new AntidoteError(
            'SHAPE_MISMATCH',
            `expected ${p.n} records of ${l.dim} features (${l.model.classifier.inputShape.join('×')})`,
          );
        }
        out.push({ p, x });
      } catch (e) {
        this.counters.failures++;
        if (p.observeAs !== undefined) this.act(l, l.monitor.observeError(p.observeAs));
        p.reject(e);
      }
    }
    return out;
  }

  private async runBatch(pending: Pending[], _records: number): Promise<void> {
    const l = this.current!;
    l.inFlight++;
    let batch: { p: Pending; x: Float32Array }[] = [];
    const results: { p: Pending; r: Omit<Prediction, 'alerts'>; trips: Trip[] }[] = [];
    try {
      batch = this.featuresOf(l, pending);
      if (batch.length === 0) return;
      const records = batch.reduce((s, b) => s + b.p.n, 0);
      const x = concat(
        batch.map((b) => b.x),
        records * l.dim,
      );
      const probabilities = await l.model.classifier.predictProba(x, records);
      const k = l.model.classifier.numClasses;
      // STRIP on the sampled requests, in one pass.
      const rate = l.strip ? l.monitor.stripSampleRate() : 0;
      const sampled = batch.map((b) => b.p.observeAs !== undefined && this.sampler.next(rate));
      const strip = await this.stripScore(
        l,
        batch.filter((_, i) => sampled[i]).map((b) => b.x),
      );
      let at = 0;
      let sAt = 0;
      for (let b = 0; b < batch.length; b++) {
        const { p, x: px } = batch[b]!;
        const probs = probabilities.slice(at * k, (at + p.n) * k);
        const predictions = argmaxRows(probs, p.n, k);
        at += p.n;
        let ps: Prediction['strip'];
        if (strip && sampled[b]) {
          ps = {
            entropy: strip.entropy.slice(sAt, sAt + p.n),
            rejected: strip.rejected.slice(sAt, sAt + p.n),
            threshold: l.strip!.threshold,
          };
          sAt += p.n;
        }
        const trips =
          p.observeAs === undefined
            ? []
            : l.monitor.observe({
                x: px,
                n: p.n,
                predictions,
                client: p.observeAs,
                ...(ps ? { stripRejected: ps.rejected, stripEntropy: ps.entropy } : {}),
              });
        this.counters.predictions++;
        this.counters.records += p.n;
        results.push({
          p,
          r: {
            version: l.version.id,
            classes: l.model.classes,
            probabilities: probs,
            predictions,
            ...(ps ? { strip: ps } : {}),
          },
          trips,
        });
      }
    } catch (e) {
      for (const { p } of batch) {
        this.counters.failures++;
        if (p.observeAs !== undefined) this.act(l, l.monitor.observeError(p.observeAs));
        p.reject(e);
      }
      return;
    } finally {
      this.release(l);
    }
    for (const { p, r, trips } of results) {
      this.act(l, trips);
      p.resolve({ ...r, alerts: trips });
    }
  }

  /** STRIP entropies and decisions of the sampled requests' records, in one pass. */
  private async stripScore(
    l: Loaded,
    xs: Float32Array[],
  ): Promise<{ entropy: Float32Array; rejected: Uint8Array } | undefined> {
    const records = xs.reduce((s, x) => s + x.length, 0) / l.dim;
    if (!l.strip || records === 0) return undefined;
    return l.strip.score(
      { x: concat(xs, records * l.dim), n: records },
      { earlyAccept: l.monitor.config.strip.earlyAccept },
    );
  }

  /**
   * Records a request that failed before reaching the model (bad input): error-rate monitor,
   * within `client`'s rate like any observation.
   */
  recordFailure(client: RequestClient = LOCAL_CLIENT): void {
    this.counters.failures++;
    const as = this.observeAs(client, 1);
    if (this.current && as !== undefined) {
      this.act(this.current, this.current.monitor.observeError(as));
    }
  }

  private act(l: Loaded, trips: readonly Trip[]): void {
    if (l.monitor.snapshotDue()) {
      this.registry.recordSnapshot(this.name, l.version.id, l.monitor.metrics());
    }
    for (const t of trips) {
      this.counters.alerts++;
      this.registry.recordAlert({
        name: this.name,
        versionId: l.version.id,
        monitor: t.monitor,
        severity: t.severity,
        message: t.message,
        value: t.value,
        threshold: t.threshold,
        details: { ...t.details, rollback: t.rollback },
      });
      this.options.onEvent?.({ type: 'alert', version: l.version.id, trip: t });
    }
    for (const t of trips) {
      if (!t.rollback || tripMayRollBack(t)) continue;
      this.counters.rollbacksWithheld++;
      this.options.onEvent?.({
        type: 'notice',
        version: l.version.id,
        message: `monitor ${t.monitor} asks for a rollback, withheld: its window holds records of ${t.evidence.clients} trusted client(s), ${t.evidence.required} needed (authenticated callers count; see the monitor config's evidence section)`,
      });
    }
    const trip = trips.find(tripMayRollBack);
    if (trip && l === this.current && !this.swapping) {
      this.registry.recordSnapshot(this.name, l.version.id, l.monitor.metrics());
      this.swapping = this.autoRollback(l, trip).finally(() => {
        this.swapping = undefined;
      });
    }
  }

  private async autoRollback(l: Loaded, trip: Trip): Promise<void> {
    const reason = `monitor ${trip.monitor} tripped: ${trip.message}`;
    try {
      const target = this.registry.rollbackTarget(this.name);
      if (!target) {
        this.options.onEvent?.({
          type: 'error',
          message: `cannot roll back ${this.name}: no earlier good version`,
        });
        return;
      }
      // Load first, so a broken (or unsigned, tampered) target never replaces a working model.
      const next = await this.load(target, 'model.rollback.auto');
      const r = await this.registry.rollback(this.name, {
        actor: this.options.actor ?? 'antidote-serve',
        reason,
        automatic: true,
        to: target.id,
        details: { monitor: trip.monitor, value: trip.value, threshold: trip.threshold },
      });
      this.swap(next);
      this.counters.rollbacks++;
      this.options.onEvent?.({ type: 'rollback', from: l.version.id, to: r.to.id, reason });
    } catch (e) {
      this.options.onEvent?.({ type: 'error', message: (e as Error).message });
    }
  }

  private swap(next: Loaded): void {
    const old = this.current;
    this.current = next;
    if (old) {
      old.retired = true;
      if (old.inFlight === 0) old.model.dispose();
    }
  }

  /**
   * Follows the registry: when another process changed the production version (a CLI promote
   * or rollback), loads it and swaps. Returns true when the served version changed.
   */
  async sync(): Promise<boolean> {
    if (this.swapping) await this.swapping;
    const v = this.registry.production(this.name);
    if (!v || v.id === this.current?.version.id) return false;
    const refused = this.refusals.get(v.id);
    if (refused && Date.now() - refused.at < (this.options.refusalRetryMs ?? 30_000)) return false;
    let loaded = false;
    const work = (async () => {
      try {
        const next = await this.load(v);
        this.swap(next);
        loaded = true;
        this.options.onEvent?.({ type: 'loaded', version: v.id });
      } catch (e) {
        // A refused version is recorded (once) and not served; the current model stays.
        if (!isRefusal(e)) throw e;
      }
    })();
    this.swapping = work.finally(() => {
      this.swapping = undefined;
    });
    await this.swapping;
    return loaded;
  }

  /** Waits for queued predictions and a pending swap (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.flushing || this.swapping) {
      if (this.swapping) await this.swapping;
      else await new Promise((r) => setImmediate(r));
    }
  }

  /** Stops serving and frees the model (after in-flight requests). */
  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    if (this.current) {
      this.current.retired = true;
      if (this.current.inFlight === 0) this.current.model.dispose();
    }
  }
}

/**
 * The raw value range of `model`'s tensor and tabular records (see `Deployment.inputRange`):
 * [0, 1] for pixels, the reference's range widened by its span on each side otherwise, none for
 * text or without a reference.
 */
function inputRangeOf(model: Model, reference: Dataset | undefined): [number, number] | undefined {
  if (model.input.kind === 'text') return undefined;
  if (model.capabilities.pixels) return [0, 1];
  if (!reference || reference.x.length === 0) return undefined;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of reference.x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = Math.max(hi - lo, 1);
  return [lo - span, hi + span];
}

/** True for the errors of a load refused by the digest or signature check. */
function isRefusal(e: unknown): e is AntidoteError {
  return (
    e instanceof AntidoteError &&
    (e.code === 'SIGNATURE_INVALID' || e.code === 'INTEGRITY_MISMATCH')
  );
}

/** The arrays of `parts` end to end (`parts[0]` itself when it is the only one). */
function concat(parts: readonly Float32Array[], length: number): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(length);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The argmax of each of the `n` rows of `k` probabilities (first maximum on ties). */
function argmaxRows(probs: Float32Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j]! > probs[i * k + best]!) best = j;
    out[i] = best;
  }
  return out;
}
