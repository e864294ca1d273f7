import { attackGroundTruth } from '../attacks/attack-record.js';
import type { Dataset } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import { normalizeRange } from '../data/range.js';
import { stratifiedSplit } from '../data/transform.js';
import { tabularScanContext } from '../defenses/feature-trigger-discovery.js';
import { auditScanMethods } from '../defenses/scan.js';
import { textScanContext } from '../defenses/text-scan-context.js';
import { activeBackend, initEngine } from '../engine/backend.js';
import type { Model } from '../engine/model-interface.js';
import type { TfClassifier } from '../engine/tf-classifier.js';
import type { ArchName } from '../engine/zoo.js';
import { AntidoteError } from '../errors.js';
import type { AuditReport } from '../report/audit-report.js';
import { type SarifLog, sarifDatasetLocation, scanToSarif } from '../report/sarif.js';
import { Rng } from '../util/rng.js';
import { type AuditModel, auditModel } from './audit-model.js';
import { buildAuditReport, type SkippedStage } from './audit-sections.js';
import { checkIntegrity } from './integrity-check.js';
import { type AuditPolicy, auditPolicySchema, decidePolicy } from './policy.js';
import { type AuditProgressCallback, startStage } from './progress.js';
import {
  datasetInput,
  displayPath,
  modelInput,
  type ReportClock,
  reportRun,
} from './report-run.js';
import { scanStage } from './scan-stage.js';
import { suspiciousRecordsCsv } from './suspicious-csv.js';
import type { VulnerabilityAssessment } from './vulnerability.js';
import { type VulnerabilitySettings, vulnerabilityStage } from './vulnerability-stage.js';

export { type AuditPolicy, auditPolicySchema } from './policy.js';

/** Options of {@link runAudit}. */
export interface AuditOptions {
  readonly data: LoadedDataset;
  /**
   * A model trained on the data, of any domain (`engine/model`'s `loadModel`; a bare zoo
   * `TfClassifier` is read as an image model); trained here (seeded) when absent. The audit
   * does not dispose of a given model.
   */
  readonly model?: Model | TfClassifier;
  readonly policy?: Partial<AuditPolicy>;
  /** Public key to check the dataset's signature with. */
  readonly publicKeyPath?: string;
  readonly seed?: number;
  /** Detectors to run; default `auditScanMethods` (the scan's defaults, and `nc` for images). */
  readonly methods?: readonly string[];
  /**
   * A trusted clean subset of the data (a few records per class, same classes and records):
   * the scan checks each finding against it (`ScanOptions.trusted`).
   */
  readonly trusted?: LoadedDataset;
  /** Simulated attacks (records sampled, epochs, rates); `false` skips the assessment. */
  readonly vulnerability?: VulnerabilitySettings | false;
  /** Training of the model when none is given. */
  readonly train?: { model?: ArchName; epochs?: number };
  /** Project folder holding the catalogue (default: found from the data directory upwards). */
  readonly project?: string;
  /**
   * The report's clock (default: the system clock): the report's date is the only thing that
   * differs between two audits with the same inputs and seed.
   */
  readonly clock?: ReportClock;
  /** Who runs the audit, recorded in the report (default: the OS user, `defaultOperator`). */
  readonly operator?: string;
  /**
   * Directory the report's paths are relative to (default: the working directory): the report
   * holds no absolute path.
   */
  readonly baseDir?: string;
  readonly onProgress?: AuditProgressCallback;
}

/** Result of {@link runAudit}. */
export interface AuditResult {
  readonly report: AuditReport;
  /** Whether the policy passes. */
  readonly passed: boolean;
  /** Why the policy fails, if it does. */
  readonly failures: readonly string[];
  /** What the audit did to the data before reading it (e.g. 0–255 pixels divided by 255). */
  readonly notices: readonly string[];
  /** The flagged records as CSV (`suspiciousRecordsCsv`), written beside the report. */
  readonly suspiciousCsv: string;
  /**
   * The scan's findings as SARIF 2.1.0 (`report/sarif.ts`: one result per flagged record
   * group), for code-scanning dashboards (`antidote audit --sarif FILE`).
   */
  readonly sarif: SarifLog;
}

/**
 * The records the scan read with their sources: the model's view of them (images, or text and
 * tabular records in its feature space), the loaded records' `source` where the featurizer
 * dropped it (same records, same order).
 */
function withSource(features: Dataset, loaded: Dataset): Dataset {
  if (features.source || !loaded.source || loaded.y.length !== features.y.length) return features;
  return { ...features, source: loaded.source };
}

/** The trusted subset as the audited model reads it (0–255 images on the [0, 1] scale). */
function trustedFeatures(trusted: LoadedDataset, model: AuditModel): Dataset {
  const range = normalizeRange(trusted.dataset, trusted.spec);
  const loaded = range.notice ? { ...trusted, dataset: range.dataset } : trusted;
  model.model.checkReads(loaded);
  return model.model.featurize(loaded.dataset);
}

/** Fewest records an audit accepts. */
const MIN_RECORDS = 20;

