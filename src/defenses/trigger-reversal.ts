/**
 * Trigger reversal with record attribution (`nc`, issue 16): model-level evidence of a backdoor
 * where the records cannot be told apart in the model's representation (Turner et al.'s
 * clean-label backdoor, adaptive triggers), and the records that depend on the reversed trigger.
 *
 * 1. **Class level: a fast Neural Cleanse** (Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao 2019,
 *    "Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks", IEEE S&P).
 *    For every class t, the smallest mask m and pattern p that send probe records of the other
 *    classes to t (x' = (1 − m)·x + m·p) are reverse-engineered with {@link reverseTrigger}, on a
 *    few probe records per class (records the model classifies as labelled, drawn with the seed)
 *    and a short, fixed optimisation (a small initial mask with the mask cost set from the first
 *    step, then the paper's cost schedule, instead of its search for a first working cost). A
 *    backdoor target is reachable with a far smaller mask than the other classes: the mask
 *    strength is the modified z-score (median/MAD among the classes) of the class's log mask
 *    norm, counted below the median only. No constant of the decision depends on the
 *    dataset: the classes are each other's null.
 * 2. **Record level: who carries the reversed trigger.** Each record's score is how closely its
 *    masked region matches its class's reversed pattern (minus the mask-weighted mean squared
 *    difference), as a modified z-score within the class; records at ≥ `recordZ` (3.5) are the
 *    class's carriers. The poison carries the trigger, the clean records do not (Turner et al.'s
 *    clean-label backdoor, MNIST 10%: AUC 1.000 within the target class, where the drop in
 *    confidence when the region is occluded gives 0.946). The carrier share of each class is
 *    judged among the classes (modified z-score, floored at the binomial standard error of the
 *    median share): a natural shortcut (Fashion-MNIST "Bag") has a small mask but no carrier
 *    group.
 * 3. A class's strength is the smaller of the two; from `threshold` (3.5) it is suspicious and
 *    its carriers are flagged. How many of them lose their label when the region is replaced by
 *    the probes' mean is reported beside them.
 *
 * Needs a differentiable image model (the zoo's `TfClassifier`); for another model the report
 * says "not run" in every class, with no strength.
 */
import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import type { DifferentiableModel } from '../engine/differentiable.js';
import { anomalyAmongClasses, modifiedZScores } from '../numeric/anomaly-index.js';
import { rowArgmax } from '../numeric/argmax.js';
import { Rng } from '../util/rng.js';
import {
  type ClassFinding,
  type DetectionProgress,
  type DetectionReport,
  indicesByClass,
  STRONG_EVIDENCE,
} from './detector.js';
import { commonDetectorOptions, type DetectorContext, defineDetector } from './detector-entry.js';
import type { ReversedTrigger } from './neural-cleanse.js';
import { trainingDynamicsNotRun } from './training-dynamics.js';

/** Options of {@link triggerReversalScan}. */
export interface TriggerReversalOptions {
  /** Seeds the probe draw and the optimisation. */
  readonly seed: number;
  /** Probe records per class (the reversal of class t uses those of the other classes); default 20. */
  readonly probesPerClass?: number;
  /** Optimisation epochs per class; default 24. */
  readonly epochs?: number;
  /** Mini-batches per epoch; default 5. */
  readonly stepsPerEpoch?: number;
  /** Records per mini-batch; default 32. */
  readonly batchSize?: number;
  /** Cost of the mask L1 norm from the first step (then the paper's schedule); default 0.01. */
  readonly maskCost?: number;
  /** Initial mean of the mask; default 0.05. */
  readonly initialMask?: number;
  /** Share of a batch sent to the class at which a reversed trigger counts as working; 0.9. */
  readonly attackSuccessThreshold?: number;
  /** Class strength from which a class is suspicious; default {@link STRONG_EVIDENCE}. */
  readonly threshold?: number;
  /** Within-class modified z-score of the occlusion drop from which a record is flagged; 3.5. */
  readonly recordZ?: number;
  /** Progress per class. */
  readonly onProgress?: (p: DetectionProgress) => void;
}

