import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Vitest global setup: every test run gets one temporary root, and `TMPDIR` points at it, so the
 * folders tests make with `mkdtemp(tmpdir())` (and the CLI processes, servers and browsers they
 * start, which inherit the variable) all land inside it. The root is removed when the run ends,
 * whether or not each test cleaned up after itself: a run leaves nothing behind in the machine's
 * temporary folder, which CI's disk needs (a fresh machine's disk can be nearly full).
 *
 * The workers are started after this runs, so they inherit the variable.
 */
export default function setUpTemporaryRoot(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'antidote-tests-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
