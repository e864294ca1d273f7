import { Command, Help, Option } from 'commander';
import { BACKEND_NAMES } from '../engine/backend-names.js';
import { version } from '../version.js';
import { allCommands } from './parse-errors.js';

/** Registers one command module's commands on the program. */
export type RegisterCommands = (program: Command) => void;

/** One top-level command as `antidote help` lists it, known without loading its module. */
export interface CommandLine {
  /** The command's name (`info`). */
  readonly name: string;
  /** Its term in the command list (`info [options] <data>`), as commander would print it. */
  readonly term: string;
  /** Its one-line description. */
  readonly description: string;
}

/** A command module: the top-level commands it registers and how to load it. */
export interface CommandModule {
  /** The top-level commands the module registers (or adds subcommands to, like `attack`). */
  readonly commands: readonly CommandLine[];
  /** Imports the module (lazily: only when one of its commands runs) and returns its register. */
  readonly load: () => Promise<RegisterCommands>;
}

const line = (name: string, args: string, description: string): CommandLine => ({
  name,
  term: args ? `${name} ${args}` : name,
  description,
});

/** A module that registers one top-level command. */
const one = (
  name: string,
  args: string,
  description: string,
  load: () => Promise<RegisterCommands>,
): CommandModule => ({ commands: [line(name, args, description)], load });

const ATTACK = line(
  'attack',
  '',
  'poison a copy of a dataset (red team); the output is an ordinary dataset directory',
);

/**
 * Every command module, in the order of the threat model: data, attack, defend, integrity, run.
 * The CLI loads only the module of the command it runs (fast start, issue 15); the help lines are
 * written here so that `antidote help` loads none. `program.test.ts` checks them against the
 * modules.
 */