/** The differentiable model behind a classifier, when it has one (the zoo's image models). */
function differentiableOf(model: Classifier): DifferentiableModel | undefined {
  const m = (model as unknown as { model?: { apply?: unknown } }).model;
  const s = model.inputShape;
  if (!m || typeof m.apply !== 'function') return undefined;
  if (s.length !== 2 && s.length !== 3) return undefined;
  return model as unknown as DifferentiableModel;
}

/** The report of a scan that could not run: nothing flagged, no strength, and why. */
export function triggerReversalNotRun(ds: Dataset, why: string): DetectionReport {
  return { ...trainingDynamicsNotRun(ds, why), method: 'trigger-reversal' };
}

/** Rows `idx` of `x` (records of `size` values), copied into one array. */
function gather(x: Float32Array, idx: readonly number[], size: number): Float32Array {
  const out = new Float32Array(idx.length * size);
  idx.forEach((r, k) => {
    out.set(x.subarray(r * size, (r + 1) * size), k * size);
  });
  return out;
}

/** Records of `ds` scored in batches of 2,048 with `model.predictProba`. */
async function probaOf(model: Classifier, x: Float32Array, n: number): Promise<Float32Array> {
  const size = x.length / Math.max(n, 1);
  const k = model.numClasses;
  const out = new Float32Array(n * k);
  for (let s = 0; s < n; s += 2048) {
    const e = Math.min(n, s + 2048);
    out.set(await model.predictProba(x.subarray(s * size, e * size), e - s), s * k);
  }
  return out;
}

/**
 * How closely each of the `n` records of `x` carries a reversed trigger: minus the mask-weighted
 * mean squared difference between the record and the trigger's pattern (higher = closer).
 */
export function carriesTrigger(
  x: Float32Array,
  n: number,
  trigger: Pick<ReversedTrigger, 'mask' | 'pattern'>,
): Float64Array {
  const hw = trigger.mask.length;
  const size = trigger.pattern.length;
  const ch = size / hw;
  let weight = 0;
  for (let p = 0; p < hw; p++) weight += trigger.mask[p]! * ch;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let p = 0; p < hw; p++) {
      const m = trigger.mask[p]!;
      for (let c = 0; c < ch; c++) {
        const d = p * ch + c;
        const e = x[i * size + d]! - trigger.pattern[d]!;
        s += m * e * e;
      }
    }
    out[i] = -s / Math.max(weight, 1e-12);
  }
  return out;
}

/**
 * Scans `ds` for a backdoor target by trigger reversal and attributes the records of a strong
 * class to the reversed trigger (see the module comment). Never changes the model.
 */
