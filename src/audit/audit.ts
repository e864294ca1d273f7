import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { attackGroundTruth } from '../attacks/attack-record.js';
import { recordShape } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import { recordViews } from '../data/record-view.js';
import { Rng } from '../data/rng.js';
import { stratifiedSplit } from '../data/transform.js';
import { DEFAULT_SCAN_METHODS, type MergedScan, scanDataset } from '../defenses/scan.js';
import { activeBackend, initEngine } from '../engine/backend.js';
import type { TfClassifier } from '../engine/tf-classifier.js';
import { trainClassifier } from '../engine/tf-classifier.js';
import type { ArchName } from '../engine/zoo.js';
import { AntidoteError } from '../errors.js';
import { type DetectionEvaluation, evaluateDetection } from '../eval/detection.js';
import { loadPublicKey } from '../integrity/keys.js';
import {
  createManifest,
  diffManifests,
  type ManifestDiff,
  SIGNATURE_FILE,
} from '../integrity/manifest.js';
import { verifyDirectory } from '../integrity/model-signing.js';
import { loadVersionManifest, type VersionRecord } from '../integrity/versioning.js';
import { SqliteCatalogueStore } from '../registry/sqlite-store.js';
import { findProjectDir } from '../registry/store.js';
import type { AuditReport, ReportSection, Verdict } from '../report/audit-report.js';
import { version } from '../version.js';
import type { AuditProgressCallback } from './progress.js';
import {
  projectionChart,
  scanRecommendations,
  suspiciousImages,
  vulnerabilityCharts,
} from './report-builder.js';
import { assessVulnerability, type VulnerabilityAssessment } from './vulnerability.js';

/** The audit policy: when `antidote audit` fails (exit code 1). */
export const auditPolicySchema = z
  .object({
    /** Fail on this verdict or worse: `fail` (default), `warn`, or `never`. */
    failOn: z.enum(['fail', 'warn', 'never']).default('fail'),
    /** Most records the scan may flag, as a share of the dataset, before the scan fails. */
    maxFlaggedShare: z.number().min(0).max(1).default(0.005),
    /** Require a valid signature on the dataset directory. */
    requireSignature: z.boolean().default(false),
    /** Warn when a backdoor reaches 90% ASR at or below this poison rate. */
    minAsr90Rate: z.number().min(0).max(1).default(0.01),
  })
  .strict();

/** A parsed audit policy. */
export type AuditPolicy = z.infer<typeof auditPolicySchema>;

/** Options of {@link runAudit}. */
export interface AuditOptions {
  readonly data: LoadedDataset;
  /** A model trained on the data; trained here (seeded) when absent. */
  readonly model?: TfClassifier;
  readonly policy?: Partial<AuditPolicy>;
  /** Public key to check the dataset's signature with. */
  readonly publicKeyPath?: string;
  readonly seed?: number;
  /** Detectors to run; default activation clustering, spectral signatures, SPECTRE. */
  readonly methods?: readonly string[];
  /** Simulated attacks (records sampled, epochs, rates); `false` skips the assessment. */
  readonly vulnerability?:
    | {
        records?: number;
        epochs?: number;
        backdoorRates?: readonly number[];
        flipRates?: readonly number[];
      }
    | false;
  /** Training of the model when none is given. */
  readonly train?: { model?: ArchName; epochs?: number };
  /** Project folder holding the catalogue (default: found from the data directory upwards). */
  readonly project?: string;
  readonly onProgress?: AuditProgressCallback;
}

/** Result of {@link runAudit}. */
export interface AuditResult {
  readonly report: AuditReport;
  /** Whether the policy passes. */
  readonly passed: boolean;
  /** Why the policy fails, if it does. */
  readonly failures: readonly string[];
}

interface IntegrityFindings {
  rootDigest?: string;
  records: number;
  recordsRoot?: string;
  signature: {
    present: boolean;
    verified?: boolean;
    signer?: string;
    problems?: string[];
    note?: string;
  };
  previous?: { version: VersionRecord; diff: ManifestDiff };
}

