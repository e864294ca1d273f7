import { Command, Option } from 'commander';
import { BACKEND_NAMES } from '../engine/backend.js';
import { version } from '../version.js';
import { registerAttackCommand } from './commands/attack.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerAuditLogCommand } from './commands/audit-log.js';
import { registerCleanLabelAttackCommands } from './commands/clean-label.js';
import { registerCryptCommand } from './commands/crypt.js';
import { registerDatasetVersionCommand } from './commands/dataset-version.js';
import { registerDatasetsCommand } from './commands/datasets.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerEvaluateCommand } from './commands/evaluate.js';
import { registerGateCommand } from './commands/gate.js';
import { registerInfoCommand } from './commands/info.js';
import { registerInspectCommand } from './commands/inspect.js';
import { registerKeysCommand } from './commands/keys.js';
import { registerLineageCommand } from './commands/lineage.js';
import { registerManifestCommand } from './commands/manifest.js';
import { registerMonitorCommand } from './commands/monitor.js';
import { registerPolicyCommand } from './commands/policy.js';
import { registerPredictCommand } from './commands/predict.js';
import { registerPromoteCommand } from './commands/promote.js';
import { registerRegistryCommand } from './commands/registry.js';
import { registerRollbackCommand } from './commands/rollback.js';
import { registerMitigateCommand, registerScanCommand } from './commands/scan.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSignCommand } from './commands/sign.js';
import { registerSweepCommand } from './commands/sweep.js';
import { registerTrainCommand } from './commands/train.js';
import { registerVerifyCommand } from './commands/verify.js';

/** Every command group, in the order of the threat model: data, attack, defend, integrity, run. */
const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  registerInfoCommand,
  registerDatasetsCommand,
  registerTrainCommand,
  registerPredictCommand,
  registerAttackCommand,
  registerCleanLabelAttackCommands,
  registerEvaluateCommand,
  registerSweepCommand,
  registerScanCommand,
  registerMitigateCommand,
  registerInspectCommand,
  registerAuditCommand,
  registerManifestCommand,
  registerDatasetVersionCommand,
  registerKeysCommand,
  registerSignCommand,
  registerVerifyCommand,
  registerCryptCommand,
  registerLineageCommand,
  registerAuditLogCommand,
  registerPolicyCommand,
  registerRegistryCommand,
  registerGateCommand,
  registerPromoteCommand,
  registerRollbackCommand,
  registerServeCommand,
  registerMonitorCommand,
  registerDemoCommand,
];

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
  for (const register of COMMANDS) register(program);
  return program;
}
