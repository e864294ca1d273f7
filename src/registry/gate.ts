import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { loadDataset } from '../data/load.js';
import { neuralCleanse } from '../defenses/neural-cleanse.js';
import { scanDataset } from '../defenses/scan.js';
import { type ScanVerdict, verdictLine } from '../defenses/verdict.js';
import { type Model, requireDifferentiable } from '../engine/model.js';
import { isOnnxPath } from '../engine/model-summary.js';
import { AntidoteError } from '../errors.js';
import { evaluateClean } from '../eval/metrics.js';
import { appendAudit } from '../integrity/audit-log.js';
import type { JsonValue } from '../integrity/canonical-json.js';
import { sha256File } from '../integrity/hash.js';
import { readLineage } from '../integrity/lineage.js';
import { createManifest } from '../integrity/manifest.js';
import { parseSignaturePolicy, type SignaturePolicy } from '../integrity/policy.js';
import { median } from '../numeric/order-statistics.js';
import { StripProbe } from './backdoor-probe.js';
import { loadRegisteredVersion } from './deployment.js';
import type { LoadedGatePolicy } from './gate-policy.js';
import type { ModelRegistry, ModelVersion } from './model-registry.js';
import {
  checkSignature as checkUnderPolicy,
  projectSignaturePolicy,
  recordRefusal,
} from './signature-policy.js';

/** The checks a gate policy can ask for, in the order they run. */
export const GATE_CHECKS = [
  'signature',
  'dataset',
  'scan',
  'accuracy',
  'accuracy-drop',
  'backdoor-probe',
  'neural-cleanse',
] as const;

/** One gate check's name. */
export type GateCheckName = (typeof GATE_CHECKS)[number];

/** The outcome of one check. */
export interface GateCheck {
  readonly name: GateCheckName;
  readonly passed: boolean;
  /** One sentence: what was measured against which threshold. */
  readonly reason: string;
  readonly details: { readonly [key: string]: JsonValue };
}

/** The result of a gate run (written as JSON by `antidote gate`). */
export interface GateResult {
  readonly format: 'antidote-gate';
  readonly formatVersion: 1;
  readonly model: string;
  readonly rootDigest: string;
  readonly policyDigest: string;
  readonly policyPath?: string;
  readonly passed: boolean;
  readonly checks: readonly GateCheck[];
  readonly startedAt: string;
  readonly finishedAt: string;
}

/** Options of {@link runGate}. */
export interface GateOptions {
  /** Who runs the gate (recorded in the audit log). */
  readonly actor?: string;
  /** Store the result in the registry (default true). */
  readonly record?: boolean;
  readonly onProgress?: (p: { check: GateCheckName; stage: string }) => void;
  readonly now?: () => Date;
}

function resolveSpec(spec: string, baseDir: string): string {
  const p = resolve(baseDir, spec);
  return existsSync(p) ? p : spec;
}

async function contentDigest(path: string): Promise<string> {
  return statSync(path).isDirectory()
    ? (await createManifest(path)).rootDigest
    : (await sha256File(path)).digest;
}

function errorCheck(name: GateCheckName, e: unknown): GateCheck {
  const msg = e instanceof Error ? e.message : String(e);
  return {
    name,
    passed: false,
    reason: `check could not run: ${msg}`,
    details: { error: e instanceof AntidoteError ? e.code : 'ERROR' },
  };
}

