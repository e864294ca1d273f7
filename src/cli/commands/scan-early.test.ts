import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../integrity/canonical-json.js';
import { registerScanCommand, type ScanCliOptions } from './scan.js';
import {
  beginEarlyScan,
  earlyScanInputs,
  scanStartInputs,
  settleEarlyScan,
  takeEarlyScan,
} from './scan-early.js';

const root = await mkdtemp(join(tmpdir(), 'antidote-scan-early-'));
afterAll(() => rm(root, { recursive: true, force: true }));

/** No Redis listens here: a start that misses the digest cache does not connect. */
const QUEUE = 'redis://127.0.0.1:1';

/** The options the full scan command parses from `words` (its action replaced). */
async function fullOptions(words: readonly string[]): Promise<ScanCliOptions> {
  const program = new Command('antidote').exitOverride();
  registerScanCommand(program);
  let parsed: ScanCliOptions | undefined;
  program.commands[0]!.action((o: ScanCliOptions) => {
    parsed = o;
  });
  await program.parseAsync(['scan', ...words], { from: 'user' });
  return parsed!;
}

const base = ['--data', 'mnist:train:100', '--model', join(root, 'm'), '--out', join(root, 'o')];

describe('the early start of scan --queue (before the scan command loads)', () => {
  it('reads the inputs of the start as the full scan command does', async () => {
    const variants: string[][] = [
      [],
      ['--method', 'ac,ss'],
      ['--method', 'ac,ln', '--layer', 'dense_1', '--threads', '2'],
      ['--method', 'all', '--quiet', '--queue-name', 'other'],
      ['--scale', '255', '--layout', 'nhwc', '--label', 'y', '--json'],
      ['--seed', '3', '--force'],
      // Flags of the detectors, which the light parse does not know, before and after the rest.
      ['--reduce', 'pca', '--folds', '4'],
    ];
    for (const extra of variants) {
      const words = [...extra, ...base, ...extra, '--queue', QUEUE];
      const light = earlyScanInputs(['scan', ...words]);
      expect(light, extra.join(' ')).toBeDefined();
      const full = scanStartInputs(await fullOptions(words));
      expect(canonicalJson(light), extra.join(' ')).toBe(canonicalJson(full));
    }
    // Flags the two read differently give different inputs: the early start is not taken.
    const a = earlyScanInputs(['scan', ...base, '--method', 'ac', '--queue', QUEUE]);
    const b = scanStartInputs(await fullOptions([...base, '--method', 'ac,ln', '--queue', QUEUE]));
    expect(canonicalJson(a)).not.toBe(canonicalJson(b));
  });

  it('starts nothing without a queue, for help, or for flags it cannot read', () => {
    expect(earlyScanInputs(['scan', ...base])).toBeUndefined();
    expect(earlyScanInputs(['train', ...base, '--queue', QUEUE])).toBeUndefined();
    expect(earlyScanInputs(['scan', ...base, '--queue', QUEUE, '--help'])).toBeUndefined();
    expect(earlyScanInputs(['scan', ...base, '--threads', 'x', '--queue', QUEUE])).toBeUndefined();
  });

  it('hands its start to the command with the same inputs, and removes one nobody takes', async () => {
    const words = [...base, '--queue', QUEUE];
    await beginEarlyScan(['scan', ...words]);
    const same = await takeEarlyScan(scanStartInputs(await fullOptions(words)));
    expect(same?.queue.url).toBe(QUEUE);
    expect(await takeEarlyScan(scanStartInputs(await fullOptions(words)))).toBeUndefined();
    await same!.cleanup();

    await beginEarlyScan(['scan', ...words]);
    const other = [...base, '--layer', 'dense_1', '--queue', QUEUE];
    expect(await takeEarlyScan(scanStartInputs(await fullOptions(other)))).toBeUndefined();

    await beginEarlyScan(['scan', ...words]);
    await settleEarlyScan();
    expect(await takeEarlyScan(scanStartInputs(await fullOptions(words)))).toBeUndefined();
    expect(existsSync(join(root, 'o'))).toBe(false);
  });
});