/** A held-out quarter of `ds` and a sample of the rest of about `records` records (seeded). */
function vulnerabilitySplit(ds: Dataset, records: number, seed: number) {
  const rng = new Rng(seed);
  const { train, test } = stratifiedSplit(ds, 0.25, rng.fork('vulnerability-test'));
  if (records >= ds.y.length) return { train, test };
  const share = Math.min(1, records / train.y.length);
  return { train: stratifiedSplit(train, share, rng.fork('vulnerability-sample')).test, test };
}

/**
 * The vulnerability stage of the audit: simulated attacks on a sample of the data with a victim
 * like the audited model; skipped (with the reason) where no such victim can be trained.
 */
async function auditVulnerability(
  o: AuditOptions,
  model: AuditModel,
  seed: number,
): Promise<{ vulnerability?: VulnerabilityAssessment; skipped?: SkippedStage }> {
  if (o.vulnerability === false) return {};
  if (!model.victimArch) {
    return {
      skipped: {
        stage: 'vulnerability',
        reason: `the simulated attacks train image (zoo) models, not ${model.model.domain} models like the one given`,
      },
    };
  }
  const settings = o.vulnerability ?? {};
  const { train, test } = vulnerabilitySplit(o.data.dataset, settings.records ?? 2000, seed);
  const vulnerability = await vulnerabilityStage(train, test, {
    victim: { model: model.victimArch, epochs: settings.epochs ?? 1 },
    seed,
    settings,
    onProgress: o.onProgress,
  });
  return { vulnerability };
}

/**
 * Answers "is my training pipeline poisoned, and how easily could it be?" for one dataset, in
 * stages: integrity (manifest, signature, diff against the last committed version with label
 * changes apart), the model (given — image, text or tabular — or trained here), a poisoning scan
 * by the detectors (findings merged per record and per class by `scanDataset`), a vulnerability
 * assessment by simulated attacks, the policy's decision, and the report.
 *
 * Image records that look like 0–255 values are divided by 255 for the model, the scan and the
 * simulations (`normalizeRange`), with a notice in the report (`notices`); the integrity stage
 * reads the records as stored, so manifests and signatures still match.
 */
export async function runAudit(o: AuditOptions): Promise<AuditResult> {
  const policy = auditPolicySchema.parse(o.policy ?? {});
  const seed = o.seed ?? 1;
  const n = o.data.dataset.y.length;
  if (n < MIN_RECORDS)
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${o.data.spec} has only ${n} records; an audit needs at least ${MIN_RECORDS}`,
    );
  await initEngine();
  const s = startStage(o.onProgress, 'integrity', 'integrity');
  const integrity = await checkIntegrity(o.data, o);
  s.tick();
  const range = normalizeRange(o.data.dataset, displayPath(o.data.spec, o.baseDir));
  const data: LoadedDataset = range.notice ? { ...o.data, dataset: range.dataset } : o.data;
  const notices = range.notice ? [range.notice] : [];
  const model = await auditModel(data, {
    model: o.model,
    train: o.train,
    seed,
    onProgress: o.onProgress,
  });
  try {
    const context = {
      ...textScanContext(model.model, data.dataset),
      ...tabularScanContext(model.model),
    };
    const scan = await scanStage(withSource(model.features, data.dataset), model.classifier, {
      methods: o.methods ?? auditScanMethods(context),
      context,
      seed,
      trusted: o.trusted ? trustedFeatures(o.trusted, model) : undefined,
      truth: attackGroundTruth(data.attack, model.features.ids),
      onProgress: o.onProgress,
    });
    const { vulnerability, skipped } = await auditVulnerability({ ...o, data }, model, seed);
    const decision = decidePolicy(policy, {
      integrity,
      flagged: scan.scan.flagged,
      vulnerability,
      scanVerdict: scan.scan.verdict,
    });
    const inputs = [
      await datasetInput('dataset', o.data.spec, o.data.dataset, o.baseDir),
      ...(model.trainedHere ? [] : [await modelInput(model.model.files, o.baseDir)]),
      ...(o.trusted
        ? [await datasetInput('trusted', o.trusted.spec, o.trusted.dataset, o.baseDir)]
        : []),
    ].filter((i) => i !== undefined);
    const report = buildAuditReport({
      data,
      notices,
      model,
      policy,
      decision,
      integrity,
      scan,
      vulnerability,
      skipped: skipped ? [skipped] : [],
      seed,
      backend: activeBackend(),
      run: reportRun(inputs, { clock: o.clock, operator: o.operator }),
      baseDir: o.baseDir,
    });
    const scanned = withSource(model.features, data.dataset);
    const suspiciousCsv = suspiciousRecordsCsv(scanned, scan.scan);
    const sarif = scanToSarif({
      ds: scanned,
      scan: scan.scan,
      dataset: sarifDatasetLocation(o.data, displayPath(o.data.spec, o.baseDir)),
    });
    return {
      sarif,
      report,
      passed: decision.passed,
      failures: decision.failures,
      notices,
      suspiciousCsv,
    };
  } finally {
    model.dispose();
  }
}
