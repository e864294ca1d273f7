/**
 * Wilson–Hilferty approximation (Wilson & Hilferty 1931, "The Distribution of Chi-Square", PNAS
 * 17) of the χ²_d quantile for the standard-normal quantile z.
 */
export function chiSquareQuantile(d: number, z: number): number {
  const a = 2 / (9 * d);
  return d * (1 - a + z * Math.sqrt(a)) ** 3;
}
