import type { Command } from 'commander';
import { vi } from 'vitest';

/**
 * Runs `program` in this process with the command-line words `args` (after `antidote`) and
 * returns what it wrote to stdout (captured, not printed). Errors propagate as thrown.
 */
export async function runProgram(program: Command, args: readonly string[]): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'antidote', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

/** The error `p` rejects with, or undefined when it resolves. */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}