async function integrityOf(o: AuditOptions): Promise<IntegrityFindings> {
  const spec = o.data.spec;
  const isDir = existsSync(spec) && statSync(spec).isDirectory();
  const records = o.data.dataset.y.length;
  if (!isDir)
    return {
      records,
      signature: { present: false, note: 'not a directory: nothing to sign or verify' },
    };
  const manifest = await createManifest(spec, { records: recordViews(o.data.dataset) });
  const out: IntegrityFindings = {
    rootDigest: manifest.rootDigest,
    records,
    ...(manifest.records ? { recordsRoot: manifest.records.merkleRoot } : {}),
    signature: { present: existsSync(join(spec, SIGNATURE_FILE)) },
  };
  if (out.signature.present) {
    if (!o.publicKeyPath) {
      out.signature.note = 'a signature is present but no public key was given to check it (--key)';
    } else {
      try {
        const v = await verifyDirectory(spec, await loadPublicKey(o.publicKeyPath), {
          records: recordViews(o.data.dataset),
        });
        out.signature = {
          present: true,
          verified: v.ok,
          signer: v.signer,
          problems: v.problems.map((p) => p.message),
        };
      } catch (e) {
        out.signature = { present: true, verified: false, problems: [(e as Error).message] };
      }
    }
  }
  const project = o.project ?? findProjectDir(dirname(spec));
  if (project) {
    const store = SqliteCatalogueStore.open(project);
    try {
      const head = store.latestVersion('dataset', basename(spec));
      if (head) {
        const previous = await loadVersionManifest(head, store.objects);
        out.previous = { version: head, diff: diffManifests(previous, manifest) };
      }
    } finally {
      store.close();
    }
  }
  return out;
}

