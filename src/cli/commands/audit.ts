import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { runAudit } from '../../audit/audit.js';
import { auditPolicySchema } from '../../audit/policy.js';
import { SUSPICIOUS_CSV_FILE } from '../../audit/suspicious-csv.js';
import { type LoadModelOptions, loadModel, type Model } from '../../engine/model.js';
import { AntidoteError } from '../../errors.js';
import { writeReport } from '../../report/write.js';
import { readJson, refuseExistingOutput, writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { parseWith } from '../../util/schema.js';
import { addDataOptions, loadDataArg } from '../data-arg.js';
import { parseDetectorNames } from '../detector-names.js';
import { addOnnxFlags, type OnnxCliOptions, onnxLoadOptions } from '../onnx-flags.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, printResult } from '../output.js';
import { progressEnabled, stageProgress } from '../progress.js';
import { checkSarifTarget, SARIF_OPTION_HELP, writeSarifFile } from '../sarif-output.js';

interface AuditCliOptions extends OutputOptions, OnnxCliOptions {
  data: string;
  model?: string;
  policy?: string;
  key?: string;
  out: string;
  seed: number;
  vulnerability: boolean;
  force?: boolean;
  trusted?: string;
  allowReview?: boolean;
  method?: string[];
  sarif?: string;
  operator?: string;
}

/** Reads and validates an audit policy file (JSON). */
async function readPolicy(path: string) {
  const raw = await readJson(path, {
    code: 'INVALID_CONFIG',
    message: (e) => `cannot read the audit policy ${path}: ${e.message}`,
  });
  return parseWith(auditPolicySchema, raw, path, {
    code: 'INVALID_CONFIG',
    head: `audit policy ${path}`,
  });
}

/** Loads the `--model` directory (image, text or tabular) and checks it reads the data. */
async function loadModelFor(
  dir: string,
  data: Awaited<ReturnType<typeof loadDataArg>>,
  options: LoadModelOptions,
): Promise<Model> {
  const model = await loadModel(dir, options);
  try {
    model.checkReads(data);
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * `antidote audit --data D [--model M] [--policy P] --out R`: is this training pipeline poisoned,
 * and how easily could it be? The model may be an image, text or tabular model (text and tabular
 * data are scanned in the model's feature space). Writes `R/report.html` and `R/report.json`;
 * the first line of the output (and of the report) is the verdict, PASS, REVIEW or FAIL, and
 * why. Exits 1 when the policy fails: on FAIL, and on REVIEW unless `--allow-review` (or the
 * policy's `allowReview`) accepts it, so a REVIEW never exits 0 silently.
 */
export function registerAuditCommand(program: Command): void {
  const cmd = program
    .command('audit')
    .description(
      'audit a dataset for poisoning: integrity, scan, vulnerability; HTML + JSON report',
    )
    .requiredOption('--data <data>', 'dataset directory, file or built-in name')
    .option(
      '--model <dir>',
      'image, text or tabular model trained on the data (default: train an image model, seeded)',
    )
    .option(
      '--policy <file>',
      'audit policy (JSON): failOn, maxFlaggedShare, requireSignature, minAsr90Rate',
    )
    .option('--key <file>', 'public key (PEM) to verify the dataset signature with')
    .option(
      '--trusted <data>',
      'a trusted clean subset (a few records per class, same classes): the clean null each scan finding is checked against',
    )
    .option(
      '--method <names>',
      "detectors of the scan, comma-separated (see antidote scan --method); default: the scan's defaults, plus trigger reversal (nc) on images",
      (v: string) => parseDetectorNames(v),
    )
    .option(
      '--allow-review',
      'exit 0 on a REVIEW verdict (one detector has a strong finding the others do not confirm); without it REVIEW exits 1',
    )
    .requiredOption('--out <dir>', 'report directory to write')
    .option('--sarif <file>', SARIF_OPTION_HELP)
    .option(
      '--operator <name>',
      'who runs the audit, recorded in the report (default: the OS user name)',
    )
    .option('--seed <n>', 'seed for everything random', parseInteger, 1)
    .option('--no-vulnerability', 'skip the simulated attacks')
    .option('--force', 'replace an existing report directory')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress bars');
  addDataOptions(addOnnxFlags(cmd)).action(async (o: AuditCliOptions) => {
    refuseExistingOutput(resolve(o.out), o.force);
    checkSarifTarget(o.sarif, o.force);
    const read = o.policy ? await readPolicy(o.policy) : undefined;
    const policy = o.allowReview ? { ...read, allowReview: true } : read;
    const data = await loadDataArg(o.data, o);
    const trusted = o.trusted ? await loadDataArg(o.trusted, o) : undefined;
    const model = o.model ? await loadModelFor(o.model, data, onnxLoadOptions(o)) : undefined;
    const progress = stageProgress(progressEnabled(o));
    try {
      const result = await runAudit({
        data,
        ...(model ? { model } : {}),
        ...(policy ? { policy } : {}),
        ...(o.key ? { publicKeyPath: o.key } : {}),
        ...(trusted ? { trusted } : {}),
        ...(o.method ? { methods: o.method } : {}),
        seed: o.seed,
        ...(o.operator ? { operator: o.operator } : {}),
        vulnerability: o.vulnerability ? {} : false,
        onProgress: progress.onProgress,
      }).finally(() => progress.stop());
      const out = resolve(o.out);
      await writeDirAtomic(
        out,
        async (dir) => {
          await writeReport(dir, result.report);
          await writeFileAtomic(join(dir, SUSPICIOUS_CSV_FILE), result.suspiciousCsv);
        },
        { overwrite: o.force ?? false },
      );
      if (o.sarif) await writeSarifFile(o.sarif, result.sarif);
      printResult(
        o,
        () =>
          [
            `${result.report.verdict.toUpperCase()}: ${result.report.headline}`,
            ...result.notices.map((n) => `notice: ${n}`),
            ...result.failures.map((f) => `policy: ${f}`),
            `report: ${join(out, 'report.html')}`,
          ].join('\n'),
        {
          verdict: result.report.verdict,
          reason: result.report.headline,
          passed: result.passed,
          failures: result.failures,
          report: join(out, 'report.html'),
          suspicious: join(out, SUSPICIOUS_CSV_FILE),
          ...(o.sarif ? { sarif: resolve(o.sarif) } : {}),
          ...(result.notices.length ? { notices: result.notices } : {}),
          data: result.report.data,
        },
      );
      if (!result.passed) {
        throw new AntidoteError(
          'GATE_FAILED',
          `the audit policy failed: ${result.failures.join('; ') || `verdict ${result.report.verdict}`}`,
        );
      }
    } finally {
      model?.dispose();
    }
  });
}
