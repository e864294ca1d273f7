import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { attackGroundTruth } from '../../attacks/attack-record.js';
import type { Dataset } from '../../data/dataset.js';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { dataDomain, type LoadedDataset, loadDataset } from '../../data/load.js';
import {
  applyReport,
  DETECTOR_NAMES,
  type DetectionReport,
  type DetectionReportJSON,
  detectorByName,
  discoverKeywords,
  type KeywordDiscoveryReport,
  type MitigationMode,
  reportFromJSON,
  reportToJSON,
} from '../../defenses/index.js';
import { activeBackend } from '../../engine/backend.js';
import type { Classifier } from '../../engine/classifier.js';
import { FeatureModel } from '../../engine/feature-model-io.js';
import { checkModelReadsData, derivedMeta, loadAnyModel } from '../../engine/model.js';
import { trainClassifier } from '../../engine/tf-classifier.js';
import { AntidoteError } from '../../errors.js';
import { type DetectionEvaluation, evaluateDetection } from '../../eval/detection.js';
import { recordTrainingProvenance } from '../../integrity/lineage.js';
import { readJson, writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { version } from '../../version.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { createProgressBar, progressEnabled } from '../progress.js';
import { datasetProvenance } from '../provenance.js';

/** Short name of keyword discovery (text models only) among the scan methods. */
export const KEYWORD_METHOD = 'kw';

/** File names inside a scan report directory. */
export const SCAN_REPORT_FILE = 'report.json';
/** CSV of the flagged records (id, label, method, score). */
export const SCAN_SUSPICIOUS_FILE = 'suspicious.csv';

interface ScanCliOptions extends OutputOptions {
  data: string;
  model: string;
  method: string;
  layer?: string;
  kwOutput?: string;
  seed: number;
  folds: number;
  epochs?: number;
  reduce: 'whitened' | 'pca' | 'ica';
  threads: number;
  out: string;
  force?: boolean;
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/**
 * `antidote scan`: runs poisoned-data detectors over a dataset with the model trained on it, and
 * writes a report directory (`report.json`, `suspicious.csv`). When the dataset carries an attack
 * record, detection metrics (precision, recall, F1, AUC) are printed too. Text and tabular
 * models are scanned in their feature space (TF-IDF vectors, embeddings, encoded rows); text
 * models also get keyword discovery (`kw`), whose ranked tokens go into the report.
 */
export function registerScanCommand(program: Command): void {
  program
    .command('scan')
    .description('find poisoned or mislabelled records in a dataset with the model trained on it')
    .requiredOption('--data <data>', 'dataset directory, file, built-in or named dataset')
    .requiredOption('--model <dir>', 'model directory (trained on the dataset)')
    .addOption(
      new Option(
        '--method <name>',
        'detector (ac, ss, spectre: backdoors; cl, knn: label noise; kw: keyword discovery, text models)',
      )
        .choices([...DETECTOR_NAMES, KEYWORD_METHOD, 'all'])
        .default('ac'),
    )
    .option('--layer <name>', 'layer whose activations are analysed (default: penultimate)')
    .addOption(
      new Option(
        '--kw-output <kind>',
        'kw: score token removal on probabilities, or on logit margins (no saturation: finds triggers of several words)',
      )
        .choices(['probabilities', 'logits'])
        .default('probabilities'),
    )
    .option('--seed <n>', 'seed for clustering, sampling and folds', parseInteger, 0)
    .option(
      '--folds <n>',
      'confident learning: k-fold retraining for out-of-sample probabilities (0 = use the model in-sample)',
      parseInteger,
      0,
    )
    .option(
      '--epochs <n>',
      "epochs per fold model (with --folds; default 2 for image models, the model's own for text and tabular)",
      parseInteger,
    )
    .addOption(
      new Option(
        '--reduce <space>',
        'activation clustering: robust whitening + PCA, plain PCA, or PCA + FastICA',
      )
        .choices(['whitened', 'pca', 'ica'])
        .default('whitened'),
    )
    .option(
      '--threads <n>',
      'threads for the forward passes (worker_threads; representations equal up to float rounding)',
      parseInteger,
      1,
    )
    .requiredOption('--out <dir>', 'report directory to write (report.json, suspicious.csv)')
    .option('--force', 'replace an existing report directory')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress bars')
    .action(async (o: ScanCliOptions) => {
      const loaded = await loadDataset(o.data);
      const anyModel = await loadAnyModel(o.model);
      try {
        checkModelReadsData(anyModel, o.model, loaded);
        const isText = dataDomain(loaded) === 'text';
        // Detectors see the records as the model does: feature vectors for text and tabular.
        const ds: Dataset =
          anyModel.domain === 'image' ? loaded.dataset : anyModel.model.featurize(loaded.dataset);
        const model: Classifier =
          anyModel.domain === 'image' ? anyModel.model : anyModel.model.classifier;
        if (anyModel.domain === 'image') anyModel.model.useThreads(o.threads);
        if (o.method === KEYWORD_METHOD && !isText) {
          throw new AntidoteError(
            'INVALID_ARGUMENT',
            'keyword discovery (kw) needs a text model and text records',
            { field: 'method' },
          );
        }
        const methods =
          o.method === 'all'
            ? [...DETECTOR_NAMES, ...(isText ? [KEYWORD_METHOD] : [])]
            : [o.method];
        const truth = attackGroundTruth(loaded.attack, ds.ids);
        const reports: Record<string, DetectionReport> = {};
        const evaluations: Record<string, DetectionEvaluation> = {};
        let keywords: KeywordDiscoveryReport | undefined;
        for (const m of methods) {
          const bar = createProgressBar(`scan ${m}`, 1, progressEnabled(o));
          const onProgress = (p: { stage: string; done: number; total: number }) =>
            bar.update(p.done, p.stage, p.total);
          const options: Record<string, unknown> = {
            seed: o.seed,
            ...(o.layer ? { layer: o.layer } : {}),
            onProgress,
          };
          if (m === 'ac') options.reduce = o.reduce;
          if (m === 'cl' && o.folds > 0) {
            options.folds = o.folds;
            options.trainFold =
              anyModel.domain === 'image'
                ? (train: Dataset, fold: number) =>
                    trainClassifier(train, {
                      model: anyModel.model.spec,
                      seed: o.seed + fold,
                      epochs: o.epochs ?? 2,
                    })
                : (train: Dataset, fold: number) =>
                    anyModel.model.trainLike(train, {
                      seed: o.seed + fold,
                      ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
                    });
          }
          try {
            if (m === KEYWORD_METHOD && anyModel.domain === 'text') {
              const text = anyModel.model;
              const logits = o.kwOutput === 'logits';
              keywords = await discoverKeywords(
                loaded.dataset,
                (texts) =>
                  logits ? text.predictLogitsTexts(texts) : text.predictProbaTexts(texts),
                {
                  ...(text.tokenizer ? { tokenizer: text.tokenizer } : {}),
                  output: logits ? 'logits' : 'probabilities',
                  onProgress,
                },
              );
              reports[m] = keywords;
            } else {
              reports[m] = await detectorByName(m).detect(ds, model, options);
            }
          } finally {
            bar.stop();
          }
          if (truth) {
            evaluations[m] = evaluateDetection(reports[m], {
              poisoned: truth,
              y: ds.y,
              classes: ds.classes,
            });
          }
        }
        const json: Record<string, DetectionReportJSON> = {};
        for (const m of methods) json[m] = reportToJSON(reports[m], ds.ids);
        const document = {
          format: 'antidote-scan',
          version: 1,
          data: o.data,
          model: o.model,
          records: ds.ids.length,
          methods: json,
          ...(keywords
            ? { keywords: { suspected: keywords.keywords, ranking: keywords.ranking } }
            : {}),
          ...(truth ? { evaluation: evaluations } : {}),
        };
        const rows = ['id,label,method,score'];
        for (const m of methods) {
          const r = reports[m];
          const order = Array.from(r.flagged.keys())
            .filter((i) => r.flagged[i])
            .sort((a, b) => r.scores[b] - r.scores[a]);
          for (const i of order) {
            rows.push(
              [csvField(ds.ids[i]), csvField(ds.classes[ds.y[i]]), m, String(r.scores[i])].join(
                ',',
              ),
            );
          }
        }
        await writeDirAtomic(
          o.out,
          async (tmp) => {
            await writeFileAtomic(join(tmp, SCAN_REPORT_FILE), `${JSON.stringify(document)}\n`);
            await writeFileAtomic(join(tmp, SCAN_SUSPICIOUS_FILE), `${rows.join('\n')}\n`);
          },
          { overwrite: o.force ?? false },
        );
        const summary = methods.map((m) => {
          const r = reports[m];
          const flagged = r.flagged.reduce((a, b) => a + b, 0);
          const ev = evaluations[m];
          const suspicious = r.perClass.filter((c) => c.suspicious).map((c) => c.className);
          return {
            method: m,
            flagged,
            suspiciousClasses: suspicious,
            ...(m === KEYWORD_METHOD && keywords
              ? {
                  keywords: keywords.keywords.map((k) => k.token),
                  topTokens: keywords.ranking.slice(0, 10).map((k) => k.token),
                }
              : {}),
            ...(ev
              ? {
                  precision: ev.precision,
                  recall: ev.recall,
                  f1: ev.f1,
                  auc: ev.auc,
                  unattackedFpr: ev.unattackedFpr,
                }
              : {}),
          };
        });
        printResult(
          o,
          () =>
            [
              `scanned ${ds.ids.length} records; report written to ${o.out}`,
              ...summary.map((s) => {
                const base = `  ${s.method}: ${s.flagged} flagged (${pct(s.flagged / Math.max(ds.ids.length, 1))})${s.suspiciousClasses.length ? `, suspicious classes: ${s.suspiciousClasses.join(', ')}` : ''}${s.topTokens ? `\n    top tokens: ${s.topTokens.join(', ')}` : ''}`;
                return s.f1 === undefined
                  ? base
                  : `${base}\n    vs attack record: precision ${fmtMetric(s.precision)}, recall ${fmtMetric(s.recall)}, F1 ${fmtMetric(s.f1)}, AUC ${fmtMetric(s.auc)}, FPR on unattacked classes ${fmtMetric(s.unattackedFpr)}`;
              }),
              ...methods.flatMap((m) =>
                reports[m].perClass
                  .filter((c) => c.suspicious)
                  .map((c) => `  ${m} class ${c.className}: ${c.reason}`),
              ),
            ].join('\n'),
          { out: o.out, records: ds.ids.length, methods: summary },
        );
      } finally {
        anyModel.model.dispose();
      }
    });
}

function fmtMetric(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(3);
}

interface MitigateCliOptions extends OutputOptions {
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

/** A model to retrain like `mitigate --retrain`'s: its kind and recorded training settings. */
interface RetrainPlan {
  readonly modelDir: string;
  readonly kind: string;
  readonly settings: ReturnType<typeof recordedSettings>;
  /** Trains a fresh model of that kind and with those settings (featurizer refitted). */
  readonly train: (
    loaded: LoadedDataset,
  ) => Promise<{ save(dir: string, o: { overwrite?: boolean }): Promise<void>; dispose(): void }>;
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
): Promise<RetrainPlan> {
  if (!force && existsSync(out)) {
    throw new AntidoteError(
      'ALREADY_EXISTS',
      `${out} already exists; refusing to replace it (choose another --model-out, or --force)`,
      { path: out },
    );
  }
  const previous = await loadAnyModel(modelDir);
  try {
    checkModelReadsData(previous, modelDir, loaded);
    if (previous.domain === 'image') {
      const runs = previous.model.metadata.training;
      const settings = recordedSettings(runs[runs.length - 1], modelDir);
      const spec = previous.model.spec;
      return {
        modelDir,
        kind: spec.arch,
        settings,
        train: (data) => trainClassifier(data.dataset, { model: spec, ...settings }),
      };
    }
    const m = previous.model;
    const last = m.training[m.training.length - 1];
    const settings = recordedSettings(last, modelDir);
    const vectorizer = last?.vectorizer;
    const options = {
      kind: m.kind,
      ...settings,
      ...(m.spec.hidden ? { hidden: m.spec.hidden } : {}),
      ...(m.spec.embeddingDim ? { embeddingDim: m.spec.embeddingDim } : {}),
      ...(vectorizer && typeof vectorizer === 'object' ? { vectorizer } : {}),
    };
    return {
      modelDir,
      kind: m.kind,
      settings,
      train: (data) =>
        FeatureModel.train(
          { dataset: data.dataset, ...(data.columns ? { columns: data.columns } : {}) },
          options,
        ),
    };
  } finally {
    previous.model.dispose();
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
  const trained = await plan.train(loaded);
  try {
    await trained.save(out, { overwrite: force });
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
  } finally {
    trained.dispose();
  }
  return { kind, records: loaded.dataset.ids.length, seed: settings.seed };
}

/** Reads a scan report (directory or its report.json) and returns the chosen method's report. */
async function readScan(
  path: string,
  method: string | undefined,
): Promise<{ method: string; report: ReturnType<typeof reportFromJSON> }> {
  let file = path;
  try {
    if ((await stat(path)).isDirectory()) file = join(path, SCAN_REPORT_FILE);
  } catch {
    throw new AntidoteError('NOT_FOUND', `no scan report at ${path}`, { path });
  }
  const doc = await readJson(file, {
    message: (e) => `cannot read scan report ${file}: ${e.message}`,
  });
  const methods = (doc as { methods?: unknown })?.methods;
  if (typeof methods !== 'object' || methods === null) {
    throw new AntidoteError('INVALID_FORMAT', `${file}: no "methods" object`, { path: file });
  }
  const names = Object.keys(methods);
  const chosen = method ?? (names.length === 1 ? names[0] : undefined);
  if (chosen === undefined) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${file} holds several methods (${names.join(', ')}): pick one with --method`,
      { path: file },
    );
  }
  if (!Object.hasOwn(methods, chosen)) {
    throw new AntidoteError(
      'NOT_FOUND',
      `${file} has no "${chosen}" report (it has ${names.join(', ')})`,
      { path: file },
    );
  }
  return {
    method: chosen,
    report: reportFromJSON((methods as Record<string, unknown>)[chosen], file),
  };
}

/**
 * `antidote mitigate`: applies a scan report to its dataset (drop the flagged records, or relabel
 * them with the detector's suggestions) and writes the cleaned dataset directory.
 */
export function registerMitigateCommand(program: Command): void {
  program
    .command('mitigate')
    .description('remove (or relabel) the records a scan flagged and write the cleaned dataset')
    .requiredOption(
      '--data <data>',
      'dataset directory, file, built-in or named dataset (the one scanned)',
    )
    .requiredOption('--scan <report>', 'scan report directory (or its report.json)')
    .option('--method <name>', 'which method of the report to apply (needed when it has several)')
    .addOption(
      new Option('--mode <mode>', 'drop flagged records, or relabel them (label-noise detectors)')
        .choices(['drop', 'relabel'])
        .default('drop'),
    )
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option(
      '--retrain <model>',
      'also retrain: a model like this one (same kind and training settings) on the cleaned data',
    )
    .option('--model-out <dir>', 'with --retrain: the model directory to write')
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
          ? await planRetrain(o.retrain, loaded, o.modelOut, o.force ?? false)
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
}
