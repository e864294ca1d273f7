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

/** Parsed JSON output of a command, checked by the callers' assertions. */
// biome-ignore lint/suspicious/noExplicitAny: JSON of many commands; tests assert its shape
export type JsonOutput = any;

/**
 * Runs `program` with `args` and `--json`: the parsed JSON it printed (undefined when nothing),
 * also when it then threw, and the error it threw (undefined when none).
 */
export async function runJson(
  program: Command,
  args: readonly string[],
): Promise<{ out: JsonOutput; err?: unknown }> {
  let text = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  });
  const err = await rejectionOf(program.parseAsync(['node', 'antidote', ...args, '--json']));
  spy.mockRestore();
  return { out: text ? JSON.parse(text) : undefined, err };
}
