#!/usr/bin/env node
import { CommanderError } from 'commander';
import { AntidoteError } from '../errors.js';
import { buildProgram, COMMAND_NAMES, commandOf } from './program.js';

/** Exit code for failures Antidote did not foresee (EX_SOFTWARE). */
const UNEXPECTED_EXIT = 70;

async function main(argv: string[]): Promise<number> {
  try {
    // Load only the module of the command that runs (none for `--version` or `help`): the others
    // import TF.js, echarts, sqlite or sigstore, which take seconds to load.
    const command = commandOf(argv.slice(2));
    const program = await buildProgram(
      command !== undefined && COMMAND_NAMES.has(command) ? [command] : [],
    );
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has already printed its message (and help where useful).
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof AntidoteError) {
      process.stderr.write(`antidote: error [${e.code}]: ${e.message}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    process.stderr.write(`antidote: unexpected error: ${err?.message ?? String(e)}\n`);
    if (process.env.ANTIDOTE_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    else process.stderr.write('(set ANTIDOTE_DEBUG=1 for a stack trace)\n');
    return UNEXPECTED_EXIT;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = UNEXPECTED_EXIT;
  },
);
