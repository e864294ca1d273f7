import type { Dataset } from '../data/dataset.js';
import { concatDatasets } from '../data/transform.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { trustedContradicts } from './calibration.js';
import { type ClassPhaseRunner, classPhasedDetector, plainOptions } from './class-phases.js';
import {
  type ClassFinding,
  type DetectionProgress,
  type DetectionReport,
  STRONG_EVIDENCE,
} from './detector.js';
import { type DetectorContext, parseDetectorOptions } from './detector-entry.js';
import { detectorEntry } from './registry.js';
import { type SourceTrustReport, sourceTrust } from './source-trust.js';
import { confirmingReports, isStrong, type ScanVerdict, scanVerdict } from './verdict.js';

/**
 * The detectors run by default on feature data with a trained model (no retraining): activation
 * clustering with its calibrated decision (in both the robustly whitened and the PCA space), and
 * spectral signatures, graded on the same scale (issue 16). Measured on the detection matrix
 * (bench/detection-matrix.mjs, core grid, 60,000 records, cnn): Fashion-MNIST pattern 10% (ASR
 * 0.98) is found by both (AC in the PCA space, SS by its far tail), MNIST single pixel at 33% of
 * the class by AC's PCA space; the clean runs (MNIST seeds 1–5, Fashion-MNIST seeds 1–2) PASS
 * with nothing flagged. Not found by AC or SS (found by `tt`, below): Fashion-MNIST blend α 0.1 at 10% (ASR
 * 0.94) and image 1% (ASR 0.58), which the earlier SS statistic marked FAIL only through strong
 * findings in clean classes ("Trouser", "Sneaker"). SPECTRE stays out of the default set: on
 * MNIST its whitened top eigenvalue singles out the clean "1"s (about 200 clean records, strength
 * 7–14 on clean data). Every detector stays available (`--method ac,ss,spectre,sca`).
 * The arbitrary-label test (`ln`, `arbitrary-labels.ts`) covers label flips, which neither AC
 * nor SS reports (MNIST, 10% random flips: AC flagged 0), at the cost of one forward pass.
 * Low-variance cluster trigger transfer (`tt`, `trigger-transfer.ts`, images only) finds the
 * Fashion-MNIST blend and image-insert backdoors (seeds 1–3: F1 0.91–0.99, strong) and flags
 * nothing on the 20 cached clean runs (MNIST and Fashion-MNIST).
 */
export const DEFAULT_SCAN_METHODS = ['ac', 'ss', 'ln', 'tt'] as const;

/**
 * The default detectors for a scan with `context`: {@link DEFAULT_SCAN_METHODS} (without `tt`
 * for a text or tabular model), plus feature trigger discovery (`ft`) for a tabular model and keyword
 * discovery (`kw`) when the caller gives the raw text side of a text model — a text trigger is a
 * token, which keyword discovery finds where representation detectors may see nothing, and a
 * default that leaves it out would pass a working text backdoor.
 */
export function defaultScanMethods(context?: {
  readonly text?: unknown;
  readonly tabular?: unknown;
}): string[] {
  // Trigger transfer (`tt`) reads images: a text or tabular model's scan leaves it out (it would
  // abstain). A text trigger is a token (keyword discovery, `kw`); a tabular trigger is an exact
  // feature value (feature trigger discovery, `ft`), found the same way.
  const images = !context?.text && !context?.tabular;
  return [
    ...DEFAULT_SCAN_METHODS.filter((m) => images || m !== 'tt'),
    ...(context?.text ? ['kw'] : []),
    ...(context?.tabular ? ['ft'] : []),
  ];
}

/**
 * The detectors of an audit of the data in `context`: {@link defaultScanMethods}, plus trigger
 * reversal (`nc`, a fast Neural Cleanse with record attribution: `trigger-reversal.ts`) for
 * images. `nc` finds the clean-label and adaptive backdoors that the default scan passes
 * (Turner et al.'s clean-label backdoor at 10% of MNIST's target class, Adaptive-Blend/Patch at
 * 1%: docs/detectors.md), but it costs 11–65 s on 60,000 records against the scan's 10-second
 * budget, so it runs where that budget does not bind: the audit. It abstains on a model without
 * gradients (a raw ONNX Runtime session).
 */
export function auditScanMethods(context?: {
  readonly text?: unknown;
  readonly tabular?: unknown;
}): string[] {
  const methods = defaultScanMethods(context);
  return methods.includes('tt') ? [...methods, 'nc'] : methods;
}

/** One record's merged findings. */
export interface RecordFinding {
  readonly index: number;
  readonly id: string;
  readonly label: string;
  readonly source?: string;
  /** Detectors that flagged the record. */
  readonly flaggedBy: readonly string[];
  /** Each detector's score, as a percentile rank within its report (1 = most suspicious). */
  readonly rank: Readonly<Record<string, number>>;
  /** Mean percentile rank over detectors: the ordering of the report's suspicious list. */
  readonly suspicion: number;
}

