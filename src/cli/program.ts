import { createRequire } from 'node:module';
import { Command, Option } from 'commander';
import { BACKEND_NAMES } from '../engine/backend.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerInfoCommand } from './commands/info.js';
import { registerPredictCommand } from './commands/predict.js';
import { registerTrainCommand } from './commands/train.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Builds the `antidote` command line (without parsing anything). */
export function buildProgram(): Command {
  const program = new Command('antidote')
    .description(
      'Attack your own training pipeline with data poisoning, find the poison, lock the pipeline down.',
    )
    .version(version)
    .addOption(
      new Option('--backend <name>', 'TensorFlow.js backend')
        .choices([...BACKEND_NAMES])
        .env('ANTIDOTE_BACKEND'),
    )
    .showHelpAfterError()
    .exitOverride()
    .configureHelp({ sortSubcommands: true });
  program.hook('preAction', (cmd) => {
    const backend = cmd.opts().backend as string | undefined;
    if (backend) process.env.ANTIDOTE_BACKEND = backend;
  });
  for (const register of [
    registerInfoCommand,
    registerTrainCommand,
    registerPredictCommand,
    registerDemoCommand,
  ]) {
    register(program);
  }
  return program;
}