async function checkSignature(v: ModelVersion, g: LoadedGatePolicy): Promise<GateCheck> {
  const { trustedKeys, trustedCAs } = g.policy.signature!;
  // The gate policy's section is a signature policy that requires a signature; its key and CA
  // files are relative to the gate policy.
  const policy = await parseSignaturePolicy(
    { version: 1, requireSignature: true, trustedKeys, trustedCAs },
    { where: g.path ?? 'gate policy signature', baseDir: g.baseDir },
  );
  const c = await checkUnderPolicy(v, policy);
  const trust = [...trustedKeys, ...trustedCAs].join(', ');
  if (c.status === 'verified') {
    return {
      name: 'signature',
      passed: true,
      reason: `signature verifies against a trusted ${c.method === 'certificate' ? 'CA' : 'key'} (${trust}) and covers the registered content`,
      details: { signer: c.signer, method: c.method },
    };
  }
  const reason = c.status === 'refused' ? c.reason : 'not checked';
  return {
    name: 'signature',
    passed: false,
    reason:
      c.status === 'refused' && c.tamper === 'content'
        ? `signed by a trusted signer, but ${reason}`
        : `no trusted key${trustedCAs.length > 0 ? ' or CA' : ''} verifies the model signature (${reason})`,
    details: {
      trustedKeys: trustedKeys.length,
      trustedCAs: trustedCAs.length,
      ...(c.status === 'refused' ? { tamper: c.tamper } : {}),
    },
  };
}

/**
 * The `signature` check of the project's signature policy (`.antidote/signature-policy.json`),
 * run by every gate when one is installed; a refusal is recorded (audit entry `gate.signature`,
 * `signature` alert) as the registry records it.
 */
async function checkProjectSignature(
  v: ModelVersion,
  policy: SignaturePolicy,
  registry: ModelRegistry,
  actor: string,
): Promise<GateCheck> {
  const c = await checkUnderPolicy(v, policy);
  const where = policy.path ?? 'the signature policy';
  if (c.status === 'refused') {
    recordRefusal(c, v, 'gate.signature', actor, {
      audit: (e) => appendAudit(registry.store, e),
      alert: (a) => void registry.recordAlert(a),
    });
    return {
      name: 'signature',
      passed: false,
      reason: `refused under ${where}: ${c.reason}`,
      details: { policy: where, tamper: c.tamper, code: c.code },
    };
  }
  return {
    name: 'signature',
    passed: true,
    reason:
      c.status === 'verified'
        ? `signature ${c.signaturePath} verifies under ${where} (${c.method} method, signer ${c.signer})`
        : `${c.reason}; ${where} does not require a signature`,
    details: {
      policy: where,
      status: c.status,
      ...(c.status === 'verified' ? { signer: c.signer } : {}),
    },
  };
}

async function checkDataset(
  v: ModelVersion,
  g: LoadedGatePolicy,
  registry: ModelRegistry,
): Promise<GateCheck> {
  const c = g.policy.dataset!;
  let lineage: Awaited<ReturnType<typeof readLineage>>;
  if (isOnnxPath(v.dir)) {
    return {
      name: 'dataset',
      passed: false,
      reason: `no training provenance: ${v.dir} is an ONNX model file, which carries none; leave dataset out of the policy of imported models`,
      details: { kind: 'onnx' },
    };
  }
  try {
    lineage = await readLineage(v.dir);
  } catch (e) {
    return {
      name: 'dataset',
      passed: false,
      reason: `no usable training provenance: ${(e as Error).message}`,
      details: {},
    };
  }
  if (!lineage.modelMatches) {
    return {
      name: 'dataset',
      passed: false,
      reason: 'the model files do not match the subject of their training provenance',
      details: { modelDigest: lineage.modelDigest },
    };
  }
  if (lineage.datasets.length === 0) {
    return {
      name: 'dataset',
      passed: false,
      reason: 'the provenance names no dataset',
      details: {},
    };
  }
  const given = new Map<string, string>();
  for (const d of c.data) {
    const p = resolve(g.baseDir, d);
    if (!existsSync(p)) {
      return {
        name: 'dataset',
        passed: false,
        reason: `dataset ${d} named by the policy does not exist`,
        details: {},
      };
    }
    given.set(await contentDigest(p), d);
  }
  const catalogued = new Map(
    registry.store.listVersions('dataset').map((x) => [x.rootDigest, x.id] as const),
  );
  const unverified: string[] = [];
  const verified: Record<string, string> = {};
  for (const d of lineage.datasets) {
    const byCat = catalogued.get(d.rootDigest);
    const byPath = given.get(d.rootDigest);
    if (byCat) verified[d.name] = `catalogue ${byCat}`;
    else if (byPath && !c.requireCatalogued) verified[d.name] = `matches ${byPath}`;
    else unverified.push(d.name);
  }
  if (unverified.length > 0) {
    return {
      name: 'dataset',
      passed: false,
      reason: `training dataset(s) ${unverified.join(', ')} match no ${c.requireCatalogued ? 'committed catalogue version' : 'committed version or given dataset'}`,
      details: { verified },
    };
  }
  return {
    name: 'dataset',
    passed: true,
    reason: `every training dataset is verified (${Object.entries(verified)
      .map(([k, w]) => `${k}: ${w}`)
      .join('; ')})`,
    details: { verified },
  };
}

