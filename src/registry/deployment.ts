import type { Dataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { TfClassifier } from '../engine/tf-classifier.js';
import { AntidoteError } from '../errors.js';
import { digestEquals } from '../integrity/hash.js';
import { createManifest } from '../integrity/manifest.js';
import { StripProbe } from './backdoor-probe.js';
import type { ModelRegistry, ModelVersion } from './model-registry.js';
import { LiveMonitor, type MonitorConfig, type Trip } from './monitor.js';
import { ProbeSampler } from './probe-sampler.js';

/** Something that happened while serving (for logs; the library never prints). */
export type DeploymentEvent =
  | { type: 'loaded'; version: string }
  | { type: 'alert'; version: string; trip: Trip }
  | { type: 'rollback'; from?: string; to: string; reason: string }
  | { type: 'error'; message: string };

/** Options of {@link Deployment.start}. */
export interface DeploymentOptions {
  /** Clean reference sample (drift reference, STRIP pool and calibration). */
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
}

/** A loaded model version with its monitors and a count of requests using it. */
interface Loaded {
  readonly version: ModelVersion;
  readonly model: TfClassifier;
  readonly monitor: LiveMonitor;
  readonly strip?: StripProbe;
  readonly dim: number;
  inFlight: number;
  retired: boolean;
}

/** A queued predict call. */
interface Pending {
  readonly x: Float32Array;
  readonly n: number;
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

/**
 * Loads the files of a registered version after checking they still hash to the registered
 * root digest (`INTEGRITY_MISMATCH` otherwise).
 */
export async function loadRegisteredModel(v: ModelVersion): Promise<TfClassifier> {
  const m = await createManifest(v.dir);
  if (!digestEquals(m.rootDigest, v.rootDigest)) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `${v.dir} no longer matches registered version ${v.id} (files changed since registration)`,
      { path: v.dir, version: v.id },
    );
  }
  return TfClassifier.load(v.dir);
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
  /** Counters for `/metrics`. */
  readonly counters = { predictions: 0, records: 0, failures: 0, rollbacks: 0, alerts: 0 };

  private constructor(
    readonly registry: ModelRegistry,
    readonly name: string,
    readonly options: DeploymentOptions,
  ) {
    this.rng = new Rng(options.seed ?? 0);
    this.sampler = new ProbeSampler(this.rng.fork('strip-sampling'));
    this.maxBatchRecords = options.maxBatchRecords ?? 256;
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

  /** The served model's input shape and classes. */
  get signature(): { inputShape: readonly number[]; classes: readonly string[] } {
    return { inputShape: this.current!.model.inputShape, classes: this.current!.model.classes };
  }

  /** The monitor of the version being served. */
  get monitor(): LiveMonitor {
    return this.current!.monitor;
  }

  private async load(v: ModelVersion): Promise<Loaded> {
    const model = await loadRegisteredModel(v);
    const dim = model.inputShape.reduce((a, b) => a * b, 1);
    const ref = this.options.reference;
    const monitoring = this.options.monitoring !== false;
    let strip: StripProbe | undefined;
    let reference: ConstructorParameters<typeof LiveMonitor>[1];
    if (ref && monitoring) {
      const rdim = ref.shape.slice(1).reduce((a, b) => a * b, 1);
      if (rdim !== dim) {
        model.dispose();
        throw new AntidoteError(
          'SHAPE_MISMATCH',
          `reference records have ${rdim} features but ${v.id} takes ${dim}`,
        );
      }
      const n = ref.y.length;
      reference = {
        x: ref.x,
        n,
        dim,
        predictions: await model.predict(ref.x, n),
        numClasses: model.numClasses,
      };
      const sc = this.options.monitor.strip;
      if (sc.enabled) {
        strip = await StripProbe.calibrate(
          model,
          { x: ref.x, n },
          { seed: this.rng.nextSeed(), frr: sc.frr, overlays: sc.overlays },
        );
      }
    }
    return {
      version: v,
      model,
      monitor: new LiveMonitor(
        monitoring
          ? this.options.monitor
          : {
              ...this.options.monitor,
              inputDrift: { ...this.options.monitor.inputDrift, enabled: false },
              predictionDrift: { ...this.options.monitor.predictionDrift, enabled: false },
              strip: { ...this.options.monitor.strip, enabled: false },
              errorRate: { ...this.options.monitor.errorRate, enabled: false },
            },
        reference,
      ),
      ...(strip ? { strip } : {}),
      dim,
      inFlight: 0,
      retired: false,
    };
  }

  private release(l: Loaded): void {
    l.inFlight--;
    if (l.retired && l.inFlight === 0) l.model.dispose();
  }

  /**
   * Predicts `n` records of `x` with the production model, runs the monitors and acts on what
   * they find (alert stored; rollback when configured). Concurrent calls are batched into one
   * forward pass (and one STRIP pass) while the previous batch runs: dynamic batching, each
   * request still observed by the monitors on its own.
   */
  predict(x: Float32Array, n: number): Promise<Prediction> {
    if (this.closed) {
      return Promise.reject(new AntidoteError('INVALID_STATE', 'the deployment is closed'));
    }
    const l = this.current!;
    if (x.length !== n * l.dim || n < 1) {
      return Promise.reject(
        new AntidoteError(
          'SHAPE_MISMATCH',
          `expected ${n} records of ${l.dim} features (${l.model.inputShape.join('×')})`,
        ),
      );
    }
    return new Promise<Prediction>((resolve, reject) => {
      this.queue.push({ x, n, resolve, reject });
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
        (batch.length === 0 || records + this.queue[0].n <= this.maxBatchRecords)
      ) {
        const p = this.queue.shift()!;
        batch.push(p);
        records += p.n;
      }
      await this.runBatch(batch, records);
    }
    this.flushing = false;
  }

  private async runBatch(batch: Pending[], records: number): Promise<void> {
    const l = this.current!;
    l.inFlight++;
    const results: { p: Pending; r: Omit<Prediction, 'alerts'>; trips: Trip[] }[] = [];
    try {
      const x = batch.length === 1 ? batch[0].x : new Float32Array(records * l.dim);
      if (batch.length > 1) {
        let o = 0;
        for (const p of batch) {
          x.set(p.x, o);
          o += p.x.length;
        }
      }
      const probabilities = await l.model.predictProba(x, records);
      const k = l.model.numClasses;
      // STRIP on the sampled requests, in one pass.
      const rate = l.strip ? l.monitor.stripSampleRate() : 0;
      const sampled = batch.map(() => this.sampler.next(rate));
      let strip: { entropy: Float32Array; rejected: Uint8Array } | undefined;
      const stripRecords = batch.reduce((s, p, i) => s + (sampled[i] ? p.n : 0), 0);
      if (l.strip && stripRecords > 0) {
        const sx = new Float32Array(stripRecords * l.dim);
        let o = 0;
        batch.forEach((p, i) => {
          if (sampled[i]) {
            sx.set(p.x, o);
            o += p.x.length;
          }
        });
        strip = await l.strip.score(
          { x: sx, n: stripRecords },
          { earlyAccept: l.monitor.config.strip.earlyAccept },
        );
      }
      let at = 0;
      let sAt = 0;
      for (let b = 0; b < batch.length; b++) {
        const p = batch[b];
        const probs = probabilities.slice(at * k, (at + p.n) * k);
        const predictions = new Int32Array(p.n);
        for (let i = 0; i < p.n; i++) {
          let best = 0;
          for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + best]) best = j;
          predictions[i] = best;
        }
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
        const trips = l.monitor.observe({
          x: p.x,
          n: p.n,
          predictions,
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
      for (const p of batch) {
        this.counters.failures++;
        this.act(l, l.monitor.observeError());
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

  /** Records a request that failed before reaching the model (bad input): error-rate monitor. */
  recordFailure(): void {
    this.counters.failures++;
    if (this.current) this.act(this.current, this.current.monitor.observeError());
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
    const trip = trips.find((t) => t.rollback);
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
      // Load first, so a broken target never replaces a working model.
      const next = await this.load(target);
      const r = this.registry.rollback(this.name, {
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
    const work = (async () => {
      const next = await this.load(v);
      this.swap(next);
      this.options.onEvent?.({ type: 'loaded', version: v.id });
    })();
    this.swapping = work.finally(() => {
      this.swapping = undefined;
    });
    await this.swapping;
    return true;
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
