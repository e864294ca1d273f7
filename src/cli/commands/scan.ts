import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import type { z } from 'zod';
import { attackGroundTruth } from '../../attacks/attack-record.js';
import { displayPath } from '../../audit/report-run.js';
import type { Dataset } from '../../data/dataset.js';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { type DataDomain, dataDomain, type LoadedDataset, loadDataset } from '../../data/load.js';
import { normalizeRange } from '../../data/range.js';
import { isWithheldRead } from '../../data/withheld-records.js';
import { CLASS_PHASED_DETECTORS, type ClassPhaseRunner } from '../../defenses/class-phases.js';
import { reportToJSON } from '../../defenses/detector.js';
import { tabularScanContext } from '../../defenses/feature-trigger-discovery.js';
import type { KeywordDiscoveryReport } from '../../defenses/keyword-discovery.js';
import { applyReport, type MitigationMode } from '../../defenses/mitigation.js';
import { DETECTORS, detectorEntry, detectorsFor } from '../../defenses/registry.js';
import {
  DEFAULT_SCAN_METHODS,
  defaultScanMethods,
  type MergedScan,
  type ScanOptions,
  scanDataset,
} from '../../defenses/scan.js';
import {
  detectionReportOf,
  parseScanReport,
  readScanReport,
  SCAN_REPORT_FILE,
  SCAN_REPORT_FORMAT,
} from '../../defenses/scan-report.js';
import { sourceTrustLines } from '../../defenses/source-trust.js';
import { textScanContext } from '../../defenses/text-scan-context.js';
import { verdictLine } from '../../defenses/verdict.js';
// The engine's modules (TF.js) load where a model is loaded or trained, not with this command: a
// distributed scan's coordinator reading the data's outline never runs the model (issue 22).
import type { Classifier } from '../../engine/classifier.js';
import { DeferredImageModel } from '../../engine/deferred-image-model.js';
import { INFERENCE_ENGINES, type InferenceEngine } from '../../engine/inference-settings.js';
import type { Model, TrainLikeOptions } from '../../engine/model.js';
import { derivedMeta } from '../../engine/model-data.js';
import type { Retrainer } from '../../engine/model-retrain.js';
import { isOnnxPath, modelDirOf } from '../../engine/model-summary.js';
import { hasOnnxOptions } from '../../engine/onnx/onnx-preprocess.js';
import { AntidoteError } from '../../errors.js';
import { type DetectionEvaluation, evaluateDetection } from '../../eval/detection.js';
import {
  cachedDatasetOutline,
  datasetOutline,
  outlinedDataset,
  storeDatasetOutline,
} from '../../jobs/dataset-outline.js';
import { sarifDatasetLocation, scanToSarif } from '../../report/sarif.js';
import { refuseExistingOutput, writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { version } from '../../version.js';
import { addBatchNormFlag, type BatchNormCliOptions, batchNormOption } from '../batch-norm-flag.js';
import { addDataOptions, loadDataArg } from '../data-arg.js';
import { parseDetectorNames } from '../detector-names.js';
import { addOnnxFlags, type OnnxCliOptions, onnxLoadOptions } from '../onnx-flags.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { createProgressBar, progressEnabled } from '../progress.js';
import * as queueFlags from '../queue-flags.js';
import { checkSarifTarget, SARIF_OPTION_HELP, writeSarifFile } from '../sarif-output.js';
import { optionFromField } from '../schema-flags.js';
import { scanStartInputs, takeEarlyScan } from './scan-early.js';
import { queuedScan } from './scan-queue.js';
import { type QueuedScanStart, startQueuedScan } from './scan-start.js';

/** Short name of keyword discovery (text models only) among the scan methods. */
export const KEYWORD_METHOD = 'kw';

/** File name of the report inside a scan report directory. */
export { SCAN_REPORT_FILE };
/** CSV of the flagged records (see {@link suspiciousCsv}). */
export const SCAN_SUSPICIOUS_FILE = 'suspicious.csv';

/** The flags of `antidote scan`. */
export interface ScanCliOptions
  extends OutputOptions,
    OnnxCliOptions,
    BatchNormCliOptions,
    queueFlags.QueueCliOptions {
  data: string;
  model: string;
  method?: readonly string[] | 'all';
  layer?: string;
  seed: number;
  threads: number;
  inference: InferenceEngine;
  out: string;
  force?: boolean;
  trusted?: string;
  source?: string;
  sarif?: string;
  [detectorFlag: string]: unknown;
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/** commander parser of `--method`: `all`, or detector names separated by commas. */
function parseMethods(value: string): readonly string[] | 'all' {
  return value === 'all' ? 'all' : parseDetectorNames(value, ['all']);
}

/** The detectors of the registry that find `kind`, comma-separated. */
function namesFinding(kind: string): string {
  return DETECTORS.filter((d) => d.finds === kind)
    .map((d) => d.name)
    .join(', ');
}

const METHOD_HELP = `detectors, comma-separated (${namesFinding('backdoor')}: backdoors; ${namesFinding('label-noise')}: label noise; ${namesFinding('keywords')}: keyword discovery, text models), or all (every one that applies to the data). Several are merged into one decision, the one antidote audit takes: a record is flagged when 2 agree, when 1 flags it in a class where its finding is strong (calibrated against the data's own null), or when 1 does and the others rank it near the top of a class they judge poisoned; the first line of the output is the verdict (PASS, REVIEW or FAIL) and why. Default: activation clustering, and keyword discovery (kw) for a text model`;

/**
 * `antidote scan`: runs poisoned-data detectors of the registry over a dataset with the model
 * trained on it, merges them into the scan decision `antidote audit` takes too (`scanDataset`),
 * and writes a report directory (`report.json`, `suspicious.csv`). When the dataset carries an
 * attack record, detection metrics (precision, recall, F1, AUC) are printed too. Text and tabular
 * models are scanned in their feature space (TF-IDF vectors, embeddings, encoded rows); text
 * models also get keyword discovery (`kw`), whose ranked tokens go into the report.
 */
export function registerScanCommand(program: Command): void {
  const cmd = program
    .command('scan')
    .description('find poisoned or mislabelled records in a dataset with the model trained on it')
    .requiredOption('--data <data>', 'dataset directory, file, built-in or named dataset')
    .requiredOption('--model <dir>', 'model directory or .onnx file (trained on the dataset)')
    .addOption(
      new Option('--method <names>', METHOD_HELP)
        .argParser(parseMethods)
        .default(
          undefined,
          `${DEFAULT_SCAN_METHODS.join(',')} for images; ac,ss,ln,kw for a text model; ac,ss,ln,ft for a tabular one`,
        ),
    )
    .option('--layer <name>', 'layer whose activations are analysed (default: penultimate)')
    .option('--seed <n>', 'seed for clustering, sampling and folds', parseInteger, 1)
    .option(
      '--trusted <data>',
      'a trusted clean subset (a few records per class, same classes): the clean null each finding is checked against',
    )
    .option(
      '--source <column>',
      'CSV data: the column naming each record’s source (contributor, host, file); the scan then reports contamination per source and the sources to review (dataset directories carry their sources already)',
    );
  for (const option of detectorFlags().values()) cmd.addOption(option);
  addBatchNormFlag(cmd, 'models the detectors that retrain fine-tune (cl, abl, ct)');
  addDataOptions(addOnnxFlags(cmd))
    .option(
      '--threads <n>',
      'threads for the forward passes (worker_threads; representations equal up to float rounding)',
      parseInteger,
      1,
    )
    .addOption(
      new Option(
        '--inference <engine>',
        'runtime of the forward pass of a model trained in Antidote: auto (ONNX Runtime where every layer exports, else TF.js), onnx, tfjs (docs/speed.md)',
      )
        .choices(INFERENCE_ENGINES)
        .default('auto'),
    )
    .requiredOption('--out <dir>', 'report directory to write (report.json, suspicious.csv)')
    .option('--sarif <file>', SARIF_OPTION_HELP)
    .option('--force', 'replace an existing report directory')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress bars')
    .option('--queue <url>', `${queueFlags.QUEUE_HELP} (the forward pass is sharded)`)
    .option('--queue-name <name>', queueFlags.QUEUE_NAME_HELP, queueFlags.DEFAULT_QUEUE_NAME)
    .action((o: ScanCliOptions) => runScanCommand(o));
}

/**
 * The detector flags of the registry: each described option of an entry's schema, once (the
 * first entry naming a key wins), by option key. Undescribed options are library-only.
 */
function detectorFlags(): Map<string, Option> {
  const flags = new Map<string, Option>();
  for (const d of DETECTORS) {
    for (const [key, field] of Object.entries(d.options.shape)) {
      const option = flags.has(key) ? undefined : optionFromField(key, field as z.ZodType);
      if (option) flags.set(key, option);
    }
  }
  return flags;
}

/**
 * The detectors `--method` names for data of `domain`; `INVALID_ARGUMENT` for kw off text.
 * Without `--method`: the default set for the scan's context (`defaultScanMethods`: keyword
 * discovery joins it for a text model that reads raw texts).
 */
function scanMethods(
  method: ScanCliOptions['method'],
  domain: DataDomain,
  context: ScanContext,
): string[] {
  if (method === undefined) return defaultScanMethods(context);
  if (method === 'all') return detectorsFor(domain).map((d) => d.name);
  for (const m of method) {
    const entry = detectorEntry(m);
    if (!entry.domains.includes(domain)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        m === KEYWORD_METHOD
          ? 'keyword discovery (kw) needs a text model and text records'
          : `detector ${m} does not apply to ${domain} data`,
        { field: 'method' },
      );
    }
  }
  return [...method];
}

/**
 * How the scan trains its fold models (confident learning's k-fold) where `--epochs` is not
 * given: a model reading the records as they are (a zoo image model) with the engine's default
 * training options (2 epochs: folds stay cheap), a model with a featurizer (text, tabular) as it
 * was trained (its recorded run).
 */
async function foldTraining(
  model: Model,
  seed: number,
  epochs: number | undefined,
): Promise<TrainLikeOptions> {
  if (model.input.kind === 'tensor') {
    const { resolveTrainOptions } = await import('../../engine/train.js');
    const d = resolveTrainOptions({ seed });
    return {
      seed,
      epochs: epochs ?? d.epochs,
      batchSize: d.batchSize,
      learningRate: d.learningRate,
    };
  }
  return { seed, ...(epochs !== undefined ? { epochs } : {}) };
}

/** What the scan context of the detectors holds. */
type ScanContext = NonNullable<ScanOptions['context']>;

/** What a scan of `model` looks at: the records as the model sees them, and what it can do. */
function scanTarget(
  model: Model,
  loaded: LoadedDataset,
  threads: number,
  fineTuning: Pick<TrainLikeOptions, 'batchNorm'> = {},
): { ds: Dataset; model: Classifier; context: ScanContext } {
  model.useThreads(threads);
  const featurized = model.featurize(loaded.dataset);
  const source = loaded.dataset.source;
  return {
    // The records' provenance follows them, so the scan reports contamination per source.
    ds: source && !featurized.source ? { ...featurized, source } : featurized,
    model: model.classifier,
    context: {
      ...(model.capabilities.training
        ? {
            trainLike: async (train, o) =>
              model.trainLike(train, {
                ...(await foldTraining(model, o.seed, o.epochs)),
                ...fineTuning,
              }),
          }
        : {}),
      ...textScanContext(model, loaded.dataset),
      ...tabularScanContext(model),
    },
  };
}

/** Runs the scan through `scanDataset`, one progress bar per detector. */
async function runDetectors(
  target: ReturnType<typeof scanTarget>,
  methods: readonly string[],
  o: ScanCliOptions,
  trusted?: Dataset,
  classPhases?: ClassPhaseRunner,
): Promise<MergedScan> {
  const bars = new Map<string, ReturnType<typeof createProgressBar>>();
  const own = Object.fromEntries([...detectorFlags().keys()].map((k) => [k, o[k]]));
  try {
    return await scanDataset(target.ds, target.model, {
      methods,
      seed: o.seed,
      detectorOptions: { ...own, ...(o.layer ? { layer: o.layer } : {}) },
      context: target.context,
      ...(trusted ? { trusted } : {}),
      ...(classPhases ? { classPhases } : {}),
      onProgress: (m, p) => {
        let bar = bars.get(m);
        if (!bar) {
          for (const b of bars.values()) b.stop();
          bar = createProgressBar(`scan ${m}`, 1, progressEnabled(o));
          bars.set(m, bar);
        }
        bar.update(p.done, p.stage, p.total);
      },
    });
  } finally {
    for (const b of bars.values()) b.stop();
  }
}

/**
 * The `--trusted` subset as the model reads it (0–255 images on the [0, 1] scale, text and
 * tabular records featurized); `model.checkReads` refuses one it cannot read.
 */
async function loadTrusted(spec: string, model: Model): Promise<Dataset> {
  const raw = await loadDataset(spec);
  const range = normalizeRange(raw.dataset, spec);
  const loaded = range.notice ? { ...raw, dataset: range.dataset } : raw;
  model.checkReads(loaded);
  return model.featurize(loaded.dataset);
}

async function runScanCommand(o: ScanCliOptions): Promise<void> {
  refuseExistingOutput(o.out, o.force);
  checkSarifTarget(o.sarif, o.force);
  // With --queue: on a digest-cache hit the shards are sent before the data is read here (before
  // this module loaded, when the light parse of `scan-early.ts` read the same inputs).
  const inputs = scanStartInputs(o, (line) => {
    if (!o.quiet) process.stderr.write(`${line}\n`);
  });
  const start = (await takeEarlyScan(inputs)) ?? (await startQueuedScan(inputs));
  try {
    await scanWith(o, start);
  } finally {
    await start?.cleanup();
  }
}

async function scanWith(o: ScanCliOptions, start: QueuedScanStart | undefined): Promise<void> {
  let read: ScanData;
  try {
    read = (await outlinedScanData(o, start)) ?? (await readScanData(o, start));
  } catch (e) {
    start?.early?.model?.dispose(); // loaded first on a digest-cache hit
    throw e;
  }
  let model = start?.early?.model ?? (await scanModel(o, start, read));
  try {
    let plan = scanPlan(o, model, read);
    if (read.outlined && !plan) {
      // The model or the detectors read record values here: the data is read after all (its
      // outline, just read, is not written again), and the model loaded (the detectors get it).
      read = await readScanData(o, undefined);
      if (model instanceof DeferredImageModel) model = await model.load();
      plan = scanPlan(o, model, read);
    }
    if (!plan) throw new AntidoteError('INVALID_STATE', 'no scan plan for the data as read');
    if (read.outlined) {
      // As a read prints them: the loader's unless --quiet, the range check's always.
      for (const n of o.quiet ? [] : (read.loaded.notices ?? [])) {
        process.stderr.write(`notice: ${n}\n`);
      }
      if (read.notice) process.stderr.write(`notice: ${read.notice}\n`);
    }
    const { loaded, divided } = read;
    const { local, methods } = plan;
    const trusted = o.trusted ? await loadTrusted(o.trusted, model) : undefined;
    const classPhases = start
      ? await queuedScan(start, local, methods, model, loaded, divided, o)
      : undefined;
    const scan = await runDetectors(local, methods, o, trusted, classPhases);
    const ds = local.ds;
    const truth = attackGroundTruth(loaded.attack, ds.ids);
    const evaluations = truth ? evaluateScan(ds, scan, truth) : undefined;
    await writeDirAtomic(
      o.out,
      async (tmp) => {
        const doc = scanDocument(o, ds, scan, evaluations, model.preprocessing);
        await writeFileAtomic(join(tmp, SCAN_REPORT_FILE), `${JSON.stringify(doc)}\n`);
        await writeFileAtomic(join(tmp, SCAN_SUSPICIOUS_FILE), suspiciousCsv(ds, scan));
      },
      { overwrite: o.force ?? false },
    );
    if (o.sarif) {
      const dataset = sarifDatasetLocation(loaded, displayPath(o.data));
      await writeSarifFile(
        o.sarif,
        scanToSarif({ ds: { ...ds, source: ds.source ?? loaded.dataset.source }, scan, dataset }),
      );
    }
    printScanResult(o, ds, scan, evaluations);
  } finally {
    model.dispose();
  }
}

/**
 * The scanned model. When the data is read from its outline with the model's digest cached (a
 * distributed scan whose workers run the model; `read.outlined`), a zoo image model is opened
 * from its files (`DeferredImageModel`: the engine loads only if something here runs it, e.g. a
 * detector without a per-class phase, after which the data is read and the model loaded);
 * otherwise it is loaded (`loadModel`).
 */
async function scanModel(
  o: ScanCliOptions,
  start: QueuedScanStart | undefined,
  read: ScanData,
): Promise<Model> {
  const options = onnxLoadOptions(o);
  if (
    read.outlined &&
    start?.early?.modelDigest &&
    !isOnnxPath(o.model) &&
    !hasOnnxOptions(options.onnx)
  ) {
    const deferred = await DeferredImageModel.open(await modelDirOf(o.model));
    if (deferred) return deferred;
  }
  return (await import('../../engine/model.js')).loadModel(o.model, options);
}

/** The scanned records as read (or outlined), and whether 0–255 images were divided by 255. */
interface ScanData {
  readonly loaded: LoadedDataset;
  readonly divided: boolean;
  /** The range check's notice (printed when the data is read, kept with an outline). */
  readonly notice?: string;
  /** Read from the cached outline: no record values here (`jobs/dataset-outline.ts`). */
  readonly outlined?: boolean;
}

/**
 * Detectors whose work in a distributed scan's coordinator reads no record value: the per-class
 * phases run on the workers, `ln` reads the forward pass's probabilities.
 */
const OUTLINE_METHODS: ReadonlySet<string> = new Set([
  ...Object.keys(CLASS_PHASED_DETECTORS),
  'ln',
]);

/**
 * On a digest-cache hit of `scan --queue` (the shards already sent), the data as its cached
 * outline gives it, without record values, when nothing this process does with it reads them
 * (no `--trusted` or `--source`); undefined otherwise (the data is read).
 */
async function outlinedScanData(
  o: ScanCliOptions,
  start: QueuedScanStart | undefined,
): Promise<ScanData | undefined> {
  if (!start?.early || !start.subject || o.trusted !== undefined || o.source !== undefined) {
    return undefined;
  }
  const outline = await cachedDatasetOutline(start.subject);
  if (!outline) return undefined;
  return {
    loaded: outlinedDataset(outline),
    divided: outline.divideBy255,
    ...(outline.rangeNotice ? { notice: outline.rangeNotice } : {}),
    outlined: true,
  };
}

/**
 * The scan's target and detectors for `read`; undefined when `read` is an outline and the model
 * (a featurizer that transforms the records) or a detector would read record values here.
 */
function scanPlan(
  o: ScanCliOptions,
  model: Model,
  read: ScanData,
): { local: ReturnType<typeof scanTarget>; methods: string[] } | undefined {
  try {
    model.checkReads(read.loaded);
    // A model trained in Antidote (the zoo's TfClassifier, loaded or deferred) runs on a choice of
    // runtimes; other classifiers have one.
    (model.classifier as { useInference?: (e: InferenceEngine) => unknown }).useInference?.(
      o.inference,
    );
    const local = scanTarget(model, read.loaded, o.threads, batchNormOption(o, model.kind));
    const methods = scanMethods(o.method, dataDomain(read.loaded), local.context);
    if (read.outlined && !methods.every((m) => OUTLINE_METHODS.has(m))) return undefined;
    return { local, methods };
  } catch (e) {
    // A model that checks or transforms the record values (an ONNX model's layout or scaling).
    if (read.outlined && isWithheldRead(e)) return undefined;
    throw e;
  }
}

/**
 * The scanned records: 0–255 image records are read on the [0, 1] scale (`divided`), with a
 * notice. In a distributed scan (`keepOutlineFor`), an image dataset's outline is kept for the
 * next scan of the same files (`jobs/dataset-outline.ts`).
 */
async function readScanData(
  o: ScanCliOptions,
  keepOutlineFor: QueuedScanStart | undefined,
): Promise<ScanData> {
  const raw = await loadDataArg(o.data, {
    ...o,
    ...(o.source !== undefined ? { sourceColumn: o.source } : {}),
  });
  if (o.source && raw.kind !== 'csv') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--source names a CSV column, but ${o.data} is not a CSV file`,
    );
  }
  const range = normalizeRange(raw.dataset, o.data);
  if (range.notice) process.stderr.write(`notice: ${range.notice}\n`);
  if (keepOutlineFor?.subject) {
    const outline = datasetOutline(raw, range.range, range.notice);
    if (outline) await storeDatasetOutline(keepOutlineFor.subject, outline);
  }
  return {
    loaded: range.notice ? { ...raw, dataset: range.dataset } : raw,
    divided: range.notice !== undefined,
    ...(range.notice ? { notice: range.notice } : {}),
  };
}

/** Detection metrics of each detector and of the merged decision against the attack record. */
function evaluateScan(
  ds: Dataset,
  scan: MergedScan,
  truth: Uint8Array,
): Record<string, DetectionEvaluation> {
  const t = { poisoned: truth, y: ds.y, classes: ds.classes };
  const out: Record<string, DetectionEvaluation> = {};
  scan.reports.forEach((r, k) => {
    out[scan.detectors[k]!] = evaluateDetection(r, t);
  });
  if (scan.reports.length > 1) {
    out.decision = evaluateDetection({ scores: scan.suspicion, flagged: scan.flagged }, t);
  }
  return out;
}

/** The keyword discovery report among the scan's reports, if kw ran. */
function keywordReport(scan: MergedScan): KeywordDiscoveryReport | undefined {
  const k = scan.detectors.indexOf(KEYWORD_METHOD);
  return k >= 0 ? (scan.reports[k] as KeywordDiscoveryReport) : undefined;
}

/** The `report.json` document (see `defenses/scan-report.ts` for its schema). */
function scanDocument(
  o: ScanCliOptions,
  ds: Dataset,
  scan: MergedScan,
  evaluations: Record<string, DetectionEvaluation> | undefined,
  preprocessing?: object,
): Record<string, unknown> {
  const keywords = keywordReport(scan);
  const doc = {
    format: SCAN_REPORT_FORMAT,
    version: 1,
    data: o.data,
    model: o.model,
    ...(preprocessing ? { preprocessing } : {}),
    records: ds.ids.length,
    methods: Object.fromEntries(
      scan.reports.map((r, k) => [scan.detectors[k]!, reportToJSON(r, ds.ids)]),
    ),
    decision: {
      detectors: [...scan.detectors],
      quorum: scan.quorum,
      flagged: Array.from(scan.flagged),
      votes: Array.from(scan.votes),
      suspicion: Array.from(scan.suspicion, (v) => Number(v.toFixed(4))),
      flaggedIds: ds.ids.filter((_, i) => scan.flagged[i]),
    },
    verdict: scan.verdict,
    ...(keywords
      ? { keywords: { suspected: [...keywords.keywords], ranking: [...keywords.ranking] } }
      : {}),
    ...(evaluations ? { evaluation: evaluations } : {}),
    ...(scan.sources ? { sources: scan.sources } : {}),
  };
  // Checked before writing, so what `scan` writes is what its readers accept.
  parseScanReport(doc, SCAN_REPORT_FILE);
  return doc;
}

/**
 * `suspicious.csv`: one row per record. With one detector, `id,label,method,score` for each
 * record it flags, most suspicious first. With several, one row per record any of them flags:
 * `id,label,decision,flagged_by,suspicion` (the merged decision, the detectors flagging it
 * separated by `;`, the mean percentile rank), then one score column per detector; records the
 * decision flags first, then by votes and suspicion.
 */
export function suspiciousCsv(ds: Dataset, scan: MergedScan): string {
  const label = (i: number) => csvField(ds.classes[ds.y[i]!]!);
  if (scan.reports.length === 1) {
    const r = scan.reports[0]!;
    const m = scan.detectors[0]!;
    const rows = Array.from(r.flagged.keys())
      .filter((i) => r.flagged[i])
      .sort((a, b) => r.scores[b]! - r.scores[a]!)
      .map((i) => [csvField(ds.ids[i]!), label(i), m, String(r.scores[i])].join(','));
    return `${['id,label,method,score', ...rows].join('\n')}\n`;
  }
  const rows = Array.from(scan.votes.keys())
    .filter((i) => scan.votes[i]! > 0)
    .sort(
      (a, b) =>
        scan.flagged[b]! - scan.flagged[a]! ||
        scan.votes[b]! - scan.votes[a]! ||
        scan.suspicion[b]! - scan.suspicion[a]! ||
        a - b,
    )
    .map((i) =>
      [
        csvField(ds.ids[i]!),
        label(i),
        String(scan.flagged[i]),
        scan.detectors.filter((_, k) => scan.reports[k]!.flagged[i]).join(';'),
        scan.suspicion[i]!.toFixed(4),
        ...scan.reports.map((r) => String(r.scores[i])),
      ].join(','),
    );
  const header = ['id', 'label', 'decision', 'flagged_by', 'suspicion', ...scan.detectors];
  return `${[header.join(','), ...rows].join('\n')}\n`;
}

/** Prints what the scan found: per detector, then the merged decision. */
function printScanResult(
  o: ScanCliOptions,
  ds: Dataset,
  scan: MergedScan,
  evaluations: Record<string, DetectionEvaluation> | undefined,
): void {
  const n = ds.ids.length;
  const keywords = keywordReport(scan);
  const summary = scan.reports.map((r, k) => {
    const m = scan.detectors[k]!;
    return {
      method: m,
      flagged: r.flagged.reduce((a, b) => a + b, 0),
      suspiciousClasses: r.perClass.filter((c) => c.suspicious).map((c) => c.className),
      ...(m === KEYWORD_METHOD && keywords
        ? {
            keywords: keywords.keywords.map((w) => w.token),
            topTokens: keywords.ranking.slice(0, 10).map((w) => w.token),
          }
        : {}),
      ...metrics(evaluations?.[m]),
    };
  });
  const decision = {
    detectors: [...scan.detectors],
    quorum: scan.quorum,
    flagged: scan.flagged.reduce((a, b) => a + b, 0),
    ...metrics(evaluations?.decision),
  };
  const several = scan.reports.length > 1;
  printResult(
    o,
    () =>
      [
        verdictLine(scan.verdict),
        `scanned ${n} records; report written to ${o.out}`,
        ...summary.map((s) => {
          const base = `  ${s.method}: ${s.flagged} flagged (${pct(s.flagged / Math.max(n, 1))})${s.suspiciousClasses.length ? `, suspicious classes: ${s.suspiciousClasses.join(', ')}` : ''}${s.topTokens ? `\n    top tokens: ${s.topTokens.join(', ')}` : ''}`;
          return base + metricsLine(s);
        }),
        ...(several
          ? [
              `  decision (${decision.quorum} of ${decision.detectors.join(', ')} agree, 1 with a strong finding, or 1 corroborated): ${decision.flagged} flagged (${pct(decision.flagged / Math.max(n, 1))})${metricsLine(decision)}`,
            ]
          : []),
        ...scan.reports.flatMap((r, k) =>
          r.perClass
            .filter((c) => c.suspicious)
            .map((c) => `  ${scan.detectors[k]} class ${c.className}: ${c.reason}`),
        ),
        ...(scan.sources ? sourceTrustLines(scan.sources) : []),
      ].join('\n'),
    {
      verdict: scan.verdict,
      out: o.out,
      records: n,
      methods: summary,
      decision,
      ...(scan.sources ? { sources: scan.sources } : {}),
    },
  );
}

function metrics(ev: DetectionEvaluation | undefined) {
  return ev
    ? {
        precision: ev.precision,
        recall: ev.recall,
        f1: ev.f1,
        auc: ev.auc,
        unattackedFpr: ev.unattackedFpr,
      }
    : {};
}

function metricsLine(s: ReturnType<typeof metrics>): string {
  return s.f1 === undefined
    ? ''
    : `\n    vs attack record: precision ${fmtMetric(s.precision)}, recall ${fmtMetric(s.recall)}, F1 ${fmtMetric(s.f1)}, AUC ${fmtMetric(s.auc)}, FPR on unattacked classes ${fmtMetric(s.unattackedFpr)}`;
}

function fmtMetric(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(3);
}

interface MitigateCliOptions extends OutputOptions, OnnxCliOptions, BatchNormCliOptions {
  data: string;
  scan: string;
  method?: string;
  mode: MitigationMode;
  out: string;
  force?: boolean;
  retrain?: string;
  modelOut?: string;
}

/** The training settings of a recorded training run (`model.json` → `antidote.training`). */
function recordedSettings(run: Record<string, unknown> | undefined, where: string) {
  const num = (k: string) => (typeof run?.[k] === 'number' ? (run[k] as number) : undefined);
  const seed = num('seed');
  if (seed === undefined) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where} records no training run with a seed: retrain it with antidote train instead`,
      { path: where },
    );
  }
  const out: {
    seed: number;
    epochs?: number;
    batchSize?: number;
    learningRate?: number;
    validationSplit?: number;
    earlyStoppingPatience?: number;
  } = { seed };
  for (const k of [
    'epochs',
    'batchSize',
    'learningRate',
    'validationSplit',
    'earlyStoppingPatience',
  ] as const) {
    const v = num(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** The seed of `mitigate --retrain MODEL.onnx`'s fine-tuning (an ONNX file records none). */
const ONNX_FINE_TUNE_SEED = 1;

/** A model to retrain like `mitigate --retrain`'s: its kind and recorded training settings. */
interface RetrainPlan {
  readonly modelDir: string;
  readonly kind: string;
  readonly settings: ReturnType<typeof recordedSettings>;
  /** Trains a fresh model of that kind and with those settings (featurizer refitted). */
  readonly train: Retrainer;
}

/**
 * Reads what retraining like the model in `modelDir` needs (kind, sizes, recorded training
 * settings) and checks, before anything is written, that it reads `loaded` and that `out` may be
 * written (`ALREADY_EXISTS` unless `force`).
 */
async function planRetrain(
  modelDir: string,
  loaded: LoadedDataset,
  out: string,
  force: boolean,
  onnx: OnnxCliOptions & BatchNormCliOptions = {},
): Promise<RetrainPlan> {
  if (!force && existsSync(out)) {
    throw new AntidoteError(
      'ALREADY_EXISTS',
      `${out} already exists; refusing to replace it (choose another --model-out, or --force)`,
      { path: out },
    );
  }
  const { loadModel } = await import('../../engine/model.js');
  const { retrainerLike } = await import('../../engine/model-retrain.js');
  const previous = await loadModel(modelDir, onnxLoadOptions(onnx));
  try {
    previous.checkReads(loaded);
    if (previous.kind === 'onnx' && !isOnnxPath(out)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `--retrain ${modelDir} fine-tunes an ONNX model, written as a .onnx file: give --model-out NAME.onnx (${out} is not one)`,
        { path: out, field: 'model-out' },
      );
    }
    // An ONNX file records no training run: it is fine-tuned from its weights with the defaults.
    const settings =
      previous.kind === 'onnx'
        ? { seed: ONNX_FINE_TUNE_SEED }
        : recordedSettings(previous.training[previous.training.length - 1], modelDir);
    return {
      modelDir,
      kind: previous.kind,
      settings,
      train: retrainerLike(previous, settings, batchNormOption(onnx, previous.kind)),
    };
  } finally {
    previous.dispose();
  }
}

/**
 * Trains a fresh model as `plan` says on the cleaned dataset directory `dataDir`, saves it to
 * `out` with its provenance, and returns what it trained.
 */
async function retrainLike(
  plan: RetrainPlan,
  dataDir: string,
  out: string,
  force: boolean,
): Promise<{ kind: string; records: number; seed: number }> {
  const loaded = await loadDataset(dataDir);
  const startedOn = new Date();
  const { kind, settings } = plan;
  // Trained on the [0, 1] scale, like `antidote train` (0–255 images divided by 255).
  const range = normalizeRange(loaded.dataset, dataDir);
  if (range.notice) process.stderr.write(`notice: ${range.notice}\n`);
  const trained = await plan.train(range.notice ? { ...loaded, dataset: range.dataset } : loaded);
  try {
    await trained.save(out, { overwrite: force });
    // A .onnx file has no model directory to hold provenance: it is written alone, with its sidecar.
    if (!isOnnxPath(out)) await recordTrainingProvenanceOf(out, loaded, startedOn, plan);
  } finally {
    trained.dispose();
  }
  return { kind, records: loaded.dataset.ids.length, seed: settings.seed };
}

/** Records the provenance of the model retrained as `plan` says into its directory `out`. */
async function recordTrainingProvenanceOf(
  out: string,
  loaded: LoadedDataset,
  startedOn: Date,
  plan: RetrainPlan,
): Promise<void> {
  const { kind, settings } = plan;
  // Loaded here, by `mitigate --retrain` alone (sigstore's modules: a scan does not need them).
  const [{ recordTrainingProvenance }, { datasetProvenance }, { activeBackend }] =
    await Promise.all([
      import('../../integrity/lineage.js'),
      import('../provenance.js'),
      import('../../engine/backend.js'),
    ]);
  await recordTrainingProvenance({
    modelDir: out,
    datasets: [await datasetProvenance(loaded)],
    code: { version: `antidote@${version}` },
    hyperparameters: {
      model: kind,
      retrainedLike: plan.modelDir,
      ...settings,
      backend: activeBackend(),
    },
    seed: settings.seed,
    startedOn,
    finishedOn: new Date(),
  });
}

/** `--method` value of `mitigate` that applies the scan's merged decision. */
export const DECISION_METHOD = 'decision';

/**
 * Reads a scan report (directory or its report.json, checked against its schema) and returns
 * the chosen method's report: a detector, or `decision` for the merged decision.
 */
async function readScan(
  path: string,
  method: string | undefined,
): Promise<{ method: string; report: ReturnType<typeof detectionReportOf> }> {
  const { file, report: doc } = await readScanReport(path);
  const names = Object.keys(doc.methods);
  const chosen = method ?? (names.length === 1 ? names[0] : undefined);
  if (chosen === undefined) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${file} holds several methods (${names.join(', ')}): pick one with --method (or --method ${DECISION_METHOD} for the merged decision)`,
      { path: file },
    );
  }
  if (chosen === DECISION_METHOD && doc.decision) {
    const ids = Object.values(doc.methods).find((r) => r.ids)?.ids;
    return {
      method: chosen,
      report: {
        method: DECISION_METHOD,
        scores: Float32Array.from(doc.decision.suspicion),
        flagged: Uint8Array.from(doc.decision.flagged),
        perClass: [],
        params: { quorum: doc.decision.quorum },
        ...(ids ? { ids } : {}),
      },
    };
  }
  const chosenReport = Object.hasOwn(doc.methods, chosen) ? doc.methods[chosen] : undefined;
  if (!chosenReport) {
    throw new AntidoteError(
      'NOT_FOUND',
      `${file} has no "${chosen}" report (it has ${names.join(', ')}${doc.decision ? `, ${DECISION_METHOD}` : ''})`,
      { path: file },
    );
  }
  return { method: chosen, report: detectionReportOf(chosenReport) };
}

/**
 * `antidote mitigate`: applies a scan report to its dataset (drop the flagged records, or relabel
 * them with the detector's suggestions) and writes the cleaned dataset directory.
 */
export function registerMitigateCommand(program: Command): void {
  const mitigate = program
    .command('mitigate')
    .description('remove (or relabel) the records a scan flagged and write the cleaned dataset')
    .requiredOption(
      '--data <data>',
      'dataset directory, file, built-in or named dataset (the one scanned)',
    )
    .requiredOption('--scan <report>', 'scan report directory (or its report.json)')
    .option(
      '--method <name>',
      `which method of the report to apply (needed when it has several): a detector, or ${DECISION_METHOD} for the scan's merged decision`,
    )
    .addOption(
      new Option('--mode <mode>', 'drop flagged records, or relabel them (label-noise detectors)')
        .choices(['drop', 'relabel'])
        .default('drop'),
    )
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option(
      '--retrain <model>',
      'also retrain: a model like this one (same kind and training settings) on the cleaned data; a .onnx model is fine-tuned from its weights',
    )
    .option(
      '--model-out <dir>',
      'with --retrain: the model directory to write (a .onnx file for an ONNX model)',
    )
    .option('--force', 'replace existing output directories')
    .option('--json', 'print the result as JSON')
    .action(async (o: MitigateCliOptions) => {
      if ((o.retrain === undefined) !== (o.modelOut === undefined)) {
        throw new AntidoteError('INVALID_ARGUMENT', '--retrain and --model-out go together', {
          field: 'retrain',
        });
      }
      const loaded = await loadDataset(o.data);
      const { method, report } = await readScan(o.scan, o.method);
      if (!report.ids) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `the "${method}" report carries no record ids; it cannot be matched to a dataset`,
        );
      }
      const cleaned = applyReport(loaded.dataset, report, o.mode, report.ids);
      // Everything --retrain could refuse is checked before the cleaned data is written.
      const plan =
        o.retrain && o.modelOut
          ? await planRetrain(o.retrain, loaded, o.modelOut, o.force ?? false, o)
          : undefined;
      await writeDatasetDir(
        o.out,
        cleaned.dataset,
        {
          meta: {
            mitigatedFrom: o.data,
            scan: o.scan,
            method,
            mode: o.mode,
            dropped: cleaned.droppedIds.length,
            relabelled: cleaned.relabelledIds.length,
            ...derivedMeta(loaded),
          },
        },
        { overwrite: o.force ?? false },
      );
      const retrained =
        plan && o.modelOut
          ? await retrainLike(plan, o.out, o.modelOut, o.force ?? false)
          : undefined;
      const result = {
        out: o.out,
        method,
        mode: o.mode,
        records: cleaned.dataset.ids.length,
        dropped: cleaned.droppedIds.length,
        relabelled: cleaned.relabelledIds.length,
        ...(retrained ? { model: o.modelOut, retrained } : {}),
      };
      printResult(
        o,
        `${result.dropped} records dropped, ${result.relabelled} relabelled (${method}, ${o.mode}); ${result.records} records written to ${o.out}` +
          (retrained
            ? `\nretrained ${retrained.kind} on ${retrained.records} records (seed ${retrained.seed}); saved to ${o.modelOut}`
            : ''),
        result,
      );
    });
  // --retrain MODEL.onnx: its layout and normalisation, as for scan.
  addOnnxFlags(mitigate);
  addBatchNormFlag(mitigate, 'with --retrain');
}