/** What the scan check measured: per detector, the problems found, and the worst values. */
interface ScanTally {
  readonly per: Record<string, JsonValue>;
  readonly problems: string[];
  maxShare: number;
  suspiciousTotal: number;
  decision?: JsonValue;
}

function emptyTally(): ScanTally {
  return { per: {}, problems: [], maxShare: 0, suspiciousTotal: 0 };
}

type ScanPolicy = NonNullable<LoadedGatePolicy['policy']['scan']>;

/**
 * Scans `spec` with the model through the scan decision every scan path takes (`scanDataset`),
 * in the model's representation (text and tabular records featurized); the policy's thresholds
 * apply to each detector, the merged decision is recorded beside them, and the scan's verdict
 * must be PASS (a REVIEW or FAIL fails the check, naming the reason).
 */
async function scanOnData(
  spec: string,
  c: ScanPolicy,
  model: Model,
  progress: GateOptions['onProgress'],
): Promise<ScanTally> {
  const t = emptyTally();
  const loaded = await loadDataset(spec);
  model.checkReads(loaded);
  const ds = model.featurize(loaded.dataset);
  let current = '';
  const scan = await scanDataset(ds, model.classifier, {
    methods: c.methods,
    seed: c.seed,
    onProgress: (m) => {
      if (m !== current) progress?.({ check: 'scan', stage: (current = m) });
    },
  });
  scan.reports.forEach((r, k) => {
    const m = scan.detectors[k]!;
    const flagged = r.flagged.reduce((a, b) => a + b, 0);
    const susp = r.perClass.filter((x) => x.suspicious);
    const shareFlagged = flagged / Math.max(1, r.flagged.length);
    t.maxShare = Math.max(t.maxShare, shareFlagged);
    t.suspiciousTotal = Math.max(t.suspiciousTotal, susp.length);
    t.per[m] = {
      records: r.flagged.length,
      flagged,
      suspiciousClasses: susp.map((x) => x.className),
      reasons: susp.map((x) => `${x.className}: ${x.reason}`),
      examples: exampleFlagged(ds, r.scores, r.flagged),
    };
    if (susp.length > c.maxSuspiciousClasses) {
      t.problems.push(
        `${m} finds poison in class(es) ${susp.map((x) => x.className).join(', ')} (${susp[0]!.reason})`,
      );
    }
    if (shareFlagged > c.maxFlaggedShare) {
      t.problems.push(
        `${m} flags ${(shareFlagged * 100).toFixed(1)}% of records > ${(c.maxFlaggedShare * 100).toFixed(1)}%`,
      );
    }
  });
  if (!verdictAccepted(scan.verdict, c)) t.problems.push(`scan ${verdictLine(scan.verdict)}`);
  t.decision = {
    detectors: [...scan.detectors],
    quorum: scan.quorum,
    verdict: scan.verdict.verdict,
    reason: scan.verdict.reason,
    flagged: scan.flagged.reduce((a, b) => a + b, 0),
    // Images as loaded (HWC pixels), not as the model reads them (e.g. an ONNX model's NCHW).
    examples: exampleFlagged(
      model.capabilities.pixels ? loaded.dataset : ds,
      scan.suspicion,
      scan.flagged,
    ),
  };
  return t;
}