const pct = (v: number | null | undefined, d = 2) =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(d)}%`;

/**
 * Answers "is my training pipeline poisoned, and how easily could it be?" for one dataset:
 * integrity (manifest, signature, diff against the last committed version with label changes
 * apart), a poisoning scan by every detector that applies (findings merged per record and per
 * class), a vulnerability assessment by simulated attacks, recommendations, and a verdict checked
 * against a policy.
 */
export async function runAudit(o: AuditOptions): Promise<AuditResult> {
  const policy = auditPolicySchema.parse(o.policy ?? {});
  const seed = o.seed ?? 1;
  const ds = o.data.dataset;
  const progress = o.onProgress ?? (() => {});
  if (ds.shape.length < 2 || recordShape(ds).reduce((a, b) => a * b, 1) === 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${o.data.spec} has no numeric features (a text dataset?): vectorise it first; audit scans feature data`,
    );
  }
  if (ds.y.length < 20)
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${o.data.spec} has only ${ds.y.length} records; an audit needs at least 20`,
    );
  await initEngine();
  progress({ stage: 'integrity', label: 'integrity', done: 0, total: 1 });
  const integrity = await integrityOf(o);
  progress({ stage: 'integrity', label: 'integrity', done: 1, total: 1 });

  const isImage = recordShape(ds).length === 3;
  const arch: ArchName = o.train?.model ?? (isImage ? 'cnn' : 'mlp');
  let model = o.model;
  const owned = !model;
  if (!model) {
    model = await trainClassifier(ds, {
      model: arch,
      seed,
      // Small datasets get more passes so the representations mean something (~20k samples).
      epochs: o.train?.epochs ?? Math.min(20, Math.max(2, Math.ceil(20_000 / ds.y.length))),
      onProgress: (p) =>
        progress({
          stage: 'train',
          label: `train ${arch}`,
          done: (p.epoch - 1) * p.batches + p.batch,
          total: p.epochs * p.batches,
        }),
    });
  }
  try {
    const methods = o.methods ?? DEFAULT_SCAN_METHODS;
    let scanned = 0;
    progress({ stage: 'scan', label: 'scan for poison', done: 0, total: methods.length });
    const scan = await scanDataset(ds, model, {
      methods,
      seed,
      onProgress: (_m, p) => {
        if (p.stage === 'done' && p.done === p.total)
          progress({
            stage: 'scan',
            label: 'scan for poison',
            done: ++scanned,
            total: methods.length,
          });
      },
    });
    const truth = attackGroundTruth(o.data.attack, ds.ids);
    const detection: Record<string, DetectionEvaluation> = {};
    if (truth) {
      const t = { poisoned: truth, y: ds.y, classes: ds.classes };
      for (const r of scan.reports) detection[r.method] = evaluateDetection(r, t);
      detection.merged = evaluateDetection({ scores: scan.suspicion, flagged: scan.flagged }, t);
    }
    const reps = await model.activations(ds.x, ds.y.length);

    let vulnerability: VulnerabilityAssessment | undefined;
    if (o.vulnerability !== false) {
      const v = o.vulnerability ?? {};
      const rng = new Rng(seed);
      const sample = Math.min(1, (v.records ?? 2000) / ds.y.length);
      const { train, test } = stratifiedSplit(ds, 0.25, rng.fork('vulnerability-test'));
      const vTrain =
        sample < 1
          ? stratifiedSplit(
              train,
              Math.min(1, (v.records ?? 2000) / train.y.length),
              rng.fork('vulnerability-sample'),
            ).test
          : train;
      vulnerability = await assessVulnerability(vTrain, test, {
        victim: { model: arch, epochs: v.epochs ?? 1 },
        seed,
        ...(v.backdoorRates ? { backdoorRates: v.backdoorRates } : {}),
        ...(v.flipRates ? { flipRates: v.flipRates } : {}),
        onProgress: (done, total, what) =>
          progress({
            stage: 'vulnerability',
            label: 'simulate attacks',
            done,
            total,
            detail: what,
          }),
      });
    }
    return buildAuditResult(o, policy, {
      integrity,
      scan,
      detection,
      reps,
      vulnerability,
      arch,
      trainedHere: owned,
      seed,
    });
  } finally {
    if (owned) model.dispose();
  }
}

function buildAuditResult(
  o: AuditOptions,
  policy: AuditPolicy,
  r: {
    integrity: IntegrityFindings;
    scan: MergedScan;
    detection: Record<string, DetectionEvaluation>;
    reps: { data: Float32Array; dim: number };
    vulnerability?: VulnerabilityAssessment;
    arch: ArchName;
    trainedHere: boolean;
    seed: number;
  },
): AuditResult {
  const ds = o.data.dataset;
  const n = ds.y.length;
  const flagged = r.scan.flagged.reduce((a, b) => a + b, 0);
  const flaggedShare = flagged / n;
  const failures: string[] = [];
  const sig = r.integrity.signature;
  const labelChanges = r.integrity.previous?.diff.records?.labelChanged ?? [];
  if (sig.present && sig.verified === false) failures.push('the dataset signature does not verify');
  if (policy.requireSignature && sig.verified !== true)
    failures.push('the policy requires a verified signature');
  if (flaggedShare > policy.maxFlaggedShare) {
    failures.push(
      `the scan flagged ${flagged} records (${pct(flaggedShare)}), more than the policy's ${pct(policy.maxFlaggedShare)}`,
    );
  }
  const bd = r.vulnerability?.curves.find((c) => c.attack === 'backdoor');
  const exposed =
    bd?.asr90Rate !== null && bd?.asr90Rate !== undefined && bd.asr90Rate <= policy.minAsr90Rate;
  const verdict: Verdict = failures.length
    ? 'fail'
    : exposed || labelChanges.length > 0 || flagged > 0
      ? 'warn'
      : 'pass';
  const passed =
    policy.failOn === 'never' ||
    (policy.failOn === 'fail' ? verdict !== 'fail' : verdict === 'pass');
  const headline =
    flagged > 0
      ? `The scan flagged ${flagged} of ${n.toLocaleString('en-US')} records (${pct(flaggedShare)}) as likely poisoned${bd?.asr90Rate != null ? `; a backdoor would need only ${pct(bd.asr90Rate)} of the data to reach 90% ASR` : ''}.`
      : `No record was flagged by enough detectors${bd?.asr90Rate != null ? `, but a backdoor would need only ${pct(bd.asr90Rate)} of the data to reach 90% ASR` : ''}.`;

  const sections: ReportSection[] = [];
  sections.push({
    id: 'summary',
    title: 'Summary',
    status: verdict,
    paragraphs: [
      failures.length ? `Policy failures: ${failures.join('; ')}.` : 'No policy failure.',
      r.trainedHere
        ? `No model was given: a ${r.arch} was trained on the data (seed ${r.seed}) to read its representations.`
        : 'The scan read the representations of the given model.',
    ],
    metrics: [
      { label: 'Records', value: n },
      { label: 'Flagged by the scan', value: flagged },
      { label: 'Flagged share', value: flaggedShare, percent: true },
      {
        label: 'Signature',
        value: sig.present
          ? sig.verified === undefined
            ? 'not checked'
            : sig.verified
              ? 'verified'
              : 'INVALID'
          : 'none',
      },
      {
        label: 'Label changes since last version',
        value: r.integrity.previous ? labelChanges.length : 'no version',
      },
      ...(bd ? [{ label: 'Poison rate for 90% ASR', value: bd.asr90Rate, percent: true }] : []),
    ],
  });
  const prev = r.integrity.previous;
  sections.push({
    id: 'integrity',
    title: 'Integrity',
    status: sig.present && sig.verified === false ? 'fail' : labelChanges.length ? 'warn' : 'pass',
    paragraphs: [
      r.integrity.rootDigest
        ? `Manifest: root digest ${r.integrity.rootDigest}, ${r.integrity.records.toLocaleString('en-US')} records (Merkle root ${r.integrity.recordsRoot ?? '—'}).`
        : `No manifest: ${sig.note ?? ''}`,
      sig.present
        ? sig.verified === undefined
          ? `Signature: ${sig.note}.`
          : sig.verified
            ? `Signature: verified (signer ${sig.signer}).`
            : `Signature: does NOT verify — ${(sig.problems ?? []).slice(0, 5).join('; ')}.`
        : 'Signature: none. Sign datasets with `antidote sign` and check them before training.',
      prev
        ? `Against the last committed version ${prev.version.id}: ${prev.diff.records?.added.length ?? 0} records added, ${prev.diff.records?.removed.length ?? 0} removed, ${prev.diff.records?.changed.length ?? 0} changed, ${labelChanges.length} relabelled.`
        : 'No committed version of this dataset to compare against (`antidote dataset commit`).',
    ],
    ...(labelChanges.length
      ? {
          tables: [
            {
              caption: `Label changes since ${prev!.version.id} (first 20 of ${labelChanges.length})`,
              columns: ['record', 'label before', 'label after', 'features changed'],
              rows: labelChanges
                .slice(0, 20)
                .map((c) => [c.id, String(c.from), String(c.to), c.featuresChanged ? 'yes' : 'no']),
            },
          ],
        }
      : {}),
  });
  const suspiciousClass = r.scan.perClass
    .filter((c) => c.flagged > 0)
    .sort((a, b) => b.flagged - a.flagged)[0];
  const projection =
    suspiciousClass && r.reps.dim >= 2
      ? projectionChart(ds, r.scan, r.reps, suspiciousClass.classIndex, r.seed)
      : undefined;
  const reasons = r.scan.perClass.flatMap((c) =>
    c.suspiciousBy.map((s) => [c.className, s.method, s.reason]),
  );
  sections.push({
    id: 'scan',
    title: 'Scan findings',
    status: flagged > 0 ? (flaggedShare > policy.maxFlaggedShare ? 'fail' : 'warn') : 'pass',
    paragraphs: [
      `Detectors: ${r.scan.methods.join(', ')}; a record is flagged when at least ${r.scan.quorum} agree.`,
    ],
    tables: [
      {
        caption: 'Findings per class',
        columns: ['class', 'records', 'flagged', 'judged poisoned by'],
        rows: r.scan.perClass.map((c) => [
          c.className,
          c.count,
          c.flagged,
          c.suspiciousBy.map((s) => s.method).join(', ') || '—',
        ]),
      },
      {
        caption: 'Why a detector judged a class poisoned',
        columns: ['class', 'detector', 'reason'],
        rows: reasons.length ? reasons : [['—', '—', 'no class judged poisoned']],
      },
      ...(Object.keys(r.detection).length
        ? [
            {
              caption: "Detection quality against the dataset's attack record",
              columns: ['detector', 'precision', 'recall', 'F1', 'ROC AUC'],
              rows: Object.entries(r.detection).map(([m, e]) => [
                m,
                pct(e.precision),
                pct(e.recall),
                pct(e.f1),
                e.auc.toFixed(3),
              ]),
            },
          ]
        : []),
    ],
    ...(projection ? { charts: [projection] } : {}),
    images: suspiciousImages(ds, r.scan, 16),
  });
  if (r.vulnerability) {
    const v = r.vulnerability;
    sections.push({
      id: 'vulnerability',
      title: 'Vulnerability',
      status: exposed ? 'warn' : 'pass',
      paragraphs: [
        `Simulated attacks on ${v.trainRecords.toLocaleString('en-US')} training records (${v.testRecords.toLocaleString('en-US')} held out), victim ${r.arch}; clean accuracy ${pct(v.cleanAccuracy, 1)}.`,
        ...(bd
          ? [
              `Backdoor: 50% ASR at ${bd.asr50Rate === null ? 'no tested rate' : pct(bd.asr50Rate)}, 90% at ${bd.asr90Rate === null ? 'no tested rate' : pct(bd.asr90Rate)} of the training set.`,
            ]
          : []),
      ],
      charts: vulnerabilityCharts(v),
    });
  }
  const recs = scanRecommendations(ds, r.scan);
  if (!sig.present)
    recs.push(
      'Sign this dataset (`antidote sign DIR --key K`) and verify it before every training run.',
    );
  if (labelChanges.length)
    recs.push(
      `${labelChanges.length} records changed label since ${prev!.version.id}: review them; unexplained relabelling is how label-flip attacks look.`,
    );
  if (exposed)
    recs.push(
      `A backdoor reaches 90% ASR at ${pct(bd!.asr90Rate)} of the training data: accept data only with signed provenance and gate models on a backdoor probe.`,
    );
  sections.push({ id: 'recommendations', title: 'Recommendations', bullets: recs });

  const report: AuditReport = {
    schema: 'antidote-audit/v1',
    title: `Poisoning audit of ${basename(o.data.spec)}`,
    subject: {
      dataset: `${o.data.spec} (${n.toLocaleString('en-US')} records, shape [${ds.shape.slice(1).join(', ')}], ${ds.classes.length} classes)`,
      model: r.trainedHere ? `${r.arch} trained by the audit` : 'given',
      policy: JSON.stringify(policy),
    },
    verdict,
    headline,
    sections,
    data: {
      verdict,
      passed,
      failures,
      policy,
      integrity: r.integrity,
      scan: {
        methods: r.scan.methods,
        quorum: r.scan.quorum,
        flagged,
        flaggedIds: ds.ids.filter((_, i) => r.scan.flagged[i]),
        perClass: r.scan.perClass,
      },
      ...(Object.keys(r.detection).length ? { detection: r.detection } : {}),
      ...(r.vulnerability ? { vulnerability: r.vulnerability } : {}),
    },
    generator: { antidote: version, seed: r.seed, backend: activeBackend() },
  };
  return { report, passed, failures };
}