/** One class's merged findings. */
export interface ClassScanFinding {
  readonly classIndex: number;
  readonly className: string;
  readonly count: number;
  /** Records of the class flagged by the merged decision. */
  readonly flagged: number;
  /** Detectors that judged the class poisoned, each with its reason. */
  readonly suspiciousBy: ReadonlyArray<{ method: string; reason: string }>;
  /** Every detector's reason for this class. */
  readonly reasons: ReadonlyArray<{ method: string; suspicious: boolean; reason: string }>;
}

/** Several detectors' reports on one dataset, merged per record and per class. */
export interface MergedScan {
  /** The reports' method names (e.g. `activation-clustering`), one per report. */
  readonly methods: readonly string[];
  /** The registry names the reports were run under (e.g. `ac`), one per report. */
  readonly detectors: readonly string[];
  readonly reports: readonly DetectionReport[];
  /**
   * A record is flagged when at least `quorum` detectors flag it, or when one flags it, at least
   * `quorum` detectors judged its class poisoned, and the other detectors rank it among the most
   * suspicious of its class (mean within-class percentile rank ≥ {@link CORROBORATION_RANK}).
   */
  readonly quorum: number;
  /** The merged decision per record. */
  readonly flagged: Uint8Array;
  /** Number of detectors flagging each record. */
  readonly votes: Uint8Array;
  /** Mean percentile rank per record (higher = more suspicious). */
  readonly suspicion: Float32Array;
  readonly perClass: readonly ClassScanFinding[];
  /**
   * Contamination per source (share flagged, share of each class's flagged records, the sources
   * to review: `source-trust.ts`), when the records carry a source.
   */
  readonly sources?: SourceTrustReport;
  /** The verdict (PASS / REVIEW / FAIL), its reason and evidence: see `verdict.ts`. */
  readonly verdict: ScanVerdict;
}

/** Options of {@link scanDataset}. */
export interface ScanOptions {
  /** Detector names (see `DETECTOR_NAMES`); default {@link DEFAULT_SCAN_METHODS}. */
  readonly methods?: readonly string[];
  /** Detectors that must agree to flag a record; default 2 when two or more run, else 1. */
  readonly quorum?: number;
  readonly seed: number;
  /**
   * Options passed to every detector: `layer` (the layer whose activations are analysed), and any
   * option of a detector's schema (each detector keeps the fields its schema names).
   */
  readonly detectorOptions?: Readonly<Record<string, unknown>>;
  /** What only the caller can provide: retraining like the model, the raw texts (text models). */
  readonly context?: Omit<DetectorContext, 'seed' | 'onProgress' | 'layer'>;
  /**
   * A trusted clean subset (a few records per class, same classes and record shape): scanned
   * with the data, it estimates each class's clean null. A detector's class finding that flags
   * the trusted records at least as often as the others is contradicted (see
   * `trustedContradicts` in `calibration.ts`): its flags in that class are dropped and its
   * strength is capped below `STRONG_EVIDENCE`. The trusted records never appear in the result.
   */
  readonly trusted?: Dataset;
  readonly onProgress?: (method: string, p: DetectionProgress) => void;
  /**
   * Runs the per-class phase of the class-phased detectors among `methods` (`class-phases.ts`:
   * `ac`, `ss`) elsewhere, all at once — the workers of a distributed scan
   * (`jobs/scan-jobs.ts`); their cross-class phase, the other detectors and the decision run
   * here. Ignored with a trusted subset (whose records only this process holds).
   */
  readonly classPhases?: ClassPhaseRunner;
}

/** Within-class percentile rank the other detectors must give a record flagged by only one. */
export const CORROBORATION_RANK = 0.9;

/** Percentile ranks in (0, 1] of `scores` (ties share the lower rank). */
export function percentileRanks(scores: Float32Array): Float32Array {
  return scores.length < RANK_KEY_RECORDS && !scores.some(Number.isNaN)
    ? keyedPercentileRanks(scores)
    : comparedPercentileRanks(scores);
}

/** Records below which {@link keyedPercentileRanks} packs a score and its index in one double. */
const RANK_KEY_RECORDS = 2 ** 21;

/**
 * {@link percentileRanks} by a numeric sort of doubles: each score's float32 bits, mapped to an
 * unsigned integer in the scores' order (−0 as +0), times 2²¹, plus the record's index — exact
 * below 2⁵³, so one native sort orders the records, and equal scores stay together. The very
 * ranks of {@link comparedPercentileRanks} (whose tie groups are the same sets of records) at a
 * fraction of its time: the decision ranks every detector's scores several times (measured:
 * 30 ms per ranking of 60,000 records with the comparator sort).
 */
function keyedPercentileRanks(scores: Float32Array): Float32Array {
  const n = scores.length;
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, n);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = bits[i]! === 0x80000000 ? 0 : bits[i]!;
    const u = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    keys[i] = u * RANK_KEY_RECORDS + i;
  }
  keys.sort();
  const ranks = new Float32Array(n);
  for (let i = 0; i < n; ) {
    const u = Math.floor(keys[i]! / RANK_KEY_RECORDS);
    let j = i;
    while (j + 1 < n && Math.floor(keys[j + 1]! / RANK_KEY_RECORDS) === u) j++;
    for (let k = i; k <= j; k++) ranks[keys[k]! - u * RANK_KEY_RECORDS] = (i + 1) / n;
    i = j + 1;
  }
  return ranks;
}