/**
 * Whether the gate accepts a scan verdict: PASS always; REVIEW only under `allowReview` and only
 * when it holds no strong class-level finding (the policy's thresholds then judge the flags);
 * FAIL never.
 */
function verdictAccepted(
  v: Pick<ScanVerdict, 'verdict'> & { readonly evidence?: readonly unknown[] },
  c: ScanPolicy,
): boolean {
  if (v.verdict === 'pass') return true;
  return v.verdict === 'review' && c.allowReview && (v.evidence?.length ?? 1) === 0;
}

/** The scan results registered with the model, against the policy's thresholds. */
function registeredScan(
  scans: NonNullable<ModelVersion['info']['scan']>,
  c: ScanPolicy,
): ScanTally {
  const t = emptyTally();
  const verdict = scans.find((s) => s.verdict)?.verdict;
  if (verdict && !verdictAccepted(verdict, c)) {
    t.problems.push(`registered scan ${verdictLine(verdict)}`);
  }
  for (const s of scans) {
    const shareFlagged = s.flagged / Math.max(1, s.records);
    t.maxShare = Math.max(t.maxShare, shareFlagged);
    t.suspiciousTotal = Math.max(t.suspiciousTotal, s.suspiciousClasses.length);
    t.per[s.method] = { ...s, source: 'registered' } as unknown as JsonValue;
    if (s.suspiciousClasses.length > c.maxSuspiciousClasses) {
      t.problems.push(
        `${s.method} (registered scan) finds poison in class(es) ${s.suspiciousClasses.join(', ')}`,
      );
    }
    if (shareFlagged > c.maxFlaggedShare) {
      t.problems.push(`${s.method} (registered scan) flags ${(shareFlagged * 100).toFixed(1)}%`);
    }
  }
  return t;
}

async function checkScan(
  v: ModelVersion,
  g: LoadedGatePolicy,
  model: Model,
  progress: GateOptions['onProgress'],
): Promise<GateCheck> {
  const c = g.policy.scan!;
  let t: ScanTally;
  if (c.data) t = await scanOnData(resolveSpec(c.data, g.baseDir), c, model, progress);
  else if (v.info.scan) t = registeredScan(v.info.scan, c);
  else {
    return {
      name: 'scan',
      passed: false,
      reason: 'no scan: the policy names no data to scan and no scan was registered with the model',
      details: {},
    };
  }
  return {
    name: 'scan',
    passed: t.problems.length === 0,
    reason:
      t.problems.length === 0
        ? `no detector finding above threshold (max ${t.suspiciousTotal} suspicious class(es) ≤ ${c.maxSuspiciousClasses}, max flagged ${(t.maxShare * 100).toFixed(1)}% ≤ ${(c.maxFlaggedShare * 100).toFixed(1)}%)`
        : t.problems.join('; '),
    details: {
      methods: t.per,
      maxFlaggedShare: t.maxShare,
      maxSuspiciousClasses: t.suspiciousTotal,
      ...(t.decision ? { decision: t.decision } : {}),
    },
  };
}

/** Up to 4 of the most suspicious flagged records: id, label and (for images) the pixels. */
function exampleFlagged(ds: Dataset, scores: Float32Array, flagged: Uint8Array): JsonValue {
  const idx = Array.from(flagged.keys())
    .filter((i) => flagged[i])
    .sort((a, b) => scores[b]! - scores[a]!)
    .slice(0, 4);
  const rec = ds.shape.slice(1);
  const size = rec.reduce((a, b) => a * b, 1);
  const image = rec.length === 3 && (rec[2] === 1 || rec[2] === 3) && size <= 32 * 32 * 3;
  return idx.map((i) => ({
    id: ds.ids[i],
    label: ds.classes[ds.y[i]!],
    score: Number(scores[i]!.toFixed(4)),
    ...(image
      ? {
          shape: rec,
          pixels: Array.from(ds.x.subarray(i * size, (i + 1) * size), (p) =>
            Math.round(Math.min(1, Math.max(0, p)) * 255),
          ),
        }
      : {}),
  }));
}

