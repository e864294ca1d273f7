import { z } from 'zod';
import { parseWith } from '../util/schema.js';
import {
  featureGroupMeans,
  histogram,
  ksCritical,
  ksStatisticSorted,
  psiFromCounts,
  quantileEdges,
} from './drift.js';

/**
 * Monitors on live traffic: input drift (PSI and KS per feature group against a reference
 * sample), prediction-distribution drift (PSI of predicted classes), STRIP rejections (share of
 * recent requests STRIP rejected: low entropy under superimposition with the input's own class
 * winning the blends, likely triggered inputs, Gao et al. 2019; see `backdoor-probe.ts`) and the
 * error rate. Each monitor has its own sliding window and thresholds; STRIP and the error rate
 * have a `rollback` switch saying whether tripping them rolls the model back. Drift alerts are
 * warnings and never roll back: a shifted input distribution is not a backdoor.
 *
 * Anyone who can reach the port can send requests, so a trip is only evidence enough for an
 * automatic rollback when it rests on traffic an outsider cannot fabricate cheaply (issue 19,
 * item 1): the `evidence` section names how many distinct trusted clients (authenticated
 * callers; unauthenticated addresses only when `evidence.unauthenticated` is on) must have
 * contributed to the window that tripped. Alerts are raised either way; only the rollback waits
 * for that evidence.
 */

const window = (d: number) => z.number().int().min(1).max(1_000_000).default(d);
/**
 * The `rollback` switch of a drift monitor: accepted for old configurations, only as false. A
 * shifted input distribution is no evidence that the model is compromised (issue 21, item 4), so
 * drift alerts are warnings and never roll back; STRIP (`strip.rollback`) is the monitor that can.
 */
const noRollback = z
  .boolean()
  .default(false)
  .refine((v) => v === false, {
    message: 'drift monitors never roll back (drift is not evidence of a backdoor); remove it',
  });
const share = (d: number) => z.number().min(0).max(1).default(d);

/** Zod schema of the monitoring configuration (all fields have defaults). */
export const monitorConfigSchema = z.strictObject({
  /** Minimum records between two evaluations of the drift monitors. */
  evaluateEvery: window(25),
  /** Records between two stored snapshots (monitoring charts). */
  snapshotEvery: window(50),
  /** Records after an alert before the same monitor may alert again. */
  cooldown: window(100),
  inputDrift: z
    .strictObject({
      enabled: z.boolean().default(true),
      window: window(200),
      minSamples: window(50),
      /** Feature groups (contiguous ranges) compared separately. */
      groups: z.number().int().min(1).max(1024).default(8),
      bins: z.number().int().min(2).max(100).default(10),
      psiThreshold: z.number().positive().default(0.25),
      /** KS test level; a group trips when both PSI and KS exceed their thresholds. */
      ksAlpha: z.number().gt(0).lt(1).default(0.001),
      rollback: noRollback,
    })
    .prefault({}),
  predictionDrift: z
    .strictObject({
      enabled: z.boolean().default(true),
      window: window(200),
      minSamples: window(50),
      psiThreshold: z.number().positive().default(0.25),
      rollback: noRollback,
    })
    .prefault({}),
  strip: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Clean inputs superimposed per request record. */
      overlays: z.number().int().min(1).max(64).default(8),
      /** False rejection rate the entropy threshold is calibrated for. */
      frr: z.number().gt(0).lt(0.5).default(0.05),
      /**
       * Share of records probed while traffic looks clean (1 = every record). Probing is the
       * monitor's main cost (N extra forward passes per probed record), so by default a quarter
       * of the records are probed until rejections make the traffic suspicious (`escalateAfter`).
       */
      sampleRate: share(0.25),
      /**
       * Probe every record while at least this many of the last `window` probed records were
       * rejected. Clean traffic at the default 5% FRR reaches 3 of 20 in about 7.5% of windows;
       * triggered traffic reaches it after a few probes, and from then on every record is probed.
       */
      escalateAfter: z.number().int().min(1).max(1_000_000).default(3),
      /**
       * Exact early acceptance (`stripDetect`'s `earlyAccept`): overlays in stages of two, an
       * input accepted once its entropies reach N × threshold. Same decisions, about half the
       * forward passes on clean traffic; the entropy kept for an input accepted early is the
       * mean over its evaluated overlays.
       */
      earlyAccept: z.boolean().default(true),
      window: window(20),
      minSamples: window(10),
      /** Trip when more than this share of the window is rejected. */
      maxRejectRate: share(0.3),
      rollback: z.boolean().default(true),
    })
    .prefault({}),
  evidence: z
    .strictObject({
      /**
       * Distinct trusted clients whose records must be in the window that tripped (for STRIP:
       * among its rejected records) before the trip may roll the model back.
       */
      minClients: z.number().int().min(1).max(10_000).default(3),
      /**
       * Records of one client the monitors observe per minute (a token bucket); records beyond
       * it are served but not observed, so one client cannot fill the windows.
       */
      clientRecordsPerMinute: z.number().int().min(1).max(100_000_000).default(600),
      /**
       * Whether unauthenticated callers (told apart by network address) count as trusted
       * clients. Off by default: an address is cheap to fake or multiply.
       */
      unauthenticated: z.boolean().default(false),
    })
    .prefault({}),
  errorRate: z
    .strictObject({
      enabled: z.boolean().default(true),
      window: window(100),
      minSamples: window(20),
      max: share(0.2),
      rollback: z.boolean().default(false),
    })
    .prefault({}),
});