/** {@link percentileRanks} by a comparison sort (any length; NaN scores as the sort leaves them). */
function comparedPercentileRanks(scores: Float32Array): Float32Array {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  const ranks = new Float32Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]!] = (i + 1) / n;
    i = j + 1;
  }
  return ranks;
}

/**
 * Runs several poisoning detectors of the registry on `ds` with the model trained on it and
 * merges what they found (see {@link scanDecision}): a record is flagged when at least `quorum`
 * detectors flag it (agreement between methods built on different statistics — clustering,
 * spectral, robust covariance — keeps false positives down where any single one over-flags), and
 * it is ranked by its mean percentile rank. `antidote scan`, `antidote audit`, the deployment gate
 * and the demo all decide through this function, so the same data and model give the same
 * flagged set everywhere.
 */
export async function scanDataset(
  ds: Dataset,
  model: Classifier,
  options: ScanOptions,
): Promise<MergedScan> {
  const methods = [...(options.methods ?? defaultScanMethods(options.context))];
  const entries = methods.map((m) => detectorEntry(m)); // unknown names fail before any work
  const { layer, ...shared } = options.detectorOptions ?? {};
  const trusted = options.trusted;
  if (trusted) checkTrusted(ds, trusted);
  const scanned = trusted ? concatDatasets([ds, trusted]) : ds;
  const parsed = entries.map((entry) => parseDetectorOptions(entry, shared));
  const contexts = methods.map((method) => ({
    ...options.context,
    seed: options.seed,
    ...(typeof layer === 'string' ? { layer } : {}),
    ...(trusted ? { trusted } : {}),
    onProgress: (p: DetectionProgress) => options.onProgress?.(method, p),
  }));
  // Class-phased detectors whose per-class phase runs elsewhere (a distributed scan).
  const phased = methods.map((m) =>
    options.classPhases && !trusted ? classPhasedDetector(m) : undefined,
  );
  const detectorOptions = phased.map((d, k) => d?.options(parsed[k]!, contexts[k]!, ds));
  const remote = new Map<number, unknown[]>();
  const asked = phased.flatMap((d, k) =>
    d && (d.hasClassWork?.(detectorOptions[k]!) ?? true) ? [k] : [],
  );
  // The per-class phases start elsewhere; the detectors without one run here meanwhile (a
  // distributed scan's coordinator would otherwise wait idle, then run them after the workers),
  // then the cross-class phases. Each detector reads only its own inputs: the order changes
  // nothing in what they find.
  let onSubmitted = () => {};
  const submitted = new Promise<void>((resolve) => {
    onSubmitted = resolve;
  });
  const answers =
    asked.length > 0
      ? options.classPhases!(
          asked.map((k) => ({ method: methods[k]!, options: plainOptions(detectorOptions[k]!) })),
          { onSubmitted },
        )
      : undefined;
  answers?.catch(() => {}); // awaited below, or settled before a local failure is reported
  // The detectors run here hold the thread: the per-class jobs go out first (measured: `ln`
  // delayed the class phase's first job by ≈ 0.2 s while both workers waited).
  if (answers)
    await Promise.race([
      submitted,
      answers.then(
        () => {},
        () => {},
      ),
    ]);
  const reports = new Array<DetectionReport>(entries.length);
  try {
    for (const [k, entry] of entries.entries()) {
      if (!phased[k]) reports[k] = await entry.run(scanned, model, parsed[k]!, contexts[k]!);
    }
  } catch (e) {
    // No per-class job outlives the scan that asked for it.
    await answers?.catch(() => {});
    throw e;
  }
  if (answers) for (const [j, a] of (await answers).entries()) remote.set(asked[j]!, a);
  for (const [k, d] of phased.entries()) {
    if (!d) continue;
    reports[k] = await d.amongClasses(
      { y: ds.y, classes: ds.classes, ds },
      remote.get(k) ?? [],
      detectorOptions[k]!,
    );
  }
  return mergeReports(
    ds,
    trusted ? reports.map((r) => withTrustedNull(r, scanned.y, ds.y.length)) : reports,
    options.quorum,
    methods,
  );
}

/** Checks that a trusted subset matches the scanned data (classes, record shape). */
function checkTrusted(ds: Dataset, trusted: Dataset): void {
  const same =
    trusted.classes.length === ds.classes.length &&
    trusted.classes.every((c, i) => c === ds.classes[i]) &&
    trusted.shape.slice(1).join(',') === ds.shape.slice(1).join(',');
  if (!same || (ds.text === undefined) !== (trusted.text === undefined)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the trusted subset must have the scanned data's classes [${ds.classes.join(', ')}] and record shape [${ds.shape.slice(1).join(', ')}]; it has [${trusted.classes.join(', ')}] and [${trusted.shape.slice(1).join(', ')}]`,
    );
  }
}

/**
 * A report on the data plus a trusted clean subset (records `n..` of `y`), judged against the
 * trusted records and cut back to the data's `n` records: in a class where the detector flags the
 * trusted records at least as often as the rest, its flags are dropped and its strength capped
 * below the strong cut-off (the finding is what clean records of that class look like).
 */