/**
 * The check of an image-space probe (STRIP, Neural Cleanse) on a model that reads no pixels (a
 * text or tabular model): not run, and failed, saying so. The gate denies what it cannot check,
 * so a policy asking for the probe of such a model is seen, never passed unnoticed.
 */
function pixelsOnly(
  name: GateCheckName,
  method: 'strip' | 'neural-cleanse',
  model: Model,
): GateCheck {
  const title = method === 'strip' ? 'STRIP' : 'Neural Cleanse';
  return {
    name,
    passed: false,
    reason: `not run: ${title} works on image pixels, and the model is a ${model.domain} model (${model.kind}) that reads none; leave backdoorProbe out of the policy of ${model.domain} models`,
    details: { method, skipped: true, domain: model.domain, kind: model.kind },
  };
}

/** Neural Cleanse on the model: passes when no class is flagged as a backdoor target. */
async function checkNeuralCleanse(
  model: Model,
  gate: LoadedGatePolicy,
  c: NonNullable<NonNullable<LoadedGatePolicy['policy']['backdoorProbe']>['neuralCleanse']>,
  progress: GateOptions['onProgress'],
): Promise<GateCheck> {
  if (!model.capabilities.pixels) return pixelsOnly('neural-cleanse', 'neural-cleanse', model);
  if (!model.capabilities.gradients) {
    return {
      name: 'neural-cleanse',
      passed: false,
      reason: `not run: Neural Cleanse needs input gradients, and the model (${model.kind}) gives none (an ONNX model gives them only when every op imports into the engine: docs/onnx.md)`,
      details: { method: 'neural-cleanse', skipped: true, domain: model.domain, kind: model.kind },
    };
  }
  const m = await requireDifferentiable(model, 'Neural Cleanse');
  const clean = (await loadDataset(resolveSpec(c.clean, gate.baseDir))).dataset;
  const n = Math.min(c.records, clean.y.length);
  const size = m.inputShape.reduce((a, b) => a * b, 1);
  const r = await neuralCleanse(
    m,
    { x: clean.x.subarray(0, n * size), n },
    {
      seed: c.seed,
      epochs: c.epochs,
      stepsPerEpoch: c.stepsPerEpoch,
      initCost: c.initCost,
      anomalyScale: c.anomalyScale,
      anomalyThreshold: c.anomalyThreshold,
      onProgress: (p) => progress?.({ check: 'neural-cleanse', stage: p.stage }),
    },
  );
  const names = m.classes;
  const top = r.anomalyIndex.reduce((best, v, i) => (v > r.anomalyIndex[best]! ? i : best), 0);
  return {
    name: 'neural-cleanse',
    passed: r.flagged.length === 0,
    reason:
      r.flagged.length === 0
        ? `Neural Cleanse flags no class (largest ${c.anomalyScale} anomaly index ${r.anomalyIndex[top]!.toFixed(2)} for ${names[top]} ≤ ${c.anomalyThreshold}, on ${n} records of ${c.clean})`
        : `Neural Cleanse flags ${r.flagged.map((k) => names[k]).join(', ')} as backdoor target${r.flagged.length > 1 ? 's' : ''} (mask L1 ${r.flagged.map((k) => r.maskL1[k]!.toFixed(1)).join(', ')} vs median ${median(r.maskL1).toFixed(1)}; ${c.anomalyScale} anomaly index > ${c.anomalyThreshold})`,
    details: {
      method: 'neural-cleanse',
      anomalyScale: c.anomalyScale,
      flagged: r.flagged.map((k) => names[k]!),
      maskL1: [...r.maskL1],
      anomalyIndex: [...r.anomalyIndex],
      secondsPerClass: r.secondsPerClass,
      records: n,
    },
  };
}

