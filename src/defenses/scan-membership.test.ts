import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { ClassFinding, DetectionReport } from './detector.js';
import { labelExplainedFlags, mergeReports, scanDecision, withCausalPrecedence } from './scan.js';

// Which records a scan flags once its detectors disagree (issue 16): an unconfirmed lone finding
// beside confirmed poison, and representation findings that label flips explain.

const PER_CLASS = 100;

function dataset(k: number): Dataset {
  const y = Int32Array.from({ length: k * PER_CLASS }, (_, i) => Math.floor(i / PER_CLASS));
  return {
    x: new Float32Array(y.length),
    shape: [y.length, 1],
    y,
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
    ids: Array.from(y, (_, i) => `r${i}`),
  };
}

/** A report flagging `flagged` (record indices), with a strength per class (0 elsewhere). */
function report(
  method: string,
  k: number,
  scores: Float32Array,
  flagged: readonly number[],
  strengths: Readonly<Record<number, number>>,
  suggestedLabels?: Int32Array,
): DetectionReport {
  const f = new Uint8Array(k * PER_CLASS);
  for (const i of flagged) f[i] = 1;
  const perClass: ClassFinding[] = Array.from({ length: k }, (_, c) => {
    let n = 0;
    for (let i = c * PER_CLASS; i < (c + 1) * PER_CLASS; i++) n += f[i]!;
    const strength = strengths[c] ?? 0;
    return {
      classIndex: c,
      className: `c${c}`,
      count: PER_CLASS,
      flagged: n,
      suspicious: strength >= 3.5,
      strength,
      reason: '',
      stats: {},
    };
  });
  return {
    method,
    scores,
    flagged: f,
    perClass,
    params: {},
    ...(suggestedLabels ? { suggestedLabels } : {}),
  };
}

