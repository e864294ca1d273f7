import { basename } from 'node:path';
import type { LoadedDataset } from '../data/load.js';
import { verdictLine } from '../defenses/verdict.js';
import type { AuditReport, Metric, ReportRun, ReportSection } from '../report/audit-report.js';
import type { AuditModel } from './audit-model.js';
import type { IntegrityFindings } from './integrity-check.js';
import type { AuditPolicy, PolicyDecision } from './policy.js';
import { buildReport } from './report-builder.js';
import { pct } from './report-figures.js';
import { displayPath } from './report-run.js';
import {
  labelChangesTable,
  recommendationsSection,
  scanRecommendations,
  scanSection,
  skippedSection,
  summarySection,
  vulnerabilitySection,
} from './report-sections.js';
import type { ScanFindings } from './scan-stage.js';
import { sourceTrustSection } from './source-trust-section.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

/** A stage the audit did not run, and why. */
export interface SkippedStage {
  readonly stage: string;
  readonly reason: string;
}

/** Everything an audit found, as handed to {@link buildAuditReport}. */
export interface AuditFindings {
  readonly data: LoadedDataset;
  /** What the audit did to the data before reading it (see `AuditResult.notices`). */
  readonly notices?: readonly string[];
  readonly model: AuditModel;
  readonly policy: AuditPolicy;
  readonly decision: PolicyDecision;
  readonly integrity: IntegrityFindings;
  readonly scan: ScanFindings;
  readonly vulnerability?: VulnerabilityAssessment | undefined;
  readonly skipped: readonly SkippedStage[];
  readonly seed: number;
  readonly backend: string;
  /** When, by whom, from which inputs (`report-run.ts`). */
  readonly run: ReportRun;
  /** Directory the report's paths are relative to (default: the working directory). */
  readonly baseDir?: string | undefined;
}

/** The simulated backdoor's curve, if one was simulated. */
const backdoorCurve = (f: AuditFindings) =>
  f.vulnerability?.curves.find((c) => c.attack === 'backdoor');

/**
 * The sentence a reader sees first: the reason for the verdict. The scan's verdict and reason
 * (PASS / REVIEW / FAIL, `defenses/verdict.ts`) lead, after any integrity failure; the exposure
 * to a simulated backdoor follows.
 */
function auditHeadline(f: AuditFindings): string {
  const rate = backdoorCurve(f)?.asr90Rate;
  const v = f.scan.scan.verdict;
  const integrity =
    f.decision.integrity === 'fail' ? f.decision.failures.filter((x) => /signature/.test(x)) : [];
  const scan =
    f.decision.verdict === v.verdict && integrity.length === 0
      ? v.reason
      : `The scan says ${verdictLine(v)}`;
  return [
    ...integrity.map((x) => `Integrity: ${x}.`),
    scan,
    ...(rate != null
      ? [`A backdoor would need only ${pct(rate)} of the data to reach 90% ASR.`]
      : []),
  ].join(' ');
}

/**
 * Why each section of the audit has its status (see `ReportParts.reasons`): the integrity
 * failures, the scan's reason (or the policy's, when it fails a flagged share), the exposure.
 */
function auditReasons(f: AuditFindings): Record<string, string> {
  const d = f.decision;
  const sv = f.scan.scan.verdict;
  const bd = backdoorCurve(f);
  const signatureFailures = d.failures.filter((x) => /signature/.test(x));
  const shareFailure = d.failures.find((x) => /^the scan flagged/.test(x));
  const prev = f.integrity.previous;
  const relabelled = prev?.diff.records?.labelChanged.length ?? 0;
  return {
    integrity: signatureFailures.length
      ? `Integrity: ${signatureFailures.join('; ')}.`
      : prev && relabelled
        ? `Integrity: ${relabelled} records changed label since ${prev.version.id}.`
        : 'Integrity: no problem found.',
    scan: d.scan === sv.verdict || !shareFailure ? sv.reason : `${shareFailure}.`,
    vulnerability:
      bd?.asr90Rate != null
        ? `A simulated backdoor reaches 90% ASR with ${pct(bd.asr90Rate)} of the training data poisoned (policy minimum ${pct(f.policy.minAsr90Rate)}).`
        : 'No simulated backdoor reached 90% ASR at the tested rates.',
  };
}

