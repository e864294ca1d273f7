/**
 * Per-client rate limits on what the live monitors observe (issue 19, item 1): one client, however
 * fast it sends, contributes at most `perMinute` records a minute to the monitors' windows, so it
 * cannot fill them on its own. A token bucket per client key, refilled continuously; the table of
 * clients is bounded (the least recently seen are forgotten first).
 */

/** Most client keys remembered at once. */
const MAX_CLIENTS = 10_000;

/** Token buckets of records per client (see the module comment). */
export class ClientBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    /** Records one client may contribute per minute (also the burst size). */
    readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Takes `n` records from `key`'s budget: true when they fit (and are taken), false when the
   * client is over its rate (nothing taken).
   */
  take(key: string, n: number): boolean {
    const t = this.now();
    const b = this.buckets.get(key);
    let tokens = this.perMinute;
    if (b) {
      tokens = Math.min(this.perMinute, b.tokens + ((t - b.at) / 60_000) * this.perMinute);
      this.buckets.delete(key);
    } else if (this.buckets.size >= MAX_CLIENTS) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    const ok = n <= tokens;
    this.buckets.set(key, { tokens: ok ? tokens - n : tokens, at: t });
    return ok;
  }
}