export function withTrustedNull(
  report: DetectionReport,
  y: Int32Array,
  n: number,
): DetectionReport {
  const flagged = report.flagged.slice(0, n);
  const perClass: ClassFinding[] = report.perClass.map((f) => {
    let t = 0;
    let ft = 0;
    let r = 0;
    let fr = 0;
    for (let i = 0; i < y.length; i++) {
      if (y[i] !== f.classIndex) continue;
      if (i >= n) {
        t++;
        ft += report.flagged[i]!;
      } else {
        r++;
        fr += report.flagged[i]!;
      }
    }
    const stats = { ...f.stats, trustedRecords: t, trustedFlagged: ft };
    if (!trustedContradicts(ft, t, fr, r)) return { ...f, count: r, flagged: fr, stats };
    for (let i = 0; i < n; i++) if (y[i] === f.classIndex) flagged[i] = 0;
    return {
      ...f,
      count: r,
      flagged: 0,
      suspicious: false,
      ...(f.strength !== undefined ? { strength: Math.min(f.strength, 0) } : {}),
      reason: `contradicted by the trusted subset: ${ft} of its ${t} clean records of this class are flagged, as often as the rest (${fr} of ${r}); left alone (${f.reason})`,
      stats,
    };
  });
  const suggestedLabels = report.suggestedLabels?.slice(0, n);
  return {
    ...report,
    scores: report.scores.slice(0, n),
    flagged,
    perClass,
    ...(suggestedLabels ? { suggestedLabels } : {}),
  };
}

/** The per-record decision of a scan: which records it flags, and how many detectors agreed. */
export interface ScanDecision {
  /** Detectors that must agree to flag a record without corroboration. */
  readonly quorum: number;
  /** Number of detectors flagging each record. */
  readonly votes: Uint8Array;
  /** The decision per record: 1 = flagged. */
  readonly flagged: Uint8Array;
}

/**
 * The scan decision, in one place (`mergeReports` calls it; every scan path goes through it).
 * A record is flagged when
 * - at least `quorum` detectors flag it; or
 * - a detector flags it in a class where that detector's finding is strong (strength ≥
 *   `STRONG_EVIDENCE`, judged against the data's own null): a correct finding of one detector is
 *   never discarded because the others saw nothing (issue 16), unless it is unconfirmed while
 *   another finding of the scan is confirmed ({@link strongMembership}), or it mostly repeats a
 *   causal finding of its class, whose records the model confirmed one by one (then its other
 *   records need the quorum: {@link withCausalPrecedence}); or
 * - fewer than `quorum` flag it but at least `quorum` detectors judged its class poisoned and
 *   every detector that did not flag it corroborates it: one that flagged records of the class
 *   scores it at least as high as the least suspicious record it flagged there (it would have
 *   flagged it by its own scores), and the others rank it among the most suspicious of its class
 *   (mean within-class percentile rank ≥ {@link CORROBORATION_RANK}). A detector that ruled on
 *   the class by flagging some of its records does not corroborate the records it left out
 *   because they rank high: measured on MNIST checkerboard all-to-all 5%, spectral signatures
 *   removes 1.5·ε̂ of each class (Tran et al.'s safety margin) and activation clustering ranks
 *   the extra, clean half among the top 10% of the class (the poison is 5% of it), which put 414
 *   clean records in the merged decision.
 * `quorum` defaults to 2 when two or more detectors ran, else 1.
 */
export function scanDecision(
  ds: Pick<Dataset, 'y' | 'classes'>,
  given: readonly DetectionReport[],
  quorum?: number,
): ScanDecision {
  return decide(
    ds,
    given,
    quorum,
    given.map((r) => withinClassRanks(r.scores, ds.y, ds.classes.length)),
  );
}

/** {@link scanDecision} with each report's within-class ranks already made (`mergeReports`'). */
function decide(
  ds: Pick<Dataset, 'y' | 'classes'>,
  given: readonly DetectionReport[],
  quorum: number | undefined,
  classRanks: readonly Float32Array[],
): ScanDecision {
  const n = ds.y.length;
  const q = quorum ?? (given.length >= 2 ? 2 : 1);
  // Each report's flags as the decision reads them: label noise explains away the records of a
  // flip-driven cluster that the model does not relabel (see labelExplainedFlags).
  const explained = labelExplainedFlags(ds, given);
  const reports = given.map((r, k) => ({ ...r, flagged: explained[k]! }));
  const votes = new Uint8Array(n);
  for (const r of reports) for (let i = 0; i < n; i++) votes[i]! += r.flagged[i]!;
  // Corroboration: a record flagged by fewer than `q` detectors still counts when at least `q`
  // detectors judged its class poisoned and the others rank it near the top of that class.
  const abstains = reports.map((r) => tiedClasses(r.scores, ds.y, ds.classes.length));
  const strong = withCausalPrecedence(ds, reports, strongMembership(ds, given, classRanks));
  const classVotes = ds.classes.map((_, c) =>
    reports.reduce(
      (sum, r) => sum + (r.perClass.find((f) => f.classIndex === c)?.suspicious ? 1 : 0),
      0,
    ),
  );
  // Per detector and class: the lowest score among the records it flagged there (+∞: none).
  const cutoffs = reports.map((r) => {
    const cut = new Float64Array(ds.classes.length).fill(Number.POSITIVE_INFINITY);
    for (let i = 0; i < n; i++) {
      if (r.flagged[i]) cut[ds.y[i]!] = Math.min(cut[ds.y[i]!]!, r.scores[i]!);
    }
    return cut;
  });
  const flagged = Uint8Array.from(votes, (v, i) => {
    if (v === 0) return 0;
    if (v >= q) return 1;
    const c = ds.y[i]!;
    if (reports.some((r, k) => r.flagged[i] && strong[k]![c])) return 1;
    if ((classVotes[c] ?? 0) < q) return 0;
    const others: number[] = [];
    for (const [k, r] of reports.entries()) {
      // A detector whose scores all tie within the class ranks nothing there (the arbitrary-label
      // test without evidence of flips): it has no say in the corroboration.
      if (r.flagged[i] || abstains[k]![c]) continue;
      const cut = cutoffs[k]![c]!;
      if (Number.isFinite(cut)) {
        if (!(r.scores[i]! >= cut)) return 0; // it ruled on the class and left this record out
      } else others.push(classRanks[k]![i]!);
    }
    if (others.length === 0) return 1;
    return others.reduce((a, b) => a + b, 0) / others.length >= CORROBORATION_RANK ? 1 : 0;
  });
  return { quorum: q, votes, flagged };
}

