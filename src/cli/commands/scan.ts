import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { loadDataset } from '../../data/load.js';
import {
  applyReport,
  DETECTOR_NAMES,
  type DetectionReport,
  type DetectionReportJSON,
  detectorByName,
  type MitigationMode,
  reportFromJSON,
  reportToJSON,
} from '../../defenses/index.js';
import { TfClassifier, trainClassifier } from '../../engine/tf-classifier.js';
import { AntidoteError } from '../../errors.js';
import { type DetectionEvaluation, evaluateDetection } from '../../eval/detection.js';
import { writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { createProgressBar, progressEnabled } from '../progress.js';

/** File names inside a scan report directory. */
export const SCAN_REPORT_FILE = 'report.json';
/** CSV of the flagged records (id, label, method, score). */
export const SCAN_SUSPICIOUS_FILE = 'suspicious.csv';

interface ScanCliOptions extends OutputOptions {
  data: string;
  model: string;
  method: string;
  layer?: string;
  seed: number;
  folds: number;
  epochs: number;
  reduce: 'whitened' | 'pca' | 'ica';
  threads: number;
  out: string;
  force?: boolean;
}

/** The ground-truth mask from a dataset's attack record (`ids` of poisoned records), if any. */
function truthFromAttack(attack: unknown, ids: readonly string[]): Uint8Array | undefined {
  if (typeof attack !== 'object' || attack === null) return undefined;
  const poisonedIds = (attack as { ids?: unknown }).ids;
  if (!Array.isArray(poisonedIds)) return undefined;
  const set = new Set(poisonedIds.filter((v): v is string => typeof v === 'string'));
  return Uint8Array.from(ids, (id) => (set.has(id) ? 1 : 0));
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/**
 * `antidote scan`: runs poisoned-data detectors over a dataset with the model trained on it, and
 * writes a report directory (`report.json`, `suspicious.csv`). When the dataset carries an attack
 * record, detection metrics (precision, recall, F1, AUC) are printed too.
 */
export function registerScanCommand(program: Command): void {
  program
    .command('scan')
    .description('find poisoned or mislabelled records in a dataset with the model trained on it')
    .requiredOption('--data <data>', 'dataset directory or built-in name')
    .requiredOption('--model <dir>', 'model directory (trained on the dataset)')
    .addOption(
      new Option('--method <name>', 'detector (ac, ss, spectre: backdoors; cl, knn: label noise)')
        .choices([...DETECTOR_NAMES, 'all'])
        .default('ac'),
    )
    .option('--layer <name>', 'layer whose activations are analysed (default: penultimate)')
    .option('--seed <n>', 'seed for clustering, sampling and folds', parseInteger, 0)
    .option(
      '--folds <n>',
      'confident learning: k-fold retraining for out-of-sample probabilities (0 = use the model in-sample)',
      parseInteger,
      0,
    )
    .option('--epochs <n>', 'epochs per fold model (with --folds)', parseInteger, 2)
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
      const ds = loaded.dataset;
      const model = await TfClassifier.load(o.model);
      try {
        model.useThreads(o.threads);
        const methods = o.method === 'all' ? [...DETECTOR_NAMES] : [o.method];
        const truth = truthFromAttack(loaded.attack, ds.ids);
        const reports: Record<string, DetectionReport> = {};
        const evaluations: Record<string, DetectionEvaluation> = {};
        for (const m of methods) {
          const bar = createProgressBar(`scan ${m}`, 1, progressEnabled(o));
          const options: Record<string, unknown> = {
            seed: o.seed,
            ...(o.layer ? { layer: o.layer } : {}),
            onProgress: (p: { stage: string; done: number; total: number }) =>
              bar.update(p.done, p.stage, p.total),
          };
          if (m === 'ac') options.reduce = o.reduce;
          if (m === 'cl' && o.folds > 0) {
            options.folds = o.folds;
            options.trainFold = (train: typeof ds, fold: number) =>
              trainClassifier(train, { model: model.spec, seed: o.seed + fold, epochs: o.epochs });
          }
          try {
            reports[m] = await detectorByName(m).detect(ds, model, options);
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
                const base = `  ${s.method}: ${s.flagged} flagged (${pct(s.flagged / Math.max(ds.ids.length, 1))})${s.suspiciousClasses.length ? `, suspicious classes: ${s.suspiciousClasses.join(', ')}` : ''}`;
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
        model.dispose();
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
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new AntidoteError(
      (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID_FORMAT',
      `cannot read scan report ${file}: ${(e as Error).message}`,
      { path: file },
    );
  }
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
    .requiredOption('--data <data>', 'dataset directory or built-in name (the one scanned)')
    .requiredOption('--scan <report>', 'scan report directory (or its report.json)')
    .option('--method <name>', 'which method of the report to apply (needed when it has several)')
    .addOption(
      new Option('--mode <mode>', 'drop flagged records, or relabel them (label-noise detectors)')
        .choices(['drop', 'relabel'])
        .default('drop'),
    )
    .requiredOption('--out <dir>', 'dataset directory to write')
    .option('--force', 'replace an existing dataset directory')
    .option('--json', 'print the result as JSON')
    .action(async (o: MitigateCliOptions) => {
      const loaded = await loadDataset(o.data);
      const { method, report } = await readScan(o.scan, o.method);
      if (!report.ids) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `the "${method}" report carries no record ids; it cannot be matched to a dataset`,
        );
      }
      const cleaned = applyReport(loaded.dataset, report, o.mode, report.ids);
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
          },
        },
        { overwrite: o.force ?? false },
      );
      const result = {
        out: o.out,
        method,
        mode: o.mode,
        records: cleaned.dataset.ids.length,
        dropped: cleaned.droppedIds.length,
        relabelled: cleaned.relabelledIds.length,
      };
      printResult(
        o,
        `${result.dropped} records dropped, ${result.relabelled} relabelled (${method}, ${o.mode}); ${result.records} records written to ${o.out}`,
        result,
      );
    });
}
