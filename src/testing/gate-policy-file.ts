import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type LoadedGatePolicy, loadGatePolicy } from '../registry/gate-policy.js';

let written = 0;

/**
 * Writes a gate policy `body` as a new JSON file in `dir` and loads it as `antidote gate` does
 * (relative paths in it resolve against `dir`).
 */
export async function gatePolicyFile(dir: string, body: unknown): Promise<LoadedGatePolicy> {
  const path = join(dir, `policy-${++written}.json`);
  await writeFile(path, JSON.stringify(body));
  return loadGatePolicy(path);
}