/**
 * Strong membership (see {@link strongMembership}) with the precedence of a causal finding
 * (issue 16): in a class where a causal detector ({@link CAUSAL_METHODS}) has a strong finding,
 * the model has confirmed that finding's records one by one (trigger transfer's per-record
 * removal test), so another detector's finding there that mostly repeats it (more than half of
 * its records in the class are the causal finding's) is the same cluster seen again, and its
 * records beyond the causal finding flag on their own no more: they need the quorum (or the
 * corroboration of {@link scanDecision}) like any other vote. A finding that mostly lies
 * elsewhere in the class is other evidence and keeps its records. Measured on the held-out
 * Fashion-MNIST cnn, pattern at 10% of "Ankle boot" (ASR 0.97): trigger transfer flagged 655
 * records, all poison; spectral signatures 741, of which 571 are trigger transfer's and 159 of
 * the other 170 are clean (Tran et al.'s 1.5·ε̂ removal): decision precision 0.80 → 0.99, recall
 * 0.99 both ways. On MNIST mlp, blend α 0.1 at 10% of "0", activation clustering's 681 records
 * held trigger transfer's 658 and 23 clean ones.
 */
export function withCausalPrecedence(
  ds: Pick<Dataset, 'y' | 'classes'>,
  reports: readonly Pick<DetectionReport, 'method' | 'flagged' | 'perClass'>[],
  strong: readonly Uint8Array[],
): Uint8Array[] {
  const k = ds.classes.length;
  const causal = reports.filter((r) => CAUSAL_METHODS.has(r.method));
  if (causal.length === 0) return [...strong];
  // Per record, 1 when a strong causal finding of its class flags it; per class, 1 when one does.
  const byCause = new Uint8Array(ds.y.length);
  const causedClass = new Uint8Array(k);
  for (const r of causal) {
    const strongClass = new Uint8Array(k);
    for (const f of r.perClass) if (isStrong(f.strength)) strongClass[f.classIndex] = 1;
    for (let i = 0; i < ds.y.length; i++) {
      if (r.flagged[i] && strongClass[ds.y[i]!]) {
        byCause[i] = 1;
        causedClass[ds.y[i]!] = 1;
      }
    }
  }
  if (!causedClass.includes(1)) return [...strong];
  return reports.map((r, a) => {
    if (CAUSAL_METHODS.has(r.method)) return strong[a]!;
    const flagged = new Int32Array(k);
    const repeated = new Int32Array(k);
    for (let i = 0; i < ds.y.length; i++) {
      const c = ds.y[i]!;
      if (!r.flagged[i]) continue;
      flagged[c]!++;
      repeated[c]! += byCause[i]!;
    }
    return Uint8Array.from(strong[a]!, (v, c) =>
      v && causedClass[c] && 2 * repeated[c]! > flagged[c]! ? 0 : v,
    );
  });
}

/** Whether `report` suggests a label other than the given one for record `i` (a label flip). */
function relabels(report: DetectionReport, y: Int32Array, i: number): boolean {
  const s = report.suggestedLabels?.[i];
  return s !== undefined && s >= 0 && s !== y[i];
}

/**
 * Each report's flags as the scan's decision reads them (issue 16). In a class where a
 * label-noise detector (one that suggests labels, e.g. the arbitrary-label test `ln`) has a
 * strong finding, the class holds label flips, and flipped records are atypical of their given
 * label, so they form the clusters and tails that representation detectors (activation
 * clustering, spectral signatures) flag too. When most of the records another detector flags in
 * such a class are ones the label-noise detector relabels (the model assigns them to another
 * class), that finding is the label flips seen again, and its records the model assigns to their
 * own label are not flips: they are the clean edge of the cluster or of the tail (spectral
 * signatures removes 1.5 times its estimate, Tran et al.'s safety margin). They are left out of
 * the decision; the relabelled ones stay. A finding made mostly of records the model assigns to
 * their own label (a backdoor cluster beside the flips: the trigger makes the model agree with
 * the poisoned label) is not explained by the flips and keeps all its records. Measured on the
 * detection matrix, Fashion-MNIST with 10% random flips: spectral signatures flagged 950 records
 * of "Trouser" (594 flips), activation clustering 803 (594 flips), the arbitrary-label test 569
 * (553 flips); the merged decision kept the 950.
 */
