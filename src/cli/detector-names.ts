import { InvalidArgumentError } from 'commander';
import { DETECTOR_NAMES } from '../defenses/registry.js';

/**
 * commander parser for a comma-separated list of detector names of the registry (`ac,tt`):
 * each checked, duplicates dropped; `extra` names more accepted words (scan's `all`).
 */
export function parseDetectorNames(value: string, extra: readonly string[] = []): string[] {
  const names = value.split(',').map((m) => m.trim());
  for (const m of names) {
    if (!(DETECTOR_NAMES as readonly string[]).includes(m)) {
      throw new InvalidArgumentError(
        `unknown detector "${m}"; choose from ${[...DETECTOR_NAMES, ...extra].join(', ')}`,
      );
    }
  }
  return [...new Set(names)];
}