/** How the scan read the data, in a sentence. */
function modelSentence(f: AuditFindings): string {
  const m = f.model;
  if (m.trainedHere) {
    return `No model was given: a ${m.victimArch} was trained on the data (seed ${f.seed}) to read its representations.`;
  }
  return m.readsRecords
    ? 'The scan read the representations of the given model.'
    : `The scan read the representations of the given ${m.model.domain} model of the records in its feature space.`;
}

/** The signature's state in a word. */
function signatureWord(sig: IntegrityFindings['signature']): string {
  if (!sig.present) return 'none';
  if (sig.verified === undefined) return 'not checked';
  return sig.verified ? 'verified' : 'INVALID';
}

function auditSummary(f: AuditFindings): ReportSection {
  const d = f.decision;
  const bd = backdoorCurve(f);
  const previous = f.integrity.previous;
  const metrics: Metric[] = [
    { label: 'Records', value: f.data.dataset.y.length },
    { label: 'Flagged by the scan', value: d.flagged },
    { label: 'Flagged share', value: d.flaggedShare, percent: true },
    { label: 'Signature', value: signatureWord(f.integrity.signature) },
    {
      label: 'Label changes since last version',
      value: previous ? (previous.diff.records?.labelChanged.length ?? 0) : 'no version',
    },
    ...(bd ? [{ label: 'Poison rate for 90% ASR', value: bd.asr90Rate, percent: true }] : []),
  ];
  return summarySection(
    [
      ...(f.notices ?? []).map((n) => `Notice: ${n}.`),
      d.failures.length ? `Policy failures: ${d.failures.join('; ')}.` : 'No policy failure.',
      modelSentence(f),
      ...f.skipped.map((s) => `Not run: ${s.stage} (${s.reason}).`),
      ...(f.vulnerability?.limitations.length
        ? [
            `Vulnerability not assessed: ${f.vulnerability.limitations.join('; ')}; no poison rate is stated.`,
          ]
        : []),
    ],
    metrics,
  );
}

/** The signature paragraph of the integrity section. */
function signatureParagraph(sig: IntegrityFindings['signature']): string {
  if (!sig.present)
    return 'Signature: none. Sign datasets with `antidote sign` and check them before training.';
  if (sig.verified === undefined) return `Signature: ${sig.note}.`;
  return sig.verified
    ? `Signature: verified (signer ${sig.signer}).`
    : `Signature: does NOT verify — ${(sig.problems ?? []).slice(0, 5).join('; ')}.`;
}

function auditIntegrity(f: AuditFindings): ReportSection {
  const i = f.integrity;
  const prev = i.previous;
  const records = prev?.diff.records;
  const labelChanges = records?.labelChanged ?? [];
  return {
    id: 'integrity',
    title: 'Integrity',
    status: f.decision.integrity,
    paragraphs: [
      i.rootDigest
        ? `Manifest: root digest ${i.rootDigest}, ${i.records.toLocaleString('en-US')} records (Merkle root ${i.recordsRoot ?? '—'}).`
        : `No manifest: ${i.signature.note ?? ''}`,
      signatureParagraph(i.signature),
      prev
        ? `Against the last committed version ${prev.version.id}: ${records?.added.length ?? 0} records added, ${records?.removed.length ?? 0} removed, ${records?.changed.length ?? 0} changed, ${labelChanges.length} relabelled.`
        : 'No committed version of this dataset to compare against (`antidote dataset commit`).',
    ],
    ...(prev && labelChanges.length
      ? {
          tables: [
            labelChangesTable(
              labelChanges,
              `Label changes since ${prev.version.id} (first 20 of ${labelChanges.length})`,
              20,
            ),
          ],
        }
      : {}),
  };
}

function auditVulnerability(f: AuditFindings): ReportSection | undefined {
  if (f.vulnerability) return vulnerabilitySection(f.vulnerability, f.decision.vulnerability);
  const skipped = f.skipped.find((s) => s.stage === 'vulnerability');
  return skipped ? skippedSection('vulnerability', 'Vulnerability', skipped.reason) : undefined;
}

/**
 * The integrity recommendation that fits the input: sign a dataset directory or PNG folder
 * (`antidote sign`), record the digest of a single file (the audit checks signatures of
 * directories only), nothing for a built-in dataset (it ships with Antidote).
 */