export function labelExplainedFlags(
  ds: Pick<Dataset, 'y' | 'classes'>,
  reports: readonly DetectionReport[],
): Uint8Array[] {
  const k = ds.classes.length;
  const labelling = reports.filter((r) => r.suggestedLabels !== undefined);
  // Classes where a label-noise detector's finding is strong.
  const flips = new Uint8Array(k);
  for (const r of labelling)
    for (const f of r.perClass) if (isStrong(f.strength)) flips[f.classIndex] = 1;
  return reports.map((r) => {
    if (r.suggestedLabels !== undefined || !flips.some((v) => v === 1)) return r.flagged;
    const relabelled = (i: number) =>
      labelling.some((l) => relabels(l, ds.y, i) && isStrong(strengthOf(l, ds.y[i]!)));
    const flagged = new Int32Array(k);
    const explained = new Int32Array(k);
    for (let i = 0; i < ds.y.length; i++) {
      if (!r.flagged[i] || !flips[ds.y[i]!]) continue;
      flagged[ds.y[i]!]!++;
      if (relabelled(i)) explained[ds.y[i]!]!++;
    }
    const out = r.flagged.slice();
    for (let i = 0; i < ds.y.length; i++) {
      const c = ds.y[i]!;
      if (out[i] && 2 * explained[c]! > flagged[c]! && !relabelled(i)) out[i] = 0;
    }
    return out;
  });
}

/** The strength of `report`'s finding in class `c` (undefined when ungraded or absent). */
function strengthOf(report: DetectionReport, c: number): number | undefined {
  return report.perClass.find((f) => f.classIndex === c)?.strength;
}

/**
 * Report methods whose strong finding is tested against the model with a control, so that the
 * model itself confirms it: trigger transfer (`trigger-transfer.ts`) pastes the flagged cluster's
 * common pattern onto other classes' records and measures how many move to the class, against a
 * random subset of the class (measured on MNIST pattern 5%: 0.83 of the records moved, 0.02 for
 * the control). Its finding is causal evidence of a backdoor, not a geometric outlier. Keyword
 * discovery (`keyword-discovery.ts`) and feature trigger discovery (`feature-trigger-discovery.ts`)
 * are causal in the same way: they insert the token or feature value into records of other
 * classes and measure the model's push to the label against every other token or value (the
 * null among candidates). Without them, the records of a text backdoor that keyword discovery
 * alone found were dropped once another finding of the scan was confirmed (the CLI's text test:
 * sentiment, 600 records, embedding-bag model, `cf` trigger: decision F1 1.00 → 0.08).
 */
const CAUSAL_METHODS: ReadonlySet<string> = new Set([
  'trigger-transfer',
  'keyword-discovery',
  'feature-trigger-discovery',
]);

/**
 * Per report and class, 1 where the report's strong finding flags its records on its own (the
 * second rule of {@link scanDecision}). A strong finding that another detector confirms always
 * does (`confirmingReports` in `verdict.ts`, the verdict's own confirmation), and so does a
 * causal one ({@link CAUSAL_METHODS}: the model confirms it). So does an unconfirmed one while
 * the scan has no confirmed or causal finding at all: its records are then the list a human must
 * review (the REVIEW verdict), and discarding them would pass poison that one detector alone sees
 * (issue 16). Once the scan holds confirmed poison, the flagged set is what the user removes as
 * poison, and an unconfirmed finding beside it keeps its records only when some other detector
 * that ranks its class supports it: it gives the flagged records a mean within-class percentile
 * rank above its baseline by at least `STRONG_EVIDENCE` standard errors (1/√(12m) for m records
 * with uniform ranks). The baseline ({@link supportBaseline}) is what that detector gives the
 * finding detector's m most suspicious records in the classes where the finding detector found
 * nothing, the largest over those classes, and never below ½ (a random subset of the class):
 * detectors that read the same representation rank each other's outliers high in every class,
 * by as much as the classes differ, which is no support for one class's finding. An unconfirmed
 * finding at least as strong as the weakest of its own
 * detector's confirmed findings keeps its records too: that detector's own scale, on this data,
 * has shown poison at that strength (all-to-all poison puts a cluster in every class, and the
 * other detectors confirm only some of them; a clean sub-mode beside all-to-one poison is weaker
 * than the poison's own finding, as in the cases below). Measured on the 12 cached all-to-all
 * mlp cases (10% per class, replayed on the saved reports): decision F1 0.45–0.88 → 0.46–0.94,
 * now equal to activation clustering's own F1 on 10 of 12, no change on the 100+ saved
 * all-to-one, clean, label-flip, text and tabular cases. A finding that no other detector
 * supports stays in the verdict's evidence for review but flags nothing; the verdict is
 * unchanged. Measured on the detection matrix:
 * - MNIST single pixel at 33% of class "0" (ASR 1.00): activation clustering also split off 695
 *   clean "7"s (whitened space, strength 3.69), which spectral signatures ranked at 0.42 on
 *   average and the others not at all (tied), beside the poison of "0" that three detectors
 *   confirmed (precision 0.81 of the default decision).
 * - MNIST pattern at 5% of class "0" (ASR 0.97): trigger transfer's poison of "0" is confirmed;
 *   activation clustering also split off 118 clean "1"s (strength 3.63), which spectral
 *   signatures ranks at 0.62 on average, above ½ but below the 0.78 it gives activation
 *   clustering's most suspicious records of the classes where it found nothing (precision 0.70).
 * - MNIST image insert at 1% and blend α 0.1 at 5% of "0" (ASR ≥ 0.97): trigger transfer's
 *   causal finding of "0" stands alone (activation clustering ranks its records at 0.58 and
 *   0.46); activation clustering's 122 and 130 clean "1"s (strength 3.90, 3.64) are ranked at
 *   0.37–0.40 by spectral signatures (precision 0.33 and 0.71, verdict REVIEW).
 * On Fashion-MNIST with random flips, the arbitrary-label test's unconfirmed classes ("Shirt",
 * "Coat") are supported by activation clustering (mean ranks 0.80 and 0.87; the arbitrary-label
 * test is strong in every class, so the baseline is ½) and keep their flags.
 */