export const COMMAND_MODULES: readonly CommandModule[] = [
  one(
    'info',
    '[options] [data]',
    'describe a dataset: shape, classes and counts, sources, attack record',
    async () => (await import('./commands/info.js')).registerInfoCommand,
  ),
  one(
    'datasets',
    '',
    'list and fetch the named real datasets (sentiment, imdb, spam-assassin, ...)',
    async () => (await import('./commands/datasets.js')).registerDatasetsCommand,
  ),
  one(
    'train',
    '[options]',
    'train a model on a dataset and save it to a model directory',
    async () => (await import('./commands/train.js')).registerTrainCommand,
  ),
  one(
    'predict',
    '[options]',
    'predict every record of a dataset with a saved model; report accuracy',
    async () => (await import('./commands/predict.js')).registerPredictCommand,
  ),
  {
    commands: [ATTACK],
    load: async () => (await import('./commands/attack.js')).registerAttackCommand,
  },
  {
    commands: [ATTACK],
    load: async () => (await import('./commands/clean-label.js')).registerCleanLabelAttackCommands,
  },
  one(
    'evaluate',
    '[options]',
    'measure a model: clean accuracy, per-class accuracy; with --trigger, ASR and robust accuracy',
    async () => (await import('./commands/evaluate.js')).registerEvaluateCommand,
  ),
  one(
    'sweep',
    '[options] [spec]',
    'run an attack sweep (poison rates × triggers × seeds) and chart accuracy and ASR',
    async () => (await import('./commands/sweep.js')).registerSweepCommand,
  ),
  one(
    'export',
    '[options]',
    'write a model trained in Antidote as an ONNX file (deploy it anywhere)',
    async () => (await import('./commands/export.js')).registerExportCommand,
  ),
  one(
    'scan',
    '[options]',
    'find poisoned or mislabelled records in a dataset with the model trained on it',
    async () => (await import('./commands/scan.js')).registerScanCommand,
  ),
  one(
    'mitigate',
    '[options]',
    'remove (or relabel) the records a scan flagged and write the cleaned dataset',
    async () => (await import('./commands/scan.js')).registerMitigateCommand,
  ),
  one(
    'inspect',
    '[options]',
    'inspect a trained model for a backdoor (Neural Cleanse, STRIP, fine-pruning)',
    async () => (await import('./commands/inspect.js')).registerInspectCommand,
  ),
  one(
    'audit',
    '[options]',
    'audit a dataset for poisoning: integrity, scan, vulnerability; HTML + JSON report',
    async () => (await import('./commands/audit.js')).registerAuditCommand,
  ),
  one(
    'manifest',
    '',
    'hash a directory into a manifest, verify it, diff two',
    async () => (await import('./commands/manifest.js')).registerManifestCommand,
  ),
  one(
    'urls',
    '',
    'URL-list datasets: snapshot each URL’s SHA-256, fetch keeping only matching items',
    async () => (await import('./commands/urls.js')).registerUrlsCommand,
  ),
  one(
    'worker',
    '[options]',
    'process distributed jobs (sweep, scan and manifest shards) from a BullMQ queue on Redis',
    async () => (await import('./commands/worker.js')).registerWorkerCommand,
  ),
  one(
    'store',
    '',
    'the shared PostgreSQL catalogue: grant a database role read or write access',
    async () => (await import('./commands/store.js')).registerStoreCommand,
  ),
  one(
    'dataset',
    '',
    'dataset versions in the project catalogue',
    async () => (await import('./commands/dataset-version.js')).registerDatasetVersionCommand,
  ),
  one(
    'keys',
    '',
    'signing keys (ECDSA P-256 by default, OpenSSF model-signing) and AES key-encryption keys',
    async () => (await import('./commands/keys.js')).registerKeysCommand,
  ),
  one(
    'sign',
    '[options] <path>',
    'sign a model or dataset (directory or single file) in the OpenSSF model-signing v1.0 format: DIR/antidote.sig, or FILE.sig for a single file',
    async () => (await import('./commands/sign.js')).registerSignCommand,
  ),
  one(
    'verify',
    '[options] <path>',
    'check the OpenSSF model-signing signature of a model or dataset (directory or single file) and re-hash every file and record against it',
    async () => (await import('./commands/verify.js')).registerVerifyCommand,
  ),
  {
    commands: [
      line(
        'encrypt',
        '[options] <file>',
        'encrypt FILE (AES-256-GCM, 1 MiB authenticated chunks, per-file data key wrapped by the KEK)',
      ),
      line(
        'decrypt',
        '[options] <file>',
        'decrypt FILE; nothing is written unless every chunk authenticates',
      ),
      line(
        'rekey',
        '[options] <files...>',
        'key rotation: re-wrap the data keys of encrypted FILES under a new KEK (data is not re-encrypted)',
      ),
    ],
    load: async () => (await import('./commands/crypt.js')).registerCryptCommand,
  },
  one(
    'lineage',
    '[options] <modelDir>',
    'walk back from a model (its SLSA provenance) to the dataset versions and record sources',
    async () => (await import('./commands/lineage.js')).registerLineageCommand,
  ),
  one(
    'audit-log',
    '',
    'the append-only, hash-chained audit log of the project',
    async () => (await import('./commands/audit-log.js')).registerAuditLogCommand,
  ),
  one(
    'policy',
    '',
    'access policy: principals (by key), roles, permissions; default deny',
    async () => (await import('./commands/policy.js')).registerPolicyCommand,
  ),
  one(
    'tokens',
    '',
    'API tokens of antidote serve: create (shown once), list, revoke; scoped',
    async () => (await import('./commands/tokens.js')).registerTokensCommand,
  ),
  one(
    'registry',
    '',
    'model registry: versions, stages (candidate → staging → production → archived)',
    async () => (await import('./commands/registry.js')).registerRegistryCommand,
  ),
  one(
    'gate',
    '[options]',
    'run the deployment gate (signature, dataset, scan, accuracy, backdoor probe)',
    async () => (await import('./commands/gate.js')).registerGateCommand,
  ),
  one(
    'promote',
    '[options] <version>',
    'promote a registered version (refused unless it passed the gate)',
    async () => (await import('./commands/promote.js')).registerPromoteCommand,
  ),
  one(
    'rollback',
    '[options] <model>',
    'restore the previous good production version of a model (audited)',
    async () => (await import('./commands/rollback.js')).registerRollbackCommand,
  ),
  one(
    'serve',
    '[options]',
    'serve the production version of a model, with monitoring, rollback and dashboard',
    async () => (await import('./commands/serve.js')).registerServeCommand,
  ),
  one(
    'monitor',
    '',
    'alerts and monitoring data of served models',
    async () => (await import('./commands/monitor.js')).registerMonitorCommand,
  ),
  one(
    'demo',
    '[options]',
    'the embedded MNIST demo: backdoor a copy, find the poison, clean, retrain, sign, report',
    async () => (await import('./commands/demo.js')).registerDemoCommand,
  ),
];

