/**
 * Holm's step-down adjustment of p-values (Holm, "A Simple Sequentially Rejective Multiple Test
 * Procedure", Scand. J. Statistics 1979): rejecting where the adjusted p-value is below α keeps
 * the family-wise error rate at α under any dependence between the tests, and rejects at least
 * what Bonferroni does. Returns the adjusted p-values in the input order.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((_, i) => i).sort((a, b) => pValues[a]! - pValues[b]! || a - b);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach((i, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * pValues[i]!));
    out[i] = running;
  });
  return out;
}
