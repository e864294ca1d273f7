import type { Alert } from '../registry/model-registry.js';

/**
 * Alert de-duplication for the dashboard and the API: a monitor that keeps tripping (13 alerts
 * in 3 seconds) is one line with a count and its first and last time, not 13 lines.
 */

/** Alerts of one model version, monitor and severity, close together in time. */
export interface AlertGroup {
  readonly name: string;
  readonly versionId?: string;
  readonly monitor: string;
  readonly severity: Alert['severity'];
  /** How many alerts the group holds. */
  readonly count: number;
  /** Time of the oldest and of the newest alert (ISO 8601). */
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** The newest alert (its message and values). */
  readonly latest: Alert;
  /** Ids of the grouped alerts, newest first. */
  readonly ids: readonly number[];
}

/** Default largest gap between two alerts of one group: one hour. */
export const ALERT_GROUP_GAP_MS = 3_600_000;

/**
 * Groups `alerts` (newest first, as the registry lists them) by model version, monitor and
 * severity: an alert joins the group of its key when it is at most `gapMs` older than the
 * group's oldest alert so far; otherwise it starts a new group. Groups come newest first.
 */
export function groupAlerts(
  alerts: readonly Alert[],
  gapMs: number = ALERT_GROUP_GAP_MS,
): AlertGroup[] {
  const groups: {
    key: string;
    first: number;
    latest: Alert;
    firstSeen: string;
    ids: number[];
  }[] = [];
  const open = new Map<string, (typeof groups)[number]>();
  for (const a of alerts) {
    const key = JSON.stringify([a.name, a.versionId ?? '', a.monitor, a.severity]);
    const t = Date.parse(a.at);
    const g = open.get(key);
    if (g && g.first - t <= gapMs) {
      g.ids.push(a.id);
      g.first = Math.min(g.first, t);
      g.firstSeen = a.at;
      continue;
    }
    const fresh = { key, first: t, latest: a, firstSeen: a.at, ids: [a.id] };
    groups.push(fresh);
    open.set(key, fresh);
  }
  return groups.map((g) => ({
    name: g.latest.name,
    ...(g.latest.versionId !== undefined ? { versionId: g.latest.versionId } : {}),
    monitor: g.latest.monitor,
    severity: g.latest.severity,
    count: g.ids.length,
    firstSeen: g.firstSeen,
    lastSeen: g.latest.at,
    latest: g.latest,
    ids: g.ids,
  }));
}