/** Monitoring configuration with defaults applied. */
export type MonitorConfig = z.infer<typeof monitorConfigSchema>;

/** Validates a monitoring configuration; `INVALID_CONFIG` naming the field otherwise. */
export function parseMonitorConfig(raw: unknown, where = 'monitor config'): MonitorConfig {
  return parseWith(monitorConfigSchema, raw ?? {}, where, {
    code: 'INVALID_CONFIG',
    withField: true,
  });
}

/** The monitor names. */
export type MonitorName = 'input-drift' | 'prediction-drift' | 'strip' | 'error-rate';

/** A monitor that tripped. */
export interface Trip {
  readonly monitor: MonitorName;
  readonly severity: 'warning' | 'critical';
  readonly message: string;
  readonly value: number;
  readonly threshold: number;
  /** True when the configuration asks for a rollback on this monitor. */
  readonly rollback: boolean;
  /**
   * Distinct trusted clients behind the window that tripped, and how many the configuration
   * requires before a rollback (`evidence.minClients`): the rollback is withheld below that.
   */
  readonly evidence: { readonly clients: number; readonly required: number };
  readonly details: { readonly [key: string]: number | string };
}

/** The reference the drift monitors compare against. */
export interface MonitorReference {
  /** Reference inputs, `[n, dim]`. */
  readonly x: Float32Array;
  readonly n: number;
  readonly dim: number;
  /** Predicted class per reference record (by the model being monitored). */
  readonly predictions: Int32Array;
  readonly numClasses: number;
}

