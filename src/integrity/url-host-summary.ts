/** Per-host counts of a URL download run, the unit a split-view attack shows up in. */

/** What happened to the items of one host. */
export interface UrlHostSummary {
  readonly host: string;
  /** Items of this host in the list. */
  readonly items: number;
  /** Counts per outcome (`kept`, `changed`, `failed`, ...), outcomes with no item left out. */
  readonly outcomes: Readonly<Record<string, number>>;
}

/**
 * Groups `(host, outcome)` pairs into per-host counts, hosts with the most items not `okOutcome`
 * first (then by name).
 */
export function summariseByHost(
  results: Iterable<{ readonly host: string; readonly outcome: string }>,
  okOutcome: string,
): UrlHostSummary[] {
  const byHost = new Map<string, { items: number; outcomes: Record<string, number> }>();
  for (const r of results) {
    let h = byHost.get(r.host);
    if (!h) {
      h = { items: 0, outcomes: {} };
      byHost.set(r.host, h);
    }
    h.items++;
    h.outcomes[r.outcome] = (h.outcomes[r.outcome] ?? 0) + 1;
  }
  const bad = (s: UrlHostSummary) => s.items - (s.outcomes[okOutcome] ?? 0);
  return [...byHost]
    .map(([host, h]) => ({ host, items: h.items, outcomes: h.outcomes }))
    .sort((a, b) => bad(b) - bad(a) || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
