import { existsSync } from 'node:fs';
import type { AccessPolicy } from '../../integrity/policy.js';
import { loadPolicy } from '../../integrity/policy.js';
import { ModelRegistry } from '../../registry/model-registry.js';
import { resolveProjectDir } from '../../registry/store.js';
import { actorOf, policyPath } from './policy.js';

/** Options shared by the registry commands. */
export interface RegistryCliOptions {
  project?: string;
  key?: string;
  json?: boolean;
  quiet?: boolean;
}

/**
 * Opens the model registry of the project (`--project`, or the nearest `.antidote/`), on the
 * database the global `--store` / `ANTIDOTE_STORE` selects (SQLite by default).
 */
export function openRegistry(o: { project?: string }, create = false): ModelRegistry {
  return ModelRegistry.open(resolveProjectDir({ explicit: o.project, cwd: process.cwd(), create }));
}

/**
 * The actor (fingerprint of `--key`, or `anonymous`) and the project's access policy, when one
 * is installed (`.antidote/policy.json`).
 */
export async function actorAndPolicy(
  reg: ModelRegistry,
  key: string | undefined,
): Promise<{ actor: string; policy?: AccessPolicy }> {
  const actor = (await actorOf(key)) ?? 'anonymous';
  const path = policyPath(reg.store.projectDir);
  return existsSync(path) ? { actor, policy: await loadPolicy(path) } : { actor };
}
