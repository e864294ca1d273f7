/**
 * `antidote scan --queue`'s first jobs, sent before the scan command's modules load (issue 22).
 * The scan command's flags come from the detector registry, whose modules (with the engine's)
 * take most of a second to load: the workers would wait for them. So `main` hands the words of a
 * `scan` to {@link beginEarlyScan} first: a light parse of the flags the start of a distributed
 * scan reads, and, when the digest cache knows the data and the model, the forward pass's shards
 * on the queue (`scan-start.ts`); then the command loads and parses its flags in full, and
 * {@link takeEarlyScan} hands it that start only when the full parse gives the same inputs
 * ({@link scanStartInputs}). A start nobody takes (another reading of the flags, a parse error,
 * help) is waited for and removed ({@link settleEarlyScan}).
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { LoadDatasetOptions } from '../../data/load.js';
import type { LoadModelOptions } from '../../engine/model.js';
import { canonicalJson } from '../../integrity/canonical-json.js';
import { DEFAULT_QUEUE_NAME, type QueueTarget } from '../../jobs/connection.js';
import { addDataOptions, type DataCliOptions, dataLoadOptions } from '../data-arg.js';
import { addOnnxFlags, type OnnxCliOptions, onnxLoadOptions } from '../onnx-flags.js';
import { parseInteger } from '../options.js';
import { QUEUE_ENV, type QueueCliOptions, queueUrl } from '../queue-flags.js';
import type { QueuedScanStart } from './scan-start.js';

/** The scan's flags that the start of a distributed scan reads. */
export interface ScanStartFlags extends DataCliOptions, OnnxCliOptions, QueueCliOptions {
  data: string;
  model: string;
  out: string;
  layer?: string;
  /** Detector names (parsed), `all`, or the raw comma-separated value of the light parse. */
  method?: readonly string[] | string;
  threads: number;
  source?: string;
  quiet?: boolean;
  json?: boolean;
}

/** What the start of a distributed scan reads (plain data: equal inputs, the same start). */
export interface ScanStartInputs {
  readonly queue?: QueueTarget;
  /** The report directory (resolved): the shard files go beside it. */
  readonly out: string;
  readonly data: string;
  readonly load: Pick<LoadDatasetOptions, 'csv' | 'arrays'>;
  readonly model: string;
  readonly onnx: LoadModelOptions;
  readonly layer?: string;
  /** Whether the forward pass also writes class probabilities (`ln` may run). */
  readonly probabilities: boolean;
  readonly threads: number;
  readonly progress: { readonly quiet: boolean; readonly json: boolean };
}

/** Whether `method` (parsed, `all`, raw, or none: the defaults) may run `name`. */
function mayRun(method: ScanStartFlags['method'], name: string): boolean {
  if (method === undefined || method === 'all') return true;
  const names = typeof method === 'string' ? method.split(',').map((m) => m.trim()) : method;
  return names.includes(name);
}

/**
 * The inputs of the start from the scan's flags; `warn` gets the queue URL's warning (a password
 * on the command line), once per scan.
 */
export function scanStartInputs(
  o: ScanStartFlags,
  warn: (line: string) => void = () => {},
): ScanStartInputs {
  const url = queueUrl(o.queue, warn);
  return {
    ...(url ? { queue: { url, name: o.queueName ?? DEFAULT_QUEUE_NAME } } : {}),
    out: resolve(o.out),
    data: o.data,
    load: dataLoadOptions({
      ...(o as DataCliOptions),
      ...(o.source !== undefined ? { sourceColumn: o.source } : {}),
    }),
    model: o.model,
    onnx: onnxLoadOptions(o),
    ...(o.layer ? { layer: o.layer } : {}),
    probabilities: mayRun(o.method, 'ln'),
    threads: o.threads,
    progress: { quiet: o.quiet ?? false, json: o.json ?? false },
  };
}

/** The light parse's command: the flags of {@link ScanStartFlags}, the others let through. */
function lightScanCommand(): Command {
  const cmd = new Command('scan')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .option('--data <data>')
    .option('--model <dir>')
    .option('--out <dir>')
    .option('--layer <name>')
    .option('--method <names>')
    .option('--threads <n>', '', parseInteger, 1)
    .option('--source <column>')
    .option('--quiet')
    .option('--json')
    .option('--queue <url>')
    .option('--queue-name <name>', '', DEFAULT_QUEUE_NAME);
  return addDataOptions(addOnnxFlags(cmd));
}

/**
 * The start inputs of the words after `antidote` when they are a `scan` with a queue (`--queue`
 * or `$ANTIDOTE_QUEUE`) whose flags the light parse reads; undefined otherwise (other words,
 * help, a flag it cannot read: the full parse reports it).
 */
export function earlyScanInputs(args: readonly string[]): ScanStartInputs | undefined {
  if (args[0] !== 'scan') return undefined;
  const words = args.slice(1);
  if (words.some((w) => w === '--help' || w === '-h' || w === '--')) return undefined;
  const queued = words.some((w) => w === '--queue' || w.startsWith('--queue='));
  if (!queued && !process.env[QUEUE_ENV]) return undefined;
  try {
    const cmd = lightScanCommand();
    cmd.parse(words, { from: 'user' });
    const o = cmd.opts<ScanStartFlags>();
    if (!o.data || !o.model || !o.out) return undefined;
    const inputs = scanStartInputs(o);
    return inputs.queue ? inputs : undefined;
  } catch {
    return undefined;
  }
}

/** A start made before the command loaded, with the inputs it was made from. */
let pending:
  | { readonly key: string; readonly started: Promise<QueuedScanStart | undefined> }
  | undefined;

/**
 * For the words after `antidote` of a `scan --queue` (or a scan with `$ANTIDOTE_QUEUE`): the
 * start of the distributed scan (`startQueuedScan`), made now; resolves once the shards are on
 * the queue (on a digest-cache hit) or the start is made. Does nothing for other words, for help,
 * or for flags the light parse cannot read (the command then starts the scan itself).
 */
export async function beginEarlyScan(args: readonly string[]): Promise<void> {
  if (pending) return;
  const inputs = earlyScanInputs(args);
  if (!inputs) return;
  const { startQueuedScan } = await import('./scan-start.js');
  const started = startQueuedScan(inputs);
  pending = { key: canonicalJson(inputs), started };
  const start = await started.catch(() => undefined);
  await start?.early?.submitted.catch(() => {});
}

/**
 * The start {@link beginEarlyScan} made, when the scan's full flags give its `inputs` (its
 * failure is thrown then, as the command's own start would throw it); otherwise undefined, once
 * that start is removed.
 */
export async function takeEarlyScan(inputs: ScanStartInputs): Promise<QueuedScanStart | undefined> {
  const p = pending;
  pending = undefined;
  if (!p) return undefined;
  if (canonicalJson(inputs) === p.key) return p.started;
  await (await p.started.catch(() => undefined))?.cleanup();
  return undefined;
}

/** Removes a start {@link beginEarlyScan} made that no command took (after its jobs end). */
export async function settleEarlyScan(): Promise<void> {
  const p = pending;
  pending = undefined;
  await (await p?.started.catch(() => undefined))?.cleanup();
}
