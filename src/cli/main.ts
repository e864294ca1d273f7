#!/usr/bin/env node
import { type Command, CommanderError } from 'commander';
import { AntidoteError } from '../errors.js';
import { commandPath, parseErrorLine, silenceParseErrors } from './parse-errors.js';
import { buildProgram, COMMAND_NAMES, commandOf } from './program.js';

/** Exit code for failures Antidote did not foresee (EX_SOFTWARE). */
const UNEXPECTED_EXIT = 70;

/** commander's codes for a help or version it printed on purpose (not an error). */
const SHOWN = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

async function main(argv: string[]): Promise<number> {
  // A reader that stops early (`antidote audit … | head -1`) closes the pipe: what is left of the
  // output is dropped and the command ends with its own status (not an uncaught EPIPE).
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  let ran: Command | undefined; // the command whose action runs (set before it runs)
  let failed: () => Command | undefined = () => undefined; // where a parse error came from
  let early: typeof import('./commands/scan-early.js') | undefined;
  try {
    // Load only the module of the command that runs (none for `--version` or `help`): the others
    // import TF.js, echarts, sqlite or sigstore, which take seconds to load.
    const command = commandOf(argv.slice(2));
    if (command === 'scan') {
      // `scan --queue`: the workers get their first jobs before the scan command's modules load.
      early = await import('./commands/scan-early.js');
      await early.beginEarlyScan(argv.slice(2));
    }
    const program = await buildProgram(
      command !== undefined && COMMAND_NAMES.has(command) ? [command] : [],
    );
    failed = silenceParseErrors(program);
    program.hook('preAction', (_cmd, action) => {
      ran = action;
    });
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (SHOWN.has(e.code)) return e.exitCode === 0 ? 0 : 2;
      const from = failed();
      process.stderr.write(`${parseErrorLine(e.message, from ? commandPath(from) : undefined)}\n`);
      return 2;
    }
    if (e instanceof AntidoteError) {
      const hint =
        e.code === 'ALREADY_EXISTS' &&
        !e.message.includes('--force') &&
        ran?.options.some((o) => o.long === '--force')
          ? ' (pass --force to replace it)'
          : '';
      process.stderr.write(`antidote: error [${e.code}]: ${e.message}${hint}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    process.stderr.write(`antidote: unexpected error: ${err?.message ?? String(e)}\n`);
    if (process.env.ANTIDOTE_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    else process.stderr.write('(set ANTIDOTE_DEBUG=1 for a stack trace)\n');
    return UNEXPECTED_EXIT;
  } finally {
    await early?.settleEarlyScan();
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