/** Scores rising with the record's position in its class, with `top` records raised above all. */
function scores(k: number, top: readonly number[] = [], at?: (i: number) => number): Float32Array {
  const s = Float32Array.from({ length: k * PER_CLASS }, (_, i) => at?.(i) ?? (i % PER_CLASS) / 10);
  for (const i of top) s[i] = 100 + i;
  return s;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('an unconfirmed finding beside confirmed poison', () => {
  // Class 0 holds 10 poisoned records (0–9) that two detectors find; `ac` also splits off 30
  // records of class 1 (100–129) with a strong finding no other detector confirms.
  const ds = dataset(2);
  const poison = range(0, 10);
  const lone = range(100, 130);
  // `ac`: strong in class 0 (the poison) and in class 1 (the lone cluster).
  const acBoth = () =>
    report('ac', 2, scores(2, [...poison, ...lone]), [...poison, ...lone], { 0: 9, 1: 3.8 });

  it('flags nothing of it when every other detector ranks its records no higher than chance', () => {
    const ac = acBoth();
    // ss puts the lone cluster at the bottom of class 1 (its records are the lowest-scored).
    const ss = report(
      'ss',
      2,
      scores(2, poison, (i) => (i >= 100 && i < 130 ? 0 : (i % PER_CLASS) / 10)),
      poison,
      { 0: 6 },
    );
    const m = mergeReports(ds, [ac, ss]);
    expect(m.verdict.verdict).toBe('fail');
    expect(Array.from(m.flagged.keys()).filter((i) => m.flagged[i])).toEqual(poison);
    // The finding stays in the verdict's evidence, unconfirmed, for a human to review.
    const e = m.verdict.evidence.find((x) => x.classIndex === 1);
    expect(e?.detector).toBe('ac');
    expect(e?.confirmedBy).toEqual([]);
  });

  it('keeps its records when another detector supports them above chance, short of confirming', () => {
    const ac = acBoth();
    // ss ranks the lone cluster between the 60th and the 90th percentile of class 1 (mean 0.75:
    // above chance by (0.75 − 0.5)·√(12·30) ≈ 4.7 standard errors, below the 0.9 that confirms).
    const ss = report(
      'ss',
      2,
      scores(2, poison, (i) =>
        i >= 100 && i < 130 ? 6 + (i - 100) / 10 : i >= 160 && i < 190 ? 0 : (i % PER_CLASS) / 10,
      ),
      poison,
      { 0: 6 },
    );
    const d = scanDecision(ds, [ac, ss]);
    for (const i of lone) expect(d.flagged[i]).toBe(1);
  });

  it('keeps its records when nothing in the scan is confirmed (a REVIEW: the list to check)', () => {
    const ac = report('ac', 2, scores(2, lone), lone, { 1: 3.8 });
    const ss = report(
      'ss',
      2,
      scores(2, [], (i) => (i >= 100 && i < 130 ? 0 : (i % PER_CLASS) / 10)),
      [],
      {},
    );
    const m = mergeReports(ds, [ac, ss]);
    expect(m.verdict.verdict).toBe('review');
    expect(Array.from(m.flagged.keys()).filter((i) => m.flagged[i])).toEqual(lone);
  });
});

describe('all-to-all: every class poisoned, one finding confirmed', () => {
  // Four classes, each with 10 poisoned records (positions 0–9) that `ac` splits off with a strong
  // finding; `ss` confirms class 0 only and ranks ac's records of the other classes at the bottom
  // (no support). All-to-all poison relabels class c's triggered images c+1: every class is
  // poisoned alike, so no other detector need see the others.
  const ds = dataset(4);
  const poisonOf = (c: number) => range(c * PER_CLASS, c * PER_CLASS + 10);
  const all = [0, 1, 2, 3].flatMap(poisonOf);
  const ac = report('ac', 4, scores(4, all), all, { 0: 5, 1: 8, 2: 4.2, 3: 5 });
  const ss = report(
    'ss',
    4,
    scores(4, poisonOf(0), (i) =>
      i >= PER_CLASS && i % PER_CLASS < 10 ? 0 : (i % PER_CLASS) / 10,
    ),
    poisonOf(0),
    { 0: 6 },
  );

  it("keeps the unconfirmed findings at least as strong as the detector's confirmed one", () => {
    const d = scanDecision(ds, [ac, ss]);
    const flagged = Array.from(d.flagged.keys()).filter((i) => d.flagged[i]);
    // Classes 1 (8) and 3 (5) are as strong as ac's confirmed class 0 (5); class 2 (4.2) is not,
    // and without support its records need the quorum.
    expect(flagged).toEqual([...poisonOf(0), ...poisonOf(1), ...poisonOf(3)]);
  });

  it('judges each detector by its own confirmed findings', () => {
    // A fifth class holds trigger transfer's causal finding, and nothing confirms any of ac's:
    // a finding of another detector lends ac's findings nothing, so they need support.
    const ds5 = dataset(5);
    const ac5 = report('ac', 5, scores(5, all), all, { 0: 5, 1: 8, 2: 4.2, 3: 5 });
    const ss5 = report(
      'ss',
      5,
      scores(5, [], (i) => (i % PER_CLASS < 10 ? 0 : (i % PER_CLASS) / 10)),
      [],
      {},
    );
    const own = range(4 * PER_CLASS, 4 * PER_CLASS + 10);
    const tt = report('trigger-transfer', 5, scores(5, own), own, { 4: 9 });
    const d = scanDecision(ds5, [ac5, ss5, tt]);
    expect(Array.from(d.flagged.keys()).filter((i) => d.flagged[i])).toEqual(own);
  });
});

describe("support judged against the data's own null, and causal findings", () => {
  // Four classes. Class 0 holds 10 poisoned records (0–9) that `tt` finds; `ac` splits off 30
  // records of class 1 (100–129) with a strong finding no other detector confirms.
  const ds = dataset(4);
  const poison = range(0, 10);
  const lone = range(100, 130);
  /** `ac`'s scores: its 30 most suspicious records of every class are positions 0–29. */
  const acScores = scores(4, [], (i) => (i % PER_CLASS < 30 ? 10 - (i % PER_CLASS) / 100 : 0));

  it("does not count as support what the other detector gives ac's top records in every class", () => {
    const ac = report('ac', 4, acScores, lone, { 1: 3.8 });
    // ss ranks every class's positions 0–29 in its own top half (mean 0.75): the shared
    // representation, not support for class 1. Both confirm the poison of class 0.
    const ssScores = scores(4, poison, (i) => (i % PER_CLASS < 30 ? 6 + (i % PER_CLASS) / 10 : 0));
    for (let c = 0; c < 4; c++)
      for (let j = 30; j < PER_CLASS; j++) ssScores[c * PER_CLASS + j] = j < 60 ? 0 : 6 + j / 100;
    const ss = report('ss', 4, ssScores, poison, { 0: 6 });
    const tt = report('tt', 4, scores(4, poison), poison, { 0: 9 });
    const d = scanDecision(ds, [ac, ss, tt]);
    expect(Array.from(d.flagged.keys()).filter((i) => d.flagged[i])).toEqual(poison);
    // The same ranks in class 1 alone are support (the baseline elsewhere is chance).
    const alone = scores(4, poison);
    for (let j = 0; j < PER_CLASS; j++) alone[PER_CLASS + j] = ssScores[PER_CLASS + j]!;
    const ss1 = report('ss', 4, alone, poison, { 0: 6 });
    const d1 = scanDecision(ds, [ac, ss1, tt]);
    for (const i of lone) expect(d1.flagged[i]).toBe(1);
  });

  it('does not count as support ranks that another class, where ac found nothing, gets too', () => {
    const ac = report('ac', 4, acScores, lone, { 1: 3.8 });
    // ss ranks ac's top 30 records (positions 0–29) at the top of classes 1 and 3 (mean rank
    // ≈ 0.85), and in the middle of class 2: the median of the classes where ac found nothing
    // is chance, but class 3, where ac found nothing, gets as much as class 1.
    const ssScores = scores(4, poison, (i) => {
      const c = Math.floor(i / PER_CLASS);
      const j = i % PER_CLASS;
      if (c === 1 || c === 3) return j < 30 ? 10 - j / 100 : j / 1000;
      return ((j * 37) % PER_CLASS) / 10;
    });
    const ss = report('ss', 4, ssScores, poison, { 0: 6 });
    const tt = report('tt', 4, scores(4, poison), poison, { 0: 9 });
    const d = scanDecision(ds, [ac, ss, tt]);
    expect(Array.from(d.flagged.keys()).filter((i) => d.flagged[i])).toEqual(poison);
    // Class 3 in the middle too: class 1's ranks are above every other class, and support.
    const apart = ssScores.map((v, i) =>
      i >= 3 * PER_CLASS ? (((i % PER_CLASS) * 37) % PER_CLASS) / 10 : v,
    );
    const d1 = scanDecision(ds, [ac, report('ss', 4, apart, poison, { 0: 6 }), tt]);
    expect(Array.from(d1.flagged.keys()).filter((i) => d1.flagged[i])).toEqual([
      ...poison,
      ...lone,
    ]);
  });

  it('a causal finding (trigger transfer) counts as confirmed: the unconfirmed one needs support', () => {
    // ac ranks nothing in class 0 (its scores tie there), so it does not confirm the poison.
    const ac = report(
      'activation-clustering',
      4,
      acScores.map((v, i) => (i < PER_CLASS ? 0 : v)),
      lone,
      { 1: 3.8 },
    );
    // ss ranks ac's records of class 1 at the bottom; nothing confirms the transfer finding.
    const ss = report(
      'ss',
      4,
      scores(4, [], (i) => (i >= 100 && i < 130 ? 0 : (i % PER_CLASS) / 10)),
      [],
      {},
    );
    const tt = report('trigger-transfer', 4, scores(4, poison), poison, { 0: 9 });
    const m = mergeReports(ds, [ac, ss, tt]);
    expect(Array.from(m.flagged.keys()).filter((i) => m.flagged[i])).toEqual(poison);
    // The verdict is unchanged: two strong findings, neither confirmed by another detector.
    expect(m.verdict.verdict).toBe('review');
    expect(m.verdict.evidence.map((e) => e.classIndex).sort()).toEqual([0, 1]);
    // Another method with the same report keeps the REVIEW list whole (no confirmed finding).
    const other = report('other', 4, scores(4, poison), poison, { 0: 9 });
    const m2 = mergeReports(ds, [ac, ss, other]);
    expect(Array.from(m2.flagged.keys()).filter((i) => m2.flagged[i])).toEqual([
      ...poison,
      ...lone,
    ]);
  });
});

describe('labelExplainedFlags', () => {
  // Class 0 holds label flips: the label-noise detector relabels records 0–29 and flags 0–19.
  const ds = dataset(2);
  const suggested = Int32Array.from({ length: 2 * PER_CLASS }, (_, i) => (i < 30 ? 1 : -1));
  const ln = report('ln', 2, scores(2, range(0, 20)), range(0, 20), { 0: 12 }, suggested);

  it('keeps only the relabelled records of a finding that is mostly the flips seen again', () => {
    // 40 records flagged, 30 of them relabelled: the flips' cluster plus its clean edge (30–39).
    const ss = report('ss', 2, scores(2, range(0, 40)), range(0, 40), { 0: 4.2 });
    const [, out] = labelExplainedFlags(ds, [ln, ss]);
    expect(Array.from(out!.keys()).filter((i) => out![i])).toEqual(range(0, 30));
  });

  it('leaves alone a finding made of records the model assigns to their own label', () => {
    // A backdoor cluster beside the flips: the model agrees with the poisoned label.
    const ac = report('ac', 2, scores(2, range(50, 60)), range(50, 60), { 0: 8 });
    const [lnOut, out] = labelExplainedFlags(ds, [ln, ac]);
    expect(out).toEqual(ac.flagged);
    expect(lnOut).toEqual(ln.flagged);
    expect(scanDecision(ds, [ln, ac]).flagged[55]).toBe(1);
  });

  it('changes nothing where no label-noise finding is strong', () => {
    const weak = report('ln', 2, scores(2), [], { 0: 2 }, suggested);
    const ss = report('ss', 2, scores(2, range(0, 40)), range(0, 40), { 0: 4.2 });
    const [, out] = labelExplainedFlags(ds, [weak, ss]);
    expect(out).toEqual(ss.flagged);
  });
});

describe('the precedence of a causal finding', () => {
  // Class 0 holds 20 poisoned records (0–19) that trigger transfer confirms one by one; spectral
  // signatures flags 16 of them and 10 clean ones (30–39): the same cluster with a clean edge.
  const ds = dataset(2);
  const poison = range(0, 20);
  const flaggedOf = (m: { flagged: Uint8Array }) =>
    Array.from(m.flagged.keys()).filter((i) => m.flagged[i]);
  const tt = () => report('trigger-transfer', 2, scores(2, poison), poison, { 0: 12 });
  const ssEdge = () =>
    report(
      'ss',
      2,
      scores(2, [...range(4, 20), ...range(30, 40)]),
      [...range(4, 20), ...range(30, 40)],
      {
        0: 6,
      },
    );

  it('drops the records of a finding that mostly repeats it, unless another detector flags them', () => {
    // ac flags two of the clean edge too (30, 31): two votes keep them.
    const ac = report('ac', 2, scores(2, [...range(0, 20), 30, 31]), [...range(0, 20), 30, 31], {
      0: 8,
    });
    expect(flaggedOf(scanDecision(ds, [ac, ssEdge(), tt()]))).toEqual([...poison, 30, 31]);
    // Without the causal finding the confirmed spectral finding keeps its records (as before).
    const other = report('other', 2, scores(2, poison), poison, { 0: 12 });
    expect(flaggedOf(scanDecision(ds, [ac, ssEdge(), other]))).toEqual([
      ...poison,
      ...range(30, 40),
    ]);
  });

  it('keeps a finding that lies elsewhere in the class', () => {
    // ac's 12 records are mostly outside the causal finding: other evidence, kept whole.
    const ac = report(
      'ac',
      2,
      scores(2, [...range(0, 4), ...range(50, 58)]),
      [...range(0, 4), ...range(50, 58)],
      {
        0: 8,
      },
    );
    expect(flaggedOf(scanDecision(ds, [ac, tt()]))).toEqual([...poison, ...range(50, 58)]);
  });

  it('changes nothing in classes without a strong causal finding', () => {
    const weak = report('trigger-transfer', 2, scores(2, poison), poison, { 0: 2 });
    const ss = ssEdge();
    const strong = [new Uint8Array([1, 0]), new Uint8Array([0, 0])];
    expect(withCausalPrecedence(ds, [ss, weak], strong)).toEqual(strong);
  });
});
