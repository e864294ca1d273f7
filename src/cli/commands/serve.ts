import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { loadDataset } from '../../data/load.js';
import { AntidoteError } from '../../errors.js';
import { Deployment } from '../../registry/deployment.js';
import type { ModelRegistry } from '../../registry/model-registry.js';
import { parseMonitorConfig } from '../../registry/monitor.js';
import { loadTokenTable, type TokenSource, type TokenTable } from '../../server/auth.js';
import { type RunningServer, startServer } from '../../server/start.js';
import { ProjectTokens } from '../../server/token-store.js';
import { parseInteger } from '../options.js';
import { openRegistry } from './registry-common.js';

/** Options of `antidote serve`. */
export interface ServeCliOptions {
  model: string;
  host: string;
  port: number;
  reference?: string;
  monitorConfig?: string;
  monitoring: boolean;
  tokens?: string;
  /** `read`: reads need a token too (`--auth read`); default `none`. */
  auth?: 'none' | 'read';
  /** Old spelling of `--auth read`. */
  requireAuth?: boolean;
  maxBody: number;
  maxBatch: number;
  bodyTimeout?: number;
  seed: number;
  project?: string;
  /** Machine-readable output: the start line and the log as JSON Lines. */
  json?: boolean;
}

/**
 * Starts serving from parsed `antidote serve` options: opens the registry, loads the production
 * version with its monitors, and listens. Events go to `log`. The caller owns shutdown.
 */
export async function serveFromOptions(
  o: ServeCliOptions,
  log: (line: string) => void,
): Promise<{ server: RunningServer; registry: ModelRegistry }> {
  let monitor = parseMonitorConfig({});
  if (o.monitorConfig) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(o.monitorConfig, 'utf8'));
    } catch (e) {
      throw new AntidoteError(
        'INVALID_CONFIG',
        `cannot read monitor config ${o.monitorConfig}: ${(e as Error).message}`,
        { path: o.monitorConfig },
      );
    }
    monitor = parseMonitorConfig(raw, o.monitorConfig);
  }
  const reference = o.reference ? (await loadDataset(o.reference)).dataset : undefined;
  if (o.monitoring && !reference) {
    log('serve: no --reference sample: drift and STRIP monitors are off (error rate only)');
  }
  const fixed = o.tokens ? await loadTokenTable(o.tokens) : undefined;
  const readAuth = o.auth === 'read' || o.requireAuth === true;
  const registry = openRegistry(o);
  try {
    // The project's tokens (antidote tokens create), reread as they change, unless --tokens.
    const tokens: TokenTable | TokenSource = fixed ?? new ProjectTokens(registry.store.projectDir);
    const now = fixed ?? (tokens as ProjectTokens).current();
    if (readAuth && now && now.tokens.length > 0) {
      log('serve: read auth: every request but /healthz and /readyz needs an API token');
    } else if (readAuth) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        '--auth read needs API tokens: create one with antidote tokens create --name NAME --scope read (or give --tokens FILE)',
      );
    }
    const deployment = await Deployment.start(registry, o.model, {
      ...(reference ? { reference } : {}),
      monitor,
      monitoring: o.monitoring,
      seed: o.seed,
      onEvent: (e) => {
        if (e.type === 'loaded') log(`serve: serving ${e.version}`);
        else if (e.type === 'notice') log(`serve: ${e.message}`);
        else if (e.type === 'alert')
          log(`serve: ALERT ${e.trip.monitor} on ${e.version}: ${e.trip.message}`);
        else if (e.type === 'rollback') log(`serve: ROLLBACK ${e.from} → ${e.to}: ${e.reason}`);
        else if (e.type === 'refused')
          log(
            `serve: REFUSED ${e.version} [${e.code}]: ${e.message} (still serving the current version)`,
          );
        else log(`serve: error: ${e.message}`);
      },
    });
    const server = await startServer({
      registry,
      deployment,
      tokens,
      ...(readAuth ? { requireReadAuth: true } : {}),
      host: o.host,
      port: o.port,
      maxBodyBytes: o.maxBody,
      maxBatch: o.maxBatch,
      ...(o.bodyTimeout !== undefined ? { bodyTimeoutMs: o.bodyTimeout } : {}),
      onError: (m) => log(`serve: ${m}`),
    });
    return { server, registry };
  } catch (e) {
    registry.close();
    throw e;
  }
}

/**
 * `antidote serve --model NAME`: serves the production version on loopback (POST /v1/predict,
 * /healthz, /readyz, /metrics, the dashboard), with live monitoring and automatic rollback.
 * Image, text and tabular models are served alike (see `predict-routes.ts` for the records each
 * reads); the STRIP monitor is for image models only (off, with a notice, for the others).
 * Automatic rollbacks need evidence from several authenticated clients (the monitor config's
 * `evidence` section): anonymous traffic alone raises alerts, never a rollback.
 * Tokens are the project's (`antidote tokens create`, reread as they change) unless `--tokens
 * FILE`; `--auth read` makes every read (dashboard, API, metrics, predict) need one too.
 * SIGINT / SIGTERM shut it down gracefully.
 */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the production version of a model, with monitoring, rollback and dashboard')
    .requiredOption('--model <name>', 'model name (its production version is served)')
    .option('--host <addr>', 'interface to bind (default loopback only)', '127.0.0.1')
    .option('--port <n>', 'TCP port (0 = any free port)', parseInteger, 8080)
    .option(
      '--reference <data>',
      'clean reference sample, as the model reads it (drift reference; STRIP calibration for image models)',
    )
    .option('--monitor-config <file>', 'monitor thresholds and windows (JSON)')
    .option('--no-monitoring', 'serve predictions without monitors')
    .option(
      '--tokens <file>',
      "API token file instead of the project's (antidote tokens create): write tokens promote / rollback; token holders are trusted clients (automatic rollbacks need evidence from several)",
    )
    .addOption(
      new Option(
        '--auth <mode>',
        'read: the dashboard, the API, /metrics and /v1/predict need a read (or higher) token; none: anyone may read (changes always need a write token)',
      )
        .choices(['none', 'read'])
        .default('none'),
    )
    .addOption(new Option('--require-auth', 'same as --auth read').hideHelp())
    .option('--max-body <bytes>', 'largest request body', parseInteger, 1024 * 1024)
    .option('--max-batch <n>', 'most records per predict request', parseInteger, 256)
    .option(
      '--body-timeout <ms>',
      'longest time a client may take to send a request (408 after; not counted as a failure)',
      parseInteger,
      15_000,
    )
    .option('--seed <n>', 'seed of the STRIP overlay draws', parseInteger, 1)
    .option('--project <dir>', 'project folder')
    .option(
      '--json',
      'JSON Lines: {"event":"listening","url","model"} on stdout, each log line as {"event":"log","message"} on stderr',
    )
    .action(async (o: ServeCliOptions) => {
      const log = (line: string) =>
        process.stderr.write(
          `${o.json ? JSON.stringify({ event: 'log', message: line }) : line}\n`,
        );
      const { server, registry } = await serveFromOptions(o, log);
      process.stdout.write(
        o.json
          ? `${JSON.stringify({ event: 'listening', url: server.url, model: o.model })}\n`
          : `antidote serve: listening on ${server.url} (model ${o.model})\n`,
      );
      await new Promise<void>((res) => {
        const stop = (signal: string) => {
          log(`serve: ${signal}: shutting down (finishing in-flight requests)`);
          server.close().then(() => {
            registry.close();
            res();
          });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