export async function triggerReversalScan(
  ds: Dataset,
  model: Classifier,
  options: TriggerReversalOptions,
): Promise<DetectionReport> {
  const diff = differentiableOf(model);
  if (!diff) {
    return triggerReversalNotRun(
      ds,
      'trigger reversal needs a differentiable image model (the zoo models)',
    );
  }
  // Neural Cleanse's optimisation runs in TF.js: its module loads when this detector runs, not
  // with the detector registry (a distributed scan's coordinator never loads the engine).
  const { reverseTrigger, stampReversedTrigger } = await import('./neural-cleanse.js');
  const o = {
    probesPerClass: options.probesPerClass ?? 20,
    epochs: options.epochs ?? 24,
    stepsPerEpoch: options.stepsPerEpoch ?? 5,
    batchSize: options.batchSize ?? 32,
    maskCost: options.maskCost ?? 0.01,
    initialMask: options.initialMask ?? 0.05,
    attackSuccessThreshold: options.attackSuccessThreshold ?? 0.9,
    threshold: options.threshold ?? STRONG_EVIDENCE,
    recordZ: options.recordZ ?? 3.5,
  };
  const n = ds.y.length;
  const k = ds.classes.length;
  const size = ds.x.length / Math.max(n, 1);
  const byClass = indicesByClass(ds.y, k);
  const rng = new Rng(options.seed).fork('trigger-reversal');

  // Probes: per class, records the model classifies as labelled, in a seeded random order.
  const candidates: number[][] = byClass.map((idx) => {
    const order = rng.permutation(idx.length);
    return Array.from(order.slice(0, Math.min(idx.length, 4 * o.probesPerClass)), (j) => idx[j]!);
  });
  const flat = candidates.flat();
  const candProba = await probaOf(model, gather(ds.x, flat, size), flat.length);
  const candPred = rowArgmax(candProba, flat.length, k);
  const probes: number[][] = byClass.map(() => []);
  flat.forEach((r, j) => {
    const c = ds.y[r]!;
    if (candPred[j] === c && probes[c]!.length < o.probesPerClass) probes[c]!.push(r);
  });
  const usable = probes.map((p) => p.length > 0);
  const classes = Array.from({ length: k }, (_, c) => c).filter((c) => byClass[c]!.length > 0);
  if (classes.length < 3 || usable.filter(Boolean).length < 2) {
    return triggerReversalNotRun(
      ds,
      `trigger reversal needs at least 3 classes with records the model classifies as labelled`,
    );
  }

  // 1. One reversed trigger per class, from the probes of the other classes.
  const triggers: ReversedTrigger[] = [];
  for (const t of classes) {
    const others = probes.flatMap((p, c) => (c === t ? [] : p));
    triggers.push(
      await reverseTrigger(diff, { x: gather(ds.x, others, size), n: others.length }, t, {
        seed: options.seed,
        epochs: o.epochs,
        stepsPerEpoch: o.stepsPerEpoch,
        batchSize: o.batchSize,
        initCost: o.maskCost,
        initialMask: o.initialMask,
        attackSuccessThreshold: o.attackSuccessThreshold,
      }),
    );
    options.onProgress?.({ stage: `class ${t}`, done: triggers.length, total: classes.length });
  }
  const logNorms = triggers.map((t) => Math.log(Math.max(t.maskL1, 1e-6)));
  const among = anomalyAmongClasses(logNorms);
  // Strength: how far below the median of the classes the log norm lies (0 above it).
  const strengthOf = (j: number) => (among ? Math.max(0, -among.z[j]!) : 0);

  // 2. Who carries each class's reversed trigger: the records of the class whose masked region
  // is a robust outlier towards the pattern, and their share of the class, judged among the
  // classes (a natural shortcut, e.g. Fashion-MNIST "Bag", has a small mask but no carrier group).
  const scores = new Float32Array(n);
  const carrierZ: Float64Array[] = [];
  const shares: number[] = [];
  for (const [j, c] of classes.entries()) {
    const idx = byClass[c]!;
    const carries = carriesTrigger(gather(ds.x, Array.from(idx), size), idx.length, triggers[j]!);
    const zs = modifiedZScores(carries).z;
    let m = 0;
    for (let i = 0; i < idx.length; i++) {
      scores[idx[i]!] = zs[i]!;
      if (zs[i]! >= o.recordZ) m++;
    }
    carrierZ.push(zs);
    shares.push(m / idx.length);
  }
  // The shares' noise level: the binomial standard error at the median share and class size.
  const sortedShares = [...shares].sort((a, b) => a - b);
  const medShare = sortedShares[sortedShares.length >> 1]!;
  const sizes = classes.map((c) => byClass[c]!.length).sort((a, b) => a - b);
  const medSize = sizes[sizes.length >> 1]!;
  const floor = Math.sqrt(Math.max(medShare, 1 / medSize) / medSize);
  const shareAmong = anomalyAmongClasses(shares, floor);
  const carrierStrength = (j: number) => (shareAmong ? Math.max(0, shareAmong.z[j]!) : 0);

  const flagged = new Uint8Array(n);
  const allProbes = probes.flat();
  const meanProbe = new Float32Array(size);
  for (const r of allProbes) for (let d = 0; d < size; d++) meanProbe[d]! += ds.x[r * size + d]!;
  for (let d = 0; d < size; d++) meanProbe[d]! /= Math.max(allProbes.length, 1);
  const perClass: ClassFinding[] = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const j = classes.indexOf(c);
    const tr = j >= 0 ? triggers[j] : undefined;
    if (!tr) {
      perClass.push({
        classIndex: c,
        className: ds.classes[c]!,
        count: 0,
        flagged: 0,
        suspicious: false,
        reason: 'no records of this class',
        stats: {},
      });
      continue;
    }
    const maskStrength = strengthOf(j);
    const share = carrierStrength(j);
    // Both must stand out: a small mask (the model has a shortcut to the class) and a group of
    // the class's records that carry it (the data taught it).
    const strength = Math.min(maskStrength, share);
    const suspicious = strength >= o.threshold;
    let flaggedHere = 0;
    let lostOfFlagged = 0;
    if (suspicious) {
      const members = Array.from(idx).filter((_, i) => carrierZ[j]![i]! >= o.recordZ);
      for (const r of members) flagged[r] = 1;
      flaggedHere = members.length;
      const occluded = stampReversedTrigger(gather(ds.x, members, size), members.length, {
        mask: tr.mask,
        pattern: meanProbe,
      });
      const after = rowArgmax(await probaOf(model, occluded, members.length), members.length, k);
      for (const p of after) if (p !== c) lostOfFlagged++;
    }
    perClass.push({
      classIndex: c,
      className: ds.classes[c]!,
      count: idx.length,
      flagged: flaggedHere,
      suspicious,
      strength,
      reason: suspicious
        ? `a trigger of mask norm ${tr.maskL1.toFixed(1)} sends ${(tr.attackSuccessRate * 100).toFixed(0)}% of other classes' probes here (${maskStrength.toFixed(1)} robust SDs below the classes' median log norm), and ${flaggedHere} records of the class carry it (${(shares[j]! * 100).toFixed(1)}% of the class, ${share.toFixed(1)} robust SDs above the classes' median share; threshold ${o.threshold}); ${lostOfFlagged} of them lose their label when its region is occluded`
        : `reversed trigger mask norm ${tr.maskL1.toFixed(1)} (strength ${maskStrength.toFixed(2)}), ${(shares[j]! * 100).toFixed(1)}% of the class carry it (strength ${share.toFixed(2)}): no backdoor shortcut to this class stands out (both must reach ${o.threshold})`,
      stats: {
        maskL1: tr.maskL1,
        maskStrength,
        attackSuccessRate: tr.attackSuccessRate,
        reachedThreshold: tr.reachedThreshold,
        carrierShare: shares[j]!,
        carrierStrength: share,
        ...(suspicious ? { flaggedLosingLabel: lostOfFlagged } : {}),
      },
    });
  }
  return {
    method: 'trigger-reversal',
    scores,
    flagged,
    perClass,
    params: { ...o, seed: options.seed, probes: allProbes.length, ran: true },
  };
}

/** Trigger reversal in the detector registry: `antidote scan --method nc`. */
export const triggerReversalEntry = defineDetector({
  name: 'nc',
  title: 'Trigger reversal (fast Neural Cleanse) with record attribution',
  paper:
    'Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao 2019, "Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks", IEEE S&P',
  finds: 'backdoor',
  domains: ['features'],
  options: z.object({
    ncProbes: z.int().positive().default(20).meta({
      placeholder: '<n>',
      description: 'nc: probe records per class for the trigger reversal',
    }),
    ncEpochs: z.int().positive().default(24).meta({
      placeholder: '<n>',
      description: 'nc: optimisation epochs (of 5 mini-batches) per class',
    }),
  }),
  run: (ds, model, options, context: DetectorContext) =>
    triggerReversalScan(ds, model, {
      ...commonDetectorOptions(context),
      probesPerClass: options.ncProbes,
      epochs: options.ncEpochs,
    }),
});