/** Runs one check, recording its result (or, when it throws, a failed check saying why). */
type CheckRunner = (name: GateCheckName, f: () => Promise<GateCheck>) => Promise<void>;

/** The checks that need the model: scan, accuracy (and its drop), STRIP, Neural Cleanse. */
async function runModelChecks(
  registry: ModelRegistry,
  v: ModelVersion,
  gate: LoadedGatePolicy,
  m: Model,
  run: CheckRunner,
  progress: GateOptions['onProgress'],
): Promise<void> {
  const p = gate.policy;
  if (p.scan) await run('scan', () => checkScan(v, gate, m, progress));
  if (p.accuracy) await runAccuracyChecks(registry, v, gate, m, p.accuracy, run);
  const stripPolicy = p.backdoorProbe?.strip;
  if (stripPolicy) await run('backdoor-probe', () => checkStrip(m, gate, stripPolicy));
  const ncPolicy = p.backdoorProbe?.neuralCleanse;
  if (ncPolicy) {
    await run('neural-cleanse', () => checkNeuralCleanse(m, gate, ncPolicy, progress));
  }
}

/** Clean accuracy of `model` on raw records `test` (featurized as the model reads them). */
async function accuracyOf(model: Model, test: Dataset): Promise<number> {
  return (await evaluateClean(model.classifier, model.featurize(test))).accuracy;
}

/** Clean accuracy on the policy's test set, then its drop against production (when asked). */
async function runAccuracyChecks(
  registry: ModelRegistry,
  v: ModelVersion,
  gate: LoadedGatePolicy,
  m: Model,
  c: NonNullable<LoadedGatePolicy['policy']['accuracy']>,
  run: CheckRunner,
): Promise<void> {
  let acc = Number.NaN;
  let test: Dataset | undefined;
  await run('accuracy', async () => {
    test = (await loadDataset(resolveSpec(c.testSet, gate.baseDir))).dataset;
    acc = await accuracyOf(m, test);
    return {
      name: 'accuracy',
      passed: acc >= c.min,
      reason: `clean accuracy ${(acc * 100).toFixed(2)}% on ${c.testSet} ${acc >= c.min ? '≥' : '<'} required ${(c.min * 100).toFixed(2)}%`,
      details: { accuracy: acc, min: c.min, testSet: c.testSet, records: test.y.length },
    };
  });
  if (c.maxDrop === undefined || !test) return;
  const t = test;
  const maxDrop = c.maxDrop;
  await run('accuracy-drop', async (): Promise<GateCheck> => {
    const prod = registry.production(v.name);
    if (!prod || prod.id === v.id) {
      return {
        name: 'accuracy-drop',
        passed: true,
        reason: `no other production version of ${v.name} to compare with`,
        details: {},
      };
    }
    const pm = await loadRegisteredVersion(await registry.local(prod));
    try {
      const base = await accuracyOf(pm, t);
      const drop = base - acc;
      return {
        name: 'accuracy-drop',
        passed: drop <= maxDrop,
        reason: `accuracy ${drop > 0 ? 'drops' : 'changes'} by ${(drop * 100).toFixed(2)} points against production ${prod.id} (${(base * 100).toFixed(2)}%); allowed drop ${(maxDrop * 100).toFixed(2)}`,
        details: { production: prod.id, productionAccuracy: base, drop, maxDrop },
      };
    } finally {
      pm.dispose();
    }
  });
}

