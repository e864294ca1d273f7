import { readFile } from 'node:fs/promises';
import { REPO_ROOT } from './import-graph.js';

/**
 * Node flags that make a spawned Node process write to `out`, as it exits, the CommonJS module
 * files it loaded whose path contains `part` (a JSON array): TF.js's Node bundles are CommonJS,
 * so a process that loaded the engine lists them (`import` of a CommonJS module goes through
 * the same cache).
 */
export function loadedModulesProbe(out: string, part: string): string[] {
  const code = [
    'import { createRequire } from "node:module";',
    'import { writeFileSync } from "node:fs";',
    `const r = createRequire(${JSON.stringify(`${REPO_ROOT}/`)});`,
    'process.on("exit", () => {',
    `  const files = Object.keys(r.cache).filter((f) => f.includes(${JSON.stringify(part)}));`,
    `  writeFileSync(${JSON.stringify(out)}, JSON.stringify(files));`,
    '});',
  ].join('\n');
  return ['--import', `data:text/javascript,${encodeURIComponent(code)}`];
}

/** What a process spawned with {@link loadedModulesProbe} wrote to `out`. */
export async function probedModules(out: string): Promise<string[]> {
  return JSON.parse(await readFile(out, 'utf8')) as string[];
}
