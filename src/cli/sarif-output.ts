import { type SarifLog, sarifText } from '../report/sarif.js';
import { refuseExistingOutput, writeFileAtomic } from '../util/fs.js';

/** Help of the `--sarif <file>` option of `audit` and `scan`. */
export const SARIF_OPTION_HELP =
  'also write the findings as SARIF 2.1.0 to this file (one result per flagged record group, for code-scanning dashboards)';

/**
 * Refuses a `--sarif` file that exists unless `--force` (checked before the work starts, so a
 * long audit does not end in this error).
 */
export function checkSarifTarget(path: string | undefined, force: boolean | undefined): void {
  if (path) refuseExistingOutput(path, force);
}

/** Writes a SARIF log to `path` atomically. */
export async function writeSarifFile(path: string, log: SarifLog): Promise<void> {
  await writeFileAtomic(path, sarifText(log));
}
