import type { Rng } from '../util/rng.js';

/**
 * Chooses the served records that the STRIP monitor probes. At rate 1 every record; at a rate
 * p < 1, one record at a uniformly random position in each block of B = round(1/p) consecutive
 * records. Over any stretch the share probed is 1/B, the position of the next probe is
 * unpredictable to a client (an attacker cannot time triggered inputs around it), and no more than
 * 2B − 1 records pass between two probes, so a sustained attack is probed within a bounded number
 * of requests (independent Bernoulli draws give no such bound).
 */
export class ProbeSampler {
  private size = 0;
  private position = 0;
  private chosen = 0;

  constructor(private readonly rng: Rng) {}

  /** Whether to probe the next record at rate `rate` (in [0, 1]). */
  next(rate: number): boolean {
    if (rate >= 1) return true;
    if (!(rate > 0)) return false;
    const size = Math.max(1, Math.round(1 / rate));
    if (size !== this.size || this.position >= size) {
      this.size = size;
      this.position = 0;
      this.chosen = this.rng.int(size);
    }
    return this.position++ === this.chosen;
  }
}
