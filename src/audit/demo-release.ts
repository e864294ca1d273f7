import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { PoisonResult } from '../attacks/attack.js';
import type { Dataset } from '../data/dataset.js';
import { writeDatasetDir } from '../data/dataset-dir.js';
import { recordViews } from '../data/record-view.js';
import type { CleanedDataset, ModelScores, TriggeredInputs } from '../defenses/mitigation.js';
import { scoreModel } from '../defenses/mitigation.js';
import { activeBackend } from '../engine/backend.js';
import { loadModel } from '../engine/model.js';
import type { TfClassifier } from '../engine/tf-classifier.js';
import type { TriggeredTestSet } from '../eval/metrics.js';
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
import { commitVersion, type VersionRecord } from '../integrity/versioning.js';
import { runGate } from '../registry/gate.js';
import { parseGatePolicy } from '../registry/gate-policy.js';
import type { ModelRegistry } from '../registry/model-registry.js';
import { version } from '../version.js';
import type { DemoGate, DemoIntegrity } from './demo-sections.js';
import { DEMO_BATCH_SIZE, type DemoSettings } from './demo-stages.js';
import type { StageProgress } from './progress.js';

/*
 * The demo's release stages: write the datasets and models, commit the cleaned data, record the
 * model's provenance, sign and verify both, and run the release gate.
 */

/** Where the demo writes its artefacts, under its output directory. */
export interface DemoPaths {
  readonly clean: string;
  readonly poisoned: string;
  readonly cleaned: string;
  readonly victim: string;
  readonly model: string;
  /** Key pair prefix (`.key`, `.pub`). */
  readonly key: string;
  readonly test: string;
  readonly triggeredTest: string;
}

/** The demo's layout under `dir`. */
export function demoPaths(dir: string): DemoPaths {
  return {
    clean: join(dir, 'data', 'clean'),
    poisoned: join(dir, 'data', 'poisoned'),
    cleaned: join(dir, 'data', 'cleaned'),
    victim: join(dir, 'models', 'poisoned'),
    model: join(dir, 'models', 'mitigated'),
    key: join(dir, 'keys', 'demo'),
    test: join(dir, 'data', 'test'),
    triggeredTest: join(dir, 'data', 'test-triggered'),
  };
}

/** The datasets and models the release stages work on. */
export interface DemoArtefacts {
  readonly train: Dataset;
  readonly poison: PoisonResult;
  readonly cleaned: CleanedDataset;
  readonly victim: TfClassifier;
  readonly mitigated: TfClassifier;
}

/** Writes the clean, poisoned and cleaned datasets and the poisoned and mitigated models. */
export async function writeArtefacts(
  paths: DemoPaths,
  a: DemoArtefacts,
  s: DemoSettings,
): Promise<void> {
  await writeDatasetDir(paths.clean, a.train, {
    meta: { origin: `mnist:train sample of ${s.trainRecords}, seed ${s.seed}` },
  });
  await writeDatasetDir(paths.poisoned, a.poison.dataset, { attack: a.poison.record });
  await writeDatasetDir(paths.cleaned, a.cleaned.dataset, {
    meta: {
      origin: 'data/poisoned minus the records the scan flagged',
      dropped: a.cleaned.droppedIds.length,
    },
  });
  await a.victim.save(paths.victim);
  await a.mitigated.save(paths.model);
}

/** The demo's signing identity: a fresh Ed25519 key pair written under `paths.key`. */
interface DemoSigner {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The key's fingerprint, the actor of the audit log. */
  readonly actor: string;
}

async function createSigner(paths: DemoPaths): Promise<DemoSigner> {
  await writeSigningKeyPair(paths.key, generateSigningKeyPair());
  const privateKey = await loadPrivateKey(`${paths.key}.key`);
  const publicKey = await loadPublicKey(`${paths.key}.pub`);
  return { privateKey, publicKey, actor: keyFingerprint(privateKey) };
}

/** Commits the cleaned dataset to the catalogue (and logs it). */
async function commitCleaned(
  registry: ModelRegistry,
  paths: DemoPaths,
  a: DemoArtefacts,
  actor: string,
): Promise<VersionRecord> {
  const store = registry.store;
  const committed = await commitVersion(paths.cleaned, store, store.objects, {
    name: 'mnist-demo',
    message: `cleaned: ${a.cleaned.droppedIds.length} flagged records dropped`,
    author: actor,
    records: recordViews(a.cleaned.dataset),
  });
  appendAudit(store, {
    actor,
    action: 'dataset:commit',
    subject: committed.version.id,
    outcome: 'ok',
    digests: { root: committed.version.rootDigest },
  });
  return committed.version;
}

/** Records the mitigated model's SLSA provenance (signed): data version, code, settings. */
async function recordProvenance(
  paths: DemoPaths,
  a: DemoArtefacts,
  committed: VersionRecord,
  s: DemoSettings,
  privateKey: KeyObject,
): Promise<string> {
  const provenance = await recordTrainingProvenance({
    modelDir: paths.model,
    modelName: 'mnist-cnn',
    datasets: [
      {
        name: 'mnist-demo',
        version: committed.id,
        rootDigest: committed.rootDigest,
        recordsRoot: hashRecords(recordViews(a.cleaned.dataset)).merkleRoot,
        manifestDigest: committed.manifestDigest,
      },
    ],
    code: { version: `antidote@${version}` },
    hyperparameters: {
      model: 'cnn',
      epochs: s.epochs,
      batchSize: DEMO_BATCH_SIZE,
      learningRate: 0.001,
      backend: activeBackend(),
    },
    seed: s.seed,
    privateKey,
  });
  return provenance.modelDigest;
}