export function strongMembership(
  ds: Pick<Dataset, 'y' | 'classes'>,
  reports: readonly DetectionReport[],
  classRanks: readonly Float32Array[],
): Uint8Array[] {
  const k = ds.classes.length;
  const input = { y: ds.y, reports, classRanks };
  const confirmed = reports.map((r, a) =>
    r.perClass.map((f) =>
      isStrong(f.strength)
        ? CAUSAL_METHODS.has(r.method) || confirmingReports(input, a, f).length > 0
        : undefined,
    ),
  );
  const anyConfirmed = confirmed.some((per) => per.some((v) => v === true));
  const tied = reports.map((r) => tiedClasses(r.scores, ds.y, k));
  const members = Array.from({ length: k }, () => [] as number[]);
  for (let i = 0; i < ds.y.length; i++) members[ds.y[i]!]!.push(i);
  const supported = (a: number, c: number): boolean =>
    reports.some((_, b) => {
      if (b === a || tied[b]![c]) return false;
      let sum = 0;
      let m = 0;
      for (const i of members[c]!) {
        if (!reports[a]!.flagged[i]) continue;
        sum += classRanks[b]![i]!;
        m++;
      }
      return (
        m > 0 &&
        (sum / m - supportBaseline(reports, classRanks, members, tied, a, b, c, m)) *
          Math.sqrt(12 * m) >=
          STRONG_EVIDENCE
      );
    });
  // Per report, the weakest of its own confirmed strong findings (+∞: none confirmed).
  const weakestConfirmed = reports.map((r, a) =>
    r.perClass.reduce(
      (lo, f, j) => (confirmed[a]![j] === true ? Math.min(lo, f.strength!) : lo),
      Number.POSITIVE_INFINITY,
    ),
  );
  return reports.map((r, a) => {
    const s = new Uint8Array(k);
    r.perClass.forEach((f, j) => {
      const c = confirmed[a]![j];
      const asStrongAsConfirmed = f.strength! >= weakestConfirmed[a]!;
      if (
        c === true ||
        (c === false && (!anyConfirmed || asStrongAsConfirmed || supported(a, f.classIndex)))
      ) {
        s[f.classIndex] = 1;
      }
    });
    return s;
  });
}

/**
 * The mean within-class rank that report `b` gives report `a`'s `m` most suspicious records of a
 * class where `a` found nothing strong (and both rank something), the largest over those classes
 * other than `c`; at least ½, and ½ when there is no such class (see {@link strongMembership}).
 * The largest, not the median: a finding's records are supported only when `b` ranks them above
 * what it gives `a`'s top records in every class where `a` found nothing. Measured on
 * Fashion-MNIST mlp, 10 epochs, checkerboard at 5% of "T-shirt/top": activation clustering gives
 * spectral signatures' top records of the other classes mean ranks from 0.23 to 0.88 (median
 * 0.74), and 0.85 to its 141 clean "Sandal"s, 4.6 standard errors above the median: they were
 * flagged beside the confirmed poison (decision precision 0.69; 0.99 with the largest).
 */
function supportBaseline(
  reports: readonly DetectionReport[],
  classRanks: readonly Float32Array[],
  members: readonly (readonly number[])[],
  tied: readonly Uint8Array[],
  a: number,
  b: number,
  c: number,
  m: number,
): number {
  const scores = reports[a]!.scores;
  const nulls: number[] = [];
  members.forEach((idx, d) => {
    if (d === c || tied[a]![d] || tied[b]![d] || idx.length === 0) return;
    if (isStrong(strengthOf(reports[a]!, d))) return;
    const top = [...idx].sort((x, z) => scores[z]! - scores[x]! || x - z).slice(0, m);
    nulls.push(top.reduce((sum, i) => sum + classRanks[b]![i]!, 0) / top.length);
  });
  return Math.max(0.5, ...nulls);
}

