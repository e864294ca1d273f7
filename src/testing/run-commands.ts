import { Command } from 'commander';
import { vi } from 'vitest';
import { AntidoteError } from '../errors.js';

/**
 * Runs the CLI commands that `registrars` add, in this process, with `args` (after `antidote`):
 * returns what they wrote to stdout (stderr is silenced) and the `AntidoteError` thrown, if any
 * (other errors propagate).
 */
export async function runCommands(
  registrars: readonly ((program: Command) => void)[],
  args: readonly string[],
): Promise<{ out: string; error?: AntidoteError }> {
  const program = new Command('antidote').exitOverride();
  for (const r of registrars) r(program);
  let out = '';
  const w = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { out };
  } catch (err) {
    if (err instanceof AntidoteError) return { out, error: err };
    throw err;
  } finally {
    w.mockRestore();
    e.mockRestore();
  }
}
