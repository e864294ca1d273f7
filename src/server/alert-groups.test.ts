import { describe, expect, it } from 'vitest';
import type { Alert } from '../registry/model-registry.js';
import { groupAlerts } from './alert-groups.js';

/** Alert `id` of `monitor` at `t` ms after 10:00 (UTC). */
function alert(id: number, t: number, monitor = 'strip', versionId = 'm@2'): Alert {
  return {
    id,
    name: 'm',
    versionId,
    monitor,
    severity: monitor === 'strip' ? 'critical' : 'warning',
    message: `${monitor} alert ${id}`,
    details: {},
    at: new Date(Date.parse('2026-01-05T10:00:00Z') + t).toISOString(),
  };
}

describe('groupAlerts', () => {
  it('folds a burst of one monitor into one group with count and first/last seen', () => {
    // 13 STRIP alerts in 3 s, newest first (as the registry lists them), and one drift warning.
    const burst = Array.from({ length: 13 }, (_, i) => alert(i + 1, i * 250));
    const all = [alert(14, 3500, 'input-drift'), ...burst].sort((a, b) => b.id - a.id);
    const groups = groupAlerts(all);
    expect(groups.map((g) => [g.monitor, g.count])).toEqual([
      ['input-drift', 1],
      ['strip', 13],
    ]);
    const strip = groups[1]!;
    expect(strip.firstSeen).toBe('2026-01-05T10:00:00.000Z');
    expect(strip.lastSeen).toBe('2026-01-05T10:00:03.000Z');
    expect(strip.latest.message).toBe('strip alert 13');
    expect(strip.ids).toEqual([13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('keeps versions, monitors and bursts far apart in time separate', () => {
    const hour = 3_600_000;
    const groups = groupAlerts(
      [
        alert(5, 3 * hour),
        alert(4, 10, 'strip', 'm@1'),
        alert(3, 5),
        alert(2, 1, 'error-rate'),
        alert(1, 0),
      ],
      hour,
    );
    expect(groups.map((g) => [g.versionId, g.monitor, g.count])).toEqual([
      ['m@2', 'strip', 1],
      ['m@1', 'strip', 1],
      ['m@2', 'strip', 2],
      ['m@2', 'error-rate', 1],
    ]);
    expect(groupAlerts([])).toEqual([]);
  });
});