/**
 * Merges detection reports on the same dataset (see {@link scanDataset}): the decision of
 * {@link scanDecision}, each record's mean percentile rank, and the findings per class.
 * `detectors` names the reports (registry names); default their `method`.
 */
export function mergeReports(
  ds: Dataset,
  reports: readonly DetectionReport[],
  quorum?: number,
  detectors?: readonly string[],
): MergedScan {
  const n = ds.y.length;
  const classRanks = reports.map((r) => withinClassRanks(r.scores, ds.y, ds.classes.length));
  const { quorum: q, votes, flagged } = decide(ds, reports, quorum, classRanks);
  const suspicion = new Float32Array(n);
  const ranks = reports.map((r) => percentileRanks(r.scores));
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const rk of ranks) s += rk[i]!;
    suspicion[i] = reports.length ? s / reports.length : 0;
  }
  const perClass = ds.classes.map((_, c) => classFinding(ds, reports, flagged, c));
  const names = detectors ? [...detectors] : reports.map((r) => r.method);
  return {
    methods: reports.map((r) => r.method),
    detectors: names,
    reports,
    quorum: q,
    flagged,
    votes,
    suspicion,
    perClass,
    ...(ds.source
      ? { sources: sourceTrust({ source: ds.source, y: ds.y, classes: ds.classes, flagged }) }
      : {}),
    verdict: scanVerdict({
      y: ds.y,
      classes: ds.classes,
      reports,
      detectors: names,
      flagged,
      classRanks,
    }),
  };
}

/** One class's merged findings: its records, how many the decision flags, every reason. */
function classFinding(
  ds: Dataset,
  reports: readonly DetectionReport[],
  flagged: Uint8Array,
  c: number,
): ClassScanFinding {
  let count = 0;
  let f = 0;
  for (let i = 0; i < ds.y.length; i++) {
    if (ds.y[i] !== c) continue;
    count++;
    f += flagged[i]!;
  }
  const reasons = reports.map((r) => {
    const finding = r.perClass.find((p) => p.classIndex === c);
    return {
      method: r.method,
      suspicious: finding?.suspicious ?? false,
      reason: finding?.reason ?? '',
    };
  });
  return {
    classIndex: c,
    className: ds.classes[c]!,
    count,
    flagged: f,
    suspiciousBy: reasons
      .filter((r) => r.suspicious)
      .map(({ method, reason }) => ({ method, reason })),
    reasons,
  };
}

/** Per class of `y`, 1 when every score of its records is the same (the detector ranks nothing). */
function tiedClasses(scores: Float32Array, y: Int32Array, k: number): Uint8Array {
  const lo = new Float64Array(k).fill(Number.POSITIVE_INFINITY);
  const hi = new Float64Array(k).fill(Number.NEGATIVE_INFINITY);
  for (let i = 0; i < y.length; i++) {
    lo[y[i]!] = Math.min(lo[y[i]!]!, scores[i]!);
    hi[y[i]!] = Math.max(hi[y[i]!]!, scores[i]!);
  }
  return Uint8Array.from({ length: k }, (_, c) => (lo[c] === hi[c] ? 1 : 0));
}

/** Percentile ranks of `scores` computed separately within each class of `y`. */
export function withinClassRanks(scores: Float32Array, y: Int32Array, k: number): Float32Array {
  const out = new Float32Array(scores.length);
  const counts = new Int32Array(k);
  for (let i = 0; i < y.length; i++) if (y[i]! >= 0 && y[i]! < k) counts[y[i]!]!++;
  const byClass = Array.from({ length: k }, (_, c) => new Int32Array(counts[c]!));
  const fill = new Int32Array(k);
  for (let i = 0; i < y.length; i++)
    if (y[i]! >= 0 && y[i]! < k) byClass[y[i]!]![fill[y[i]!]!++] = i;
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const own = new Float32Array(idx.length);
    for (let j = 0; j < idx.length; j++) own[j] = scores[idx[j]!]!;
    const ranks = percentileRanks(own);
    for (let j = 0; j < idx.length; j++) out[idx[j]!] = ranks[j]!;
  }
  return out;
}

/** The `limit` most suspicious records, most suspicious first, with their findings. */
export function topFindings(
  ds: Dataset,
  scan: MergedScan,
  limit: number,
  onlyFlagged = false,
): RecordFinding[] {
  const idx = Array.from({ length: ds.y.length }, (_, i) => i)
    .filter((i) => !onlyFlagged || scan.flagged[i])
    .sort(
      (a, b) => scan.votes[b]! - scan.votes[a]! || scan.suspicion[b]! - scan.suspicion[a]! || a - b,
    )
    .slice(0, limit);
  const ranks = scan.reports.map((r) => percentileRanks(r.scores));
  return idx.map((i) => ({
    index: i,
    id: ds.ids[i]!,
    label: ds.classes[ds.y[i]!]!,
    ...(ds.source ? { source: ds.source[i]! } : {}),
    flaggedBy: scan.reports.filter((r) => r.flagged[i]).map((r) => r.method),
    rank: Object.fromEntries(
      scan.reports.map((r, k) => [r.method, Number(ranks[k]![i]!.toFixed(4))]),
    ),
    suspicion: Number(scan.suspicion[i]!.toFixed(4)),
  }));
}
