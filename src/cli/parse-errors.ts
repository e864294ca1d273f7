import type { Command } from 'commander';

/**
 * The one line a command-line parse error prints (issue 21, item 2): commander's message without
 * its `error: ` prefix, as `INVALID_ARGUMENT`, and where to read the command's options
 * (`antidote help CMD`, or `antidote CMD SUB --help` for a sub-command); never the whole help.
 */
export function parseErrorLine(message: string, command: string | undefined): string {
  const text = message
    .replace(/^error: /, '')
    .split('\n')[0]!
    .trim();
  // `antidote help CMD` documents a top-level command; a sub-command's own help is `--help`.
  const help = !command
    ? 'antidote help'
    : command.includes(' ')
      ? `antidote ${command} --help`
      : `antidote help ${command}`;
  return `antidote: error [INVALID_ARGUMENT]: ${text} (see \`${help}\`)`;
}

/** The words of a (sub)command below the program (`attack backdoor`); undefined for the program. */
export function commandPath(cmd: Command): string | undefined {
  const words: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) words.unshift(c.name());
  return words.length ? words.join(' ') : undefined;
}

/** Every command below `program` (sub-commands included, depth first), the program excluded. */
export function allCommands(program: Command): Command[] {
  return program.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/**
 * Makes commander throw (not print, not exit) on a parse error, in `program` and every command
 * under it, and returns a function telling which command the last error came from, so that the
 * CLI prints {@link parseErrorLine} for it.
 */
export function silenceParseErrors(program: Command): () => Command | undefined {
  let failed: Command | undefined;
  for (const cmd of [program, ...allCommands(program)]) {
    cmd.exitOverride().configureOutput({
      outputError: () => {
        failed = cmd;
      },
    });
    cmd.showHelpAfterError(false);
  }
  return () => failed;
}
