import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AntidoteError } from '../errors.js';

/**
 * The compiled script of an engine worker (`name`, e.g. `inference-worker.js`) next to this
 * module. Under the TypeScript sources (tests run on `src/`) the built copy in `dist/engine/` is
 * used, so `npm run build` must have run; `INVALID_STATE` says so otherwise.
 */
export function engineWorkerScript(name: string): URL {
  const here = new URL(`./${name}`, import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL(`../../dist/engine/${name}`, import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new AntidoteError(
    'INVALID_STATE',
    `worker threads need the built worker dist/engine/${name}: run npm run build`,
  );
}
