/**
 * The best split of a 1-D sample into a low and a high side, each side one Gaussian: the
 * classification likelihood of the two sides (each with its own mean and, when
 * `unequalVariances`, its own variance; the sides' sizes as their weights), or, with a shared
 * variance, the smallest within-side sum of squares (1-D 2-means). Trigger transfer splits its
 * candidates' projections and the per-record falls of its removal test with it.
 */
export interface TwoModeSplit {
  /** Positions of the sample in increasing order of value. */
  readonly order: Int32Array;
  /** Size of the low side: `order.subarray(0, cut)` is low, `order.subarray(cut)` high. */
  readonly cut: number;
}

/**
 * {@link TwoModeSplit} of `p` with each side at least `minSize` values (and 2); undefined when the
 * sample is too small to split.
 */
export function twoModeSplit(
  p: ArrayLike<number>,
  minSize: number,
  unequalVariances: boolean,
): TwoModeSplit | undefined {
  const n = p.length;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => p[a]! - p[b]!);
  const v = Float64Array.from(order, (i) => p[i]!);
  const cs = new Float64Array(n + 1);
  const cs2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    cs[i + 1] = cs[i]! + v[i]!;
    cs2[i + 1] = cs2[i]! + v[i]! * v[i]!;
  }
  const logVar = (ss: number, m: number) => Math.log(Math.max(ss / m, 1e-12));
  const lo = Math.max(2, minSize);
  let best = Number.NEGATIVE_INFINITY;
  let cut = -1;
  for (let n1 = lo; n1 <= n - lo; n1++) {
    const n2 = n - n1;
    const m1 = cs[n1]! / n1;
    const m2 = (cs[n]! - cs[n1]!) / n2;
    const s1 = Math.max(cs2[n1]! - n1 * m1 * m1, 0);
    const s2 = Math.max(cs2[n]! - cs2[n1]! - n2 * m2 * m2, 0);
    const score = unequalVariances
      ? -0.5 * (n1 * logVar(s1, n1) + n2 * logVar(s2, n2)) +
        n1 * Math.log(n1 / n) +
        n2 * Math.log(n2 / n)
      : -(s1 + s2);
    if (score > best) {
      best = score;
      cut = n1;
    }
  }
  return cut < 0 ? undefined : { order, cut };
}

/**
 * Whether a split's low and high sides are two modes at all: not where the best split is at the
 * smallest side allowed (`minSize`, and 2) on `n` values, a heavy tail rather than a mode.
 * Nothing more is claimed: on a skewed single mode (log-normal, exponential) the best split's
 * classification likelihood beats one Gaussian's by far, so a split only proposes two groups,
 * and what they are is for a test of their own to say.
 */
export function splitAtTail(split: TwoModeSplit, n: number, minSize: number): boolean {
  const lo = Math.max(2, minSize);
  return split.cut === lo || split.cut === n - lo;
}