/** Signs the cleaned dataset and the mitigated model (logged), then verifies both signatures. */
async function signAndVerify(
  registry: ModelRegistry,
  paths: DemoPaths,
  cleaned: Dataset,
  signer: DemoSigner,
  progress: StageProgress,
): Promise<Pick<DemoIntegrity, 'signedData' | 'signedModel'>> {
  const records = () => ({ records: recordViews(cleaned) });
  const signedData = await signDirectory(paths.cleaned, signer.privateKey, records());
  const signedModel = await signDirectory(paths.model, signer.privateKey);
  for (const [dir, signed] of [
    [paths.cleaned, signedData],
    [paths.model, signedModel],
  ] as const) {
    appendAudit(registry.store, {
      actor: signer.actor,
      action: 'sign',
      subject: `dir:${dir}`,
      outcome: 'ok',
      digests: { root: signed.manifest.rootDigest },
    });
  }
  progress.tick('dataset and model signed');
  const verifiedData = await verifyDirectory(paths.cleaned, signer.publicKey, records());
  const verifiedModel = await verifyDirectory(paths.model, signer.publicKey);
  progress.tick('signatures verified');
  const outcome = (root: string, v: { ok: boolean; problems: readonly unknown[] }) => ({
    root,
    ok: v.ok,
    problems: v.problems.length,
  });
  return {
    signedData: outcome(signedData.manifest.rootDigest, verifiedData),
    signedModel: outcome(signedModel.manifest.rootDigest, verifiedModel),
  };
}

/**
 * The integrity stages of the demo (`progress` counts 5 steps): diff the poisoned copy against
 * the clean data, commit the cleaned data, record the model's provenance, sign and verify.
 */
export async function commitAndSign(
  registry: ModelRegistry,
  paths: DemoPaths,
  a: DemoArtefacts,
  s: DemoSettings,
  progress: StageProgress,
): Promise<{ integrity: DemoIntegrity; actor: string }> {
  const signer = await createSigner(paths);
  const cleanManifest = await createManifest(paths.clean, { records: recordViews(a.train) });
  const poisonedManifest = await createManifest(paths.poisoned, {
    records: recordViews(a.poison.dataset),
  });
  const diff = diffManifests(cleanManifest, poisonedManifest);
  const committed = await commitCleaned(registry, paths, a, signer.actor);
  progress.tick('cleaned dataset committed');
  const provenanceDigest = await recordProvenance(paths, a, committed, s, signer.privateKey);
  progress.tick('provenance recorded');
  const signed = await signAndVerify(registry, paths, a.cleaned.dataset, signer, progress);
  return {
    integrity: { diff, committed, ...signed, signer: signer.actor, provenanceDigest },
    actor: signer.actor,
  };
}

/** Scores the mitigated model as released: reloaded from disk, where it was verified. */
export async function scoreReleased(
  paths: DemoPaths,
  test: Dataset,
  inputs: TriggeredInputs,
): Promise<ModelScores> {
  const released = await loadModel(paths.model);
  try {
    return await scoreModel(released.classifier, released.featurize(test), inputs);
  } finally {
    released.dispose();
  }
}

/** What the release gate checks against. */
export interface GateInput {
  readonly dir: string;
  readonly test: Dataset;
  readonly triggered: TriggeredTestSet;
  /** The clean model's accuracy: the gate accepts at most 2 points less. */
  readonly cleanAccuracy: number;
  readonly actor: string;
  readonly seed: number;
}

/**
 * The release gate: registers the mitigated model, checks it against the demo's gate policy
 * (signature, catalogued data, scan, accuracy, backdoor probe) and promotes it to production
 * when it passes.
 */
export async function releaseGate(
  registry: ModelRegistry,
  paths: DemoPaths,
  g: GateInput,
): Promise<DemoGate> {
  const { test, triggered } = g;
  await writeDatasetDir(paths.test, test);
  await writeDatasetDir(paths.triggeredTest, {
    x: triggered.x,
    shape: [triggered.yTrue.length, ...test.shape.slice(1)],
    y: triggered.yTrue,
    classes: test.classes,
    ids: Array.from(triggered.indices, (i) => `${test.ids[i]}+trigger`),
  });
  const registered = await registry.register(paths.model, { name: 'mnist-cnn', actor: g.actor });
  const policy = parseGatePolicy(
    {
      version: 1,
      signature: { trustedKeys: [`${paths.key}.pub`] },
      dataset: { requireCatalogued: true },
      scan: { data: paths.cleaned, methods: ['ac'], maxFlaggedShare: 0.01, seed: g.seed },
      accuracy: { testSet: paths.test, min: Math.max(0, g.cleanAccuracy - 0.02) },
      backdoorProbe: { strip: { clean: paths.test, probe: paths.triggeredTest, seed: g.seed } },
    },
    { baseDir: g.dir, where: 'demo gate policy' },
  );
  const gate = await runGate(registry, registered.version.id, policy, { actor: g.actor });
  const promoted = gate.passed
    ? (
        await registry.promote(registered.version.id, {
          actor: g.actor,
          to: 'production',
          reason: 'demo: gate passed',
        })
      ).id
    : undefined;
  return {
    passed: gate.passed,
    checks: gate.checks.map((c) => ({ name: c.name, passed: c.passed, reason: c.reason })),
    ...(promoted ? { promoted } : {}),
  };
}