/** STRIP calibrated on the clean set: the share of probe records it rejects. */
async function checkStrip(
  model: Model,
  gate: LoadedGatePolicy,
  c: NonNullable<NonNullable<LoadedGatePolicy['policy']['backdoorProbe']>['strip']>,
): Promise<GateCheck> {
  if (!model.capabilities.pixels) return pixelsOnly('backdoor-probe', 'strip', model);
  const m = model.classifier;
  // STRIP needs predictions only; records as the model reads them (an ONNX model's layout).
  const clean = model.featurize((await loadDataset(resolveSpec(c.clean, gate.baseDir))).dataset);
  const probe = model.featurize((await loadDataset(resolveSpec(c.probe, gate.baseDir))).dataset);
  const s = await StripProbe.calibrate(
    m,
    { x: clean.x, n: clean.y.length },
    { seed: c.seed, frr: c.frr, overlays: c.overlays },
  );
  const r = await s.score({ x: probe.x, n: probe.y.length });
  const rate = r.rejected.reduce((a, b) => a + b, 0) / Math.max(1, r.rejected.length);
  return {
    name: 'backdoor-probe',
    passed: rate <= c.maxRejectRate,
    reason: `STRIP rejects ${(rate * 100).toFixed(1)}% of ${c.probe} (entropy < ${s.threshold.toFixed(3)} bits, set at FRR ${(c.frr * 100).toFixed(0)}% on ${c.clean}); allowed ${(c.maxRejectRate * 100).toFixed(1)}%`,
    details: {
      method: 'strip',
      rejectRate: rate,
      threshold: s.threshold,
      frr: c.frr,
      maxRejectRate: c.maxRejectRate,
      probeRecords: probe.y.length,
    },
  };
}

/**
 * Runs the deployment gate on a registered version: each check of the policy, in order, with
 * pass/fail and why. A check that cannot run fails (default deny). The result is stored in the
 * registry (audited) unless `record` is false; `antidote promote` refuses a version whose latest
 * gate result did not pass.
 */
export async function runGate(
  registry: ModelRegistry,
  ref: string,
  gate: LoadedGatePolicy,
  options: GateOptions = {},
): Promise<GateResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now().toISOString();
  // A version registered on another machine: its files fetched from the store (model-content.ts).
  const v = await registry.local(registry.get(ref));
  const p = gate.policy;
  const checks: GateCheck[] = [];
  const progress = options.onProgress;
  const run: CheckRunner = async (name, f) => {
    progress?.({ check: name, stage: 'start' });
    try {
      checks.push(await f());
    } catch (e) {
      checks.push(errorCheck(name, e));
    }
  };
  if (p.signature) await run('signature', () => checkSignature(v, gate));
  const signatures = await projectSignaturePolicy(registry.store.projectDir);
  if (signatures) {
    await run('signature', () =>
      checkProjectSignature(v, signatures, registry, options.actor ?? 'anonymous'),
    );
  }
  if (p.dataset) await run('dataset', () => checkDataset(v, gate, registry));
  let model: Model | undefined;
  const needsModel = p.scan || p.accuracy || p.backdoorProbe;
  try {
    if (needsModel) {
      try {
        model = await loadRegisteredVersion(v, signatures ? { signaturePolicy: signatures } : {});
      } catch (e) {
        for (const name of ['scan', 'accuracy', 'backdoor-probe'] as const) {
          checks.push(errorCheck(name, e));
        }
      }
    }
    if (model) await runModelChecks(registry, v, gate, model, run, progress);
  } finally {
    model?.dispose();
  }
  const passed = checks.length > 0 && checks.every((c) => c.passed);
  const result: GateResult = {
    format: 'antidote-gate',
    formatVersion: 1,
    model: v.id,
    rootDigest: v.rootDigest,
    policyDigest: gate.digest,
    ...(gate.path ? { policyPath: gate.path } : {}),
    passed,
    checks,
    startedAt,
    finishedAt: now().toISOString(),
  };
  if (options.record !== false) {
    registry.recordGateResult(v.id, {
      passed,
      policyDigest: gate.digest,
      result: result as unknown as JsonValue,
      ...(options.actor ? { actor: options.actor } : {}),
    });
  }
  return result;
}