/** Every top-level command name the CLI knows. */
export const COMMAND_NAMES: ReadonlySet<string> = new Set(
  COMMAND_MODULES.flatMap((m) => m.commands.map((c) => c.name)),
);

/**
 * The top-level command the words after `antidote` run: the first word that is not a global
 * option (nor the value of `--backend` or `--store`). For `help CMD`, CMD. Undefined when there is none
 * (`antidote`, `antidote --version`, `antidote help`).
 */
export function commandOf(args: readonly string[]): string | undefined {
  let first: string | undefined;
  let operands = false; // after `--`, every word is an operand
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as string;
    if (!operands && word === '--') {
      operands = true;
    } else if (!operands && word.startsWith('-') && word !== '-') {
      if (first === undefined && (word === '--backend' || word === '--store')) i++; // its value
    } else if (first === undefined) {
      first = word;
      if (first !== 'help') return first;
    } else {
      return word; // `help CMD`
    }
  }
  return undefined;
}

/** The help text of the `--quiet` that {@link buildProgram} gives commands that declare none. */
export const QUIET_HELP = 'print only the result: no progress bars, no notices';

/**
 * Gives every command that runs something (a leaf: no sub-commands) a `--quiet` flag when it does
 * not declare one, so that `--quiet` is accepted everywhere (issue 21, item 2): such a command
 * shows no progress and prints only its result anyway.
 */
function addQuietEverywhere(program: Command): void {
  for (const cmd of allCommands(program)) {
    if (cmd.commands.length === 0 && !cmd.options.some((o) => o.long === '--quiet'))
      cmd.option('--quiet', QUIET_HELP);
  }
}

/**
 * Builds the `antidote` command line (without parsing anything). `load` says which top-level
 * commands to load: `'all'` (the default) registers every module; a list of names loads only the
 * modules of those commands, and every other command is a placeholder that `antidote help` lists
 * but that nothing loads.
 */
export async function buildProgram(load: 'all' | readonly string[] = 'all'): Promise<Command> {
  const wanted = (m: CommandModule) =>
    load === 'all' || m.commands.some((c) => load.includes(c.name));
  const modules = COMMAND_MODULES.filter(wanted);
  const registers = await Promise.all(modules.map((m) => m.load()));
  const placeholders = new Map<Command, string>();
  const defaultHelp = new Help();

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
    .addOption(
      new Option(
        '--store <url>',
        'catalogue and registry database: postgres://USER:PASSWORD@HOST/DB[?schema=NAME] for a shared PostgreSQL (docs/postgres.md), or sqlite (default)',
      ).env('ANTIDOTE_STORE'),
    )
    .exitOverride()
    .configureHelp({
      sortSubcommands: true,
      subcommandTerm: (cmd) => placeholders.get(cmd) ?? defaultHelp.subcommandTerm(cmd),
    });
  program.hook('preAction', (cmd) => {
    const backend = cmd.opts().backend as string | undefined;
    if (backend) process.env.ANTIDOTE_BACKEND = backend;
    const store = cmd.opts().store as string | undefined;
    if (store) process.env.ANTIDOTE_STORE = store; // read by SqlCatalogueStore.open
  });
  for (const register of registers) register(program);
  addQuietEverywhere(program);

  const registered = new Set(program.commands.map((c) => c.name()));
  for (const m of COMMAND_MODULES) {
    for (const c of m.commands) {
      if (registered.has(c.name)) continue;
      registered.add(c.name);
      const placeholder = program
        .command(c.name)
        .description(c.description)
        .helpOption(false)
        .allowUnknownOption()
        .allowExcessArguments()
        .action(() => {
          throw new Error(`the module of command "${c.name}" was not loaded`);
        });
      placeholders.set(placeholder, c.term);
    }
  }
  return program;
}