function signingRecommendation(f: AuditFindings): string | undefined {
  if (f.integrity.signature.present) return undefined;
  const path = displayPath(f.data.spec, f.baseDir);
  const dataset = f.run.inputs.find((i) => i.role === 'dataset');
  switch (f.data.kind) {
    case 'dataset-dir':
    case 'png-folder':
      return `Sign this dataset (\`antidote sign ${path} --key KEY\`) and pass its public key to every audit (\`--key\`), so tampering fails the audit.`;
    case 'csv':
    case 'text':
      return `Record this file's digest (${dataset?.digest ?? 'see the Run table'}) with its provenance and check it before every training run; for a signed, record-level manifest, keep the data as a dataset directory and \`antidote sign\` it.`;
    default:
      return undefined;
  }
}

function auditRecommendations(f: AuditFindings): ReportSection {
  const recs = scanRecommendations(f.model.features, f.scan.scan);
  const prev = f.integrity.previous;
  const labelChanges = prev?.diff.records?.labelChanged.length ?? 0;
  const signing = signingRecommendation(f);
  if (signing) recs.push(signing);
  if (prev && labelChanges)
    recs.push(
      `${labelChanges} records changed label since ${prev.version.id}: review them; unexplained relabelling is how label-flip attacks look.`,
    );
  const bd = backdoorCurve(f);
  if (f.decision.exposed && bd)
    recs.push(
      `A backdoor reaches 90% ASR at ${pct(bd.asr90Rate)} of the training data: accept data only with signed provenance and gate models on a backdoor probe.`,
    );
  return recommendationsSection(recs);
}

/** The machine-readable results behind the audit report's sections. */
function auditData(f: AuditFindings): Record<string, unknown> {
  const { scan, detection } = f.scan;
  const ds = f.model.features;
  const pre = f.model.model.preprocessing;
  return {
    verdict: f.decision.verdict,
    reason: auditHeadline(f),
    scanVerdict: f.scan.scan.verdict,
    passed: f.decision.passed,
    failures: f.decision.failures,
    policy: f.policy,
    integrity: f.integrity,
    // How records were prepared for the model (ONNX: layout, normalisation, tokenisation).
    ...(pre ? { preprocessing: pre } : {}),
    scan: {
      methods: scan.methods,
      quorum: scan.quorum,
      flagged: f.decision.flagged,
      flaggedIds: ds.ids.filter((_, i) => scan.flagged[i]),
      perClass: scan.perClass,
      ...(scan.sources ? { sources: scan.sources } : {}),
    },
    ...(Object.keys(detection).length ? { detection } : {}),
    ...(f.vulnerability ? { vulnerability: f.vulnerability } : {}),
    ...(f.skipped.length ? { skipped: f.skipped } : {}),
    ...(f.notices?.length ? { notices: f.notices } : {}),
  };
}

/** The report of `antidote audit`, through the shared report builder. */
export function buildAuditReport(f: AuditFindings): AuditReport {
  const ds = f.data.dataset;
  const n = ds.y.length;
  return buildReport({
    title: `Poisoning audit of ${basename(f.data.spec)}`,
    subject: {
      dataset: `${displayPath(f.data.spec, f.baseDir)} (${n.toLocaleString('en-US')} records, shape [${ds.shape.slice(1).join(', ')}], ${ds.classes.length} classes)`,
      model: f.model.description,
      ...(f.model.model.preprocessing
        ? { preprocessing: JSON.stringify(f.model.model.preprocessing) }
        : {}),
      policy: JSON.stringify(f.policy),
    },
    headline: auditHeadline(f),
    reasons: auditReasons(f),
    run: f.run,
    sections: [
      auditSummary(f),
      auditIntegrity(f),
      scanSection({
        // Images are shown as loaded (HWC), whatever layout the model reads; text and tabular
        // records as the model's featurizer keeps them (with their text).
        ds: f.model.model.capabilities.pixels ? f.data.dataset : f.model.features,
        ...f.scan,
        status: f.decision.scan,
        model: f.model.readsRecords ? "the model's" : `the ${f.model.model.domain} model's`,
        seed: f.seed,
      }),
      sourceTrustSection(f.scan.scan.sources),
      auditVulnerability(f),
      auditRecommendations(f),
    ],
    data: auditData(f),
    seed: f.seed,
    backend: f.backend,
  });
}