/** A fixed-capacity ring buffer of numbers. */
class Ring {
  private readonly buf: Float64Array;
  private start = 0;
  size = 0;
  constructor(readonly capacity: number) {
    this.buf = new Float64Array(capacity);
  }
  push(v: number): void {
    if (this.size < this.capacity) this.buf[(this.start + this.size++) % this.capacity] = v;
    else {
      this.buf[this.start] = v;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  values(): Float64Array {
    const out = new Float64Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.buf[(this.start + i) % this.capacity]!;
    return out;
  }
  sum(): number {
    let s = 0;
    for (let i = 0; i < this.size; i++) s += this.buf[(this.start + i) % this.capacity]!;
    return s;
  }
  mean(): number {
    let s = 0;
    for (let i = 0; i < this.size; i++) s += this.buf[(this.start + i) % this.capacity]!;
    return this.size ? s / this.size : 0;
  }
  clear(): void {
    this.start = 0;
    this.size = 0;
  }
}

/** A ring of client keys beside a window of samples ('' for an untrusted client). */
class KeyRing {
  private readonly buf: string[];
  private start = 0;
  size = 0;
  constructor(readonly capacity: number) {
    this.buf = new Array<string>(capacity).fill('');
  }
  push(k: string): void {
    if (this.size < this.capacity) this.buf[(this.start + this.size++) % this.capacity] = k;
    else {
      this.buf[this.start] = k;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  /** Distinct non-empty keys among the last `last` entries whose `keep(i)` holds (i from 0). */
  distinct(last: number, keep: (i: number) => boolean = () => true): number {
    const seen = new Set<string>();
    const from = Math.max(0, this.size - last);
    for (let i = from; i < this.size; i++) {
      const k = this.buf[(this.start + i) % this.capacity]!;
      if (k !== '' && keep(i - from)) seen.add(k);
    }
    return seen.size;
  }
}

/** What one served request contributes to the monitors. */
export interface Observation {
  /** Request features, `[n, dim]`. */
  readonly x: Float32Array;
  readonly n: number;
  readonly predictions: Int32Array;
  /** STRIP decision per probed record (1 = rejected), when probed. */
  readonly stripRejected?: Uint8Array;
  readonly stripEntropy?: Float32Array;
  /**
   * Key of the trusted client that sent the request (an authenticated principal, or an address
   * when unauthenticated clients count); absent or '' for an untrusted one.
   */
  readonly client?: string;
}

/**
 * The live-traffic monitors of one deployed model version. Feed it with {@link observe} and
 * {@link observeError}; each returns the monitors that tripped (at most once per cooldown).
 */
export class LiveMonitor {
  private readonly groups: Ring[];
  /** Per feature group: sorted reference values, PSI bin edges and reference bin counts. */
  private readonly refGroups: { sorted: Float64Array; edges: number[]; counts: Float64Array }[];
  private readonly preds: Ring;
  private readonly refCounts: Float64Array;
  private readonly strip: Ring;
  private readonly entropy: Ring;
  private readonly errors: Ring;
  /** Trusted client of each record of the drift windows, of each STRIP sample, of each request. */
  private readonly recordClients: KeyRing;
  private readonly stripClients: KeyRing;
  private readonly requestClients: KeyRing;
  private sinceEval = 0;
  private sinceSnapshot = 0;
  private readonly lastTrip = new Map<MonitorName, number>();
  /** Records observed so far. */
  records = 0;
  /** Requests observed (successful and failed). */
  requests = 0;
  failed = 0;
  private last: Record<string, number> = {};

  constructor(
    readonly config: MonitorConfig,
    readonly reference: MonitorReference | undefined,
  ) {
    const c = config;
    const g = reference ? Math.max(1, Math.min(c.inputDrift.groups, reference.dim)) : 0;
    this.groups = Array.from({ length: g }, () => new Ring(c.inputDrift.window));
    this.refGroups = reference
      ? featureGroupMeans(reference.x, reference.n, reference.dim, c.inputDrift.groups).map((v) => {
          const edges = quantileEdges(v, c.inputDrift.bins);
          return { sorted: v.slice().sort(), edges, counts: histogram(v, edges) };
        })
      : [];
    this.preds = new Ring(c.predictionDrift.window);
    this.refCounts = new Float64Array(reference?.numClasses ?? 0);
    if (reference) for (const p of reference.predictions) this.refCounts[p]!++;
    this.strip = new Ring(c.strip.window);
    this.entropy = new Ring(c.strip.window);
    this.errors = new Ring(c.errorRate.window);
    this.recordClients = new KeyRing(Math.max(c.inputDrift.window, c.predictionDrift.window));
    this.stripClients = new KeyRing(c.strip.window);
    this.requestClients = new KeyRing(c.errorRate.window);
  }

  /** Records a served request; returns the monitors that tripped. */
  observe(o: Observation): Trip[] {
    const client = o.client ?? '';
    this.requests++;
    this.records += o.n;
    this.sinceEval += o.n;
    this.sinceSnapshot += o.n;
    this.errors.push(0);
    this.requestClients.push(client);
    if (this.reference) {
      const means = featureGroupMeans(o.x, o.n, this.reference.dim, this.groups.length);
      for (let k = 0; k < this.groups.length; k++)
        for (const v of means[k]!) this.groups[k]!.push(v);
      for (const p of o.predictions) this.preds.push(p);
      for (let i = 0; i < o.n; i++) this.recordClients.push(client);
    }
    if (o.stripRejected) {
      for (const r of o.stripRejected) {
        this.strip.push(r);
        this.stripClients.push(client);
      }
    }
    if (o.stripEntropy) for (const h of o.stripEntropy) this.entropy.push(h);
    const trips: Trip[] = [];
    const s = this.checkStrip();
    if (s) trips.push(s);
    const e = this.checkErrors();
    if (e) trips.push(e);
    if (this.sinceEval >= this.config.evaluateEvery) {
      this.sinceEval = 0;
      trips.push(...this.checkDrift());
    }
    return trips.filter((t) => this.allow(t.monitor));
  }

  /** Records a failed request (bad input or server error); returns the monitors that tripped. */
  observeError(client = ''): Trip[] {
    this.requests++;
    this.failed++;
    this.errors.push(1);
    this.requestClients.push(client);
    const e = this.checkErrors();
    return e && this.allow(e.monitor) ? [e] : [];
  }

  private allow(m: MonitorName): boolean {
    const last = this.lastTrip.get(m);
    if (last !== undefined && this.records + this.requests - last < this.config.cooldown)
      return false;
    this.lastTrip.set(m, this.records + this.requests);
    return true;
  }

  /**
   * Share of the next records to probe with STRIP: 0 when the monitor is off, 1 while the
   * recent probes hold at least `escalateAfter` rejections, else `sampleRate`.
   */
  stripSampleRate(): number {
    const c = this.config.strip;
    if (!c.enabled) return 0;
    const escalated = this.strip.sum() >= c.escalateAfter;
    this.last.stripSampleRate = escalated ? 1 : c.sampleRate;
    return escalated ? 1 : c.sampleRate;
  }

  /** True (once per `snapshotEvery` records) when a snapshot is due. */
  snapshotDue(): boolean {
    if (this.sinceSnapshot < this.config.snapshotEvery) return false;
    this.sinceSnapshot = 0;
    return true;
  }

  /** The evidence of a trip: `clients` distinct trusted clients, against the configured minimum. */
  private evidence(clients: number): Trip['evidence'] {
    return { clients, required: this.config.evidence.minClients };
  }

  private checkStrip(): Trip | undefined {
    const c = this.config.strip;
    if (!c.enabled || this.strip.size < c.minSamples) return undefined;
    const rate = this.strip.mean();
    this.last.stripRejectRate = rate;
    this.last.stripMeanEntropy = this.entropy.mean();
    if (rate <= c.maxRejectRate) return undefined;
    return {
      monitor: 'strip',
      severity: 'critical',
      message: `STRIP rejected ${(rate * 100).toFixed(1)}% of the last ${this.strip.size} inputs (low prediction entropy under superimposition: likely backdoor triggers), above ${(c.maxRejectRate * 100).toFixed(1)}%`,
      value: rate,
      threshold: c.maxRejectRate,
      rollback: c.rollback,
      // Only the clients whose records were rejected are evidence of triggered inputs.
      evidence: this.evidence(this.stripRejectingClients()),
      details: { window: this.strip.size, meanEntropy: this.entropy.mean() },
    };
  }

  /** Distinct trusted clients among the rejected records of the STRIP window. */
  private stripRejectingClients(): number {
    const rejected = this.strip.values();
    return this.stripClients.distinct(rejected.length, (i) => rejected[i] === 1);
  }

  private checkErrors(): Trip | undefined {
    const c = this.config.errorRate;
    if (!c.enabled || this.errors.size < c.minSamples) return undefined;
    const rate = this.errors.mean();
    this.last.errorRate = rate;
    if (rate <= c.max) return undefined;
    return {
      monitor: 'error-rate',
      severity: 'warning',
      message: `${(rate * 100).toFixed(1)}% of the last ${this.errors.size} requests failed, above ${(c.max * 100).toFixed(1)}%`,
      value: rate,
      threshold: c.max,
      rollback: c.rollback,
      evidence: this.evidence(this.requestClients.distinct(this.errors.size)),
      details: { window: this.errors.size },
    };
  }

  private checkDrift(): Trip[] {
    const trips: Trip[] = [];
    const ref = this.reference;
    if (!ref) return trips;
    const ci = this.config.inputDrift;
    const first = this.groups[0];
    if (ci.enabled && first && first.size >= ci.minSamples) {
      let worst = { group: -1, psi: 0, ks: 0 };
      let maxPsi = 0;
      let maxKs = 0;
      const crit = ksCritical(ref.n, first.size, ci.ksAlpha);
      for (let k = 0; k < this.groups.length; k++) {
        const cur = this.groups[k]!.values();
        const ref = this.refGroups[k]!;
        const p = psiFromCounts(ref.counts, histogram(cur, ref.edges));
        const d = ksStatisticSorted(ref.sorted, cur);
        maxPsi = Math.max(maxPsi, p);
        maxKs = Math.max(maxKs, d);
        if (p > ci.psiThreshold && d > crit && p > worst.psi) worst = { group: k, psi: p, ks: d };
      }
      this.last.inputPsiMax = maxPsi;
      this.last.inputKsMax = maxKs;
      if (worst.group >= 0) {
        trips.push({
          monitor: 'input-drift',
          severity: 'warning',
          message: `input drift in feature group ${worst.group}: PSI ${worst.psi.toFixed(3)} > ${ci.psiThreshold} and KS ${worst.ks.toFixed(3)} > ${crit.toFixed(3)} (α=${ci.ksAlpha})`,
          value: worst.psi,
          threshold: ci.psiThreshold,
          rollback: false,
          evidence: this.evidence(this.recordClients.distinct(first.size)),
          details: { group: worst.group, ks: worst.ks, ksCritical: crit },
        });
      }
    }
    const cp = this.config.predictionDrift;
    if (cp.enabled && this.preds.size >= cp.minSamples) {
      const counts = new Float64Array(ref.numClasses);
      for (const p of this.preds.values()) counts[p]!++;
      const v = psiFromCounts(this.refCounts, counts);
      this.last.predictionPsi = v;
      if (v > cp.psiThreshold) {
        let top = 0;
        for (let k = 1; k < counts.length; k++) if (counts[k]! > counts[top]!) top = k;
        trips.push({
          monitor: 'prediction-drift',
          severity: 'warning',
          message: `predicted-class distribution drifted: PSI ${v.toFixed(3)} > ${cp.psiThreshold} (most predicted class ${top}: ${((counts[top]! / this.preds.size) * 100).toFixed(1)}%)`,
          value: v,
          threshold: cp.psiThreshold,
          rollback: false,
          evidence: this.evidence(this.recordClients.distinct(this.preds.size)),
          details: { topClass: top, window: this.preds.size },
        });
      }
    }
    return trips;
  }

  /** The latest measured values (for snapshots and `/metrics`). */
  metrics(): Record<string, number> {
    return {
      requests: this.requests,
      records: this.records,
      failed: this.failed,
      ...this.last,
    };
  }
}

/**
 * True when `t` may roll the model back: its monitor is configured to, and the window that
 * tripped holds records of at least `evidence.minClients` distinct trusted clients.
 */
export function tripMayRollBack(t: Trip): boolean {
  return t.rollback && t.evidence.clients >= t.evidence.required;
}
