import { createHash, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { readJson, writeFileAtomic } from '../util/fs.js';
import { parseWith } from '../util/schema.js';
import type { JsonValue } from './canonical-json.js';
import { digestEquals } from './hash.js';
import { keyFingerprint } from './keys.js';
import { createManifest, PROVENANCE_FILE, PROVENANCE_SIGNATURE_FILE } from './manifest.js';
import {
  IN_TOTO_STATEMENT_V1,
  type InTotoStatement,
  inTotoStatementSchema,
  parseBundle,
  signStatement,
  verifyBundle,
} from './sigstore-bundle.js';

/** Predicate type of SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance). */
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** The buildType of an Antidote training run. */
export const ANTIDOTE_TRAIN_BUILD_TYPE = 'https://antidote.dev/buildtypes/train/v1';

/** A dataset version a model was trained on. */
export interface DatasetInput {
  readonly name: string;
  /** Catalogue version id, e.g. `mnist@3`. */
  readonly version?: string;
  /** Files root digest of the dataset directory (sha256 hex). */
  readonly rootDigest: string;
  /** Record Merkle root, when known. */
  readonly recordsRoot?: string;
  /** Manifest digest in the catalogue, when known. */
  readonly manifestDigest?: string;
  readonly uri?: string;
}

/** Inputs of {@link recordTrainingProvenance}. */
export interface TrainingProvenanceInput {
  /** The trained model directory (hashed; provenance files excluded). */
  readonly modelDir: string;
  readonly modelName?: string;
  readonly datasets: readonly DatasetInput[];
  /** Code version: an Antidote version string and/or a git commit. */
  readonly code: { readonly version: string; readonly gitCommit?: string; readonly uri?: string };
  readonly hyperparameters: { readonly [key: string]: JsonValue };
  readonly seed: number;
  readonly startedOn?: Date;
  readonly finishedOn?: Date;
  /** Builder id; default `https://antidote.dev/builder/local`. */
  readonly builderId?: string;
  /** Signs the statement into `antidote.provenance.sig` when given. */
  readonly privateKey?: KeyObject;
  /** Write the files into `modelDir` (default true). */
  readonly write?: boolean;
}

/** SLSA provenance v1 predicate as Antidote writes it. */
export interface SlsaProvenancePredicate {
  buildDefinition: {
    buildType: string;
    externalParameters: { [k: string]: JsonValue };
    internalParameters?: { [k: string]: JsonValue };
    resolvedDependencies: {
      name?: string;
      uri?: string;
      digest?: Record<string, string>;
      annotations?: { [k: string]: JsonValue };
    }[];
  };
  runDetails: {
    builder: { id: string; version?: Record<string, string> };
    metadata?: { invocationId?: string; startedOn?: string; finishedOn?: string };
  };
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const provenanceSchema = z.object({
  buildDefinition: z.object({
    buildType: z.string(),
    externalParameters: z.record(z.string(), z.unknown()),
    internalParameters: z.record(z.string(), z.unknown()).optional(),
    resolvedDependencies: z.array(
      z.object({
        name: z.string().optional(),
        uri: z.string().optional(),
        digest: z.record(z.string(), z.string()).optional(),
        annotations: z.record(z.string(), z.unknown()).optional(),
      }),
    ),
  }),
  runDetails: z.object({
    builder: z.object({ id: z.string(), version: z.record(z.string(), z.string()).optional() }),
    metadata: z
      .object({
        invocationId: z.string().optional(),
        startedOn: z.string().optional(),
        finishedOn: z.string().optional(),
      })
      .optional(),
  }),
});

/**
 * Records a training run as a SLSA provenance v1 in-toto statement: subject = the model (files
 * root digest), resolved dependencies = the dataset versions (root digest, record Merkle root)
 * and the code version, external parameters = hyperparameters and seed. Written to
 * `MODEL_DIR/antidote.provenance.json`, and signed into `antidote.provenance.sig` when a key is
 * given. Call it after the model files are written.
 */
export async function recordTrainingProvenance(input: TrainingProvenanceInput): Promise<{
  statement: InTotoStatement<SlsaProvenancePredicate>;
  modelDigest: string;
  signed: boolean;
}> {
  const manifest = await createManifest(
    input.modelDir,
    input.modelName ? { name: input.modelName } : {},
  );
  const deps: SlsaProvenancePredicate['buildDefinition']['resolvedDependencies'] =
    input.datasets.map((d) => ({
      name: `dataset:${d.version ?? d.name}`,
      uri: d.uri ?? `antidote:dataset/${d.version ?? d.name}`,
      digest: { sha256: d.rootDigest },
      annotations: {
        dataset: d.name,
        ...(d.version ? { version: d.version } : {}),
        ...(d.recordsRoot ? { recordsMerkleRoot: d.recordsRoot } : {}),
        ...(d.manifestDigest ? { manifestDigest: d.manifestDigest } : {}),
      },
    }));
  deps.push({
    name: 'code',
    uri: input.code.uri ?? `antidote:code/${input.code.version}`,
    ...(input.code.gitCommit ? { digest: { gitCommit: input.code.gitCommit } } : {}),
    annotations: { version: input.code.version },
  });
  const started = input.startedOn?.toISOString();
  const finished = input.finishedOn?.toISOString();
  const invocationId = createHash('sha256')
    .update(`${manifest.rootDigest}:${input.seed}:${started ?? ''}`)
    .digest('hex')
    .slice(0, 32);
  const statement: InTotoStatement<SlsaProvenancePredicate> = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: manifest.name, digest: { sha256: manifest.rootDigest } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: ANTIDOTE_TRAIN_BUILD_TYPE,
        externalParameters: {
          hyperparameters: input.hyperparameters,
          seed: input.seed,
          datasets: input.datasets.map((d) => d.version ?? d.name),
        },
        resolvedDependencies: deps,
      },
      runDetails: {
        builder: {
          id: input.builderId ?? 'https://antidote.dev/builder/local',
          version: { antidote: input.code.version },
        },
        metadata: {
          invocationId,
          ...(started ? { startedOn: started } : {}),
          ...(finished ? { finishedOn: finished } : {}),
        },
      },
    },
  };
  if (input.write !== false) {
    await writeFileAtomic(
      join(input.modelDir, PROVENANCE_FILE),
      `${JSON.stringify(statement, null, 2)}\n`,
    );
    if (input.privateKey) {
      const bundle = await signStatement(statement, input.privateKey);
      await writeFileAtomic(
        join(input.modelDir, PROVENANCE_SIGNATURE_FILE),
        `${JSON.stringify(bundle, null, 2)}\n`,
      );
    }
  }
  return { statement, modelDigest: manifest.rootDigest, signed: !!input.privateKey };
}

/** One dataset a model traces back to. */
export interface LineageDataset {
  readonly name: string;
  readonly version?: string;
  readonly rootDigest: string;
  readonly recordsRoot?: string;
  readonly manifestDigest?: string;
}

/** What {@link readLineage} finds. */
export interface Lineage {
  readonly statement: InTotoStatement<SlsaProvenancePredicate>;
  readonly modelDigest: string;
  /** The model directory still hashes to the provenance subject. */
  readonly modelMatches: boolean;
  /** `true` signature verified, `false` no signature or no key to check it with. */
  readonly signatureVerified: boolean;
  readonly signer?: string;
  readonly datasets: readonly LineageDataset[];
  readonly hyperparameters: unknown;
  readonly seed: unknown;
  readonly codeVersion?: string;
}

/**
 * Reads a model's provenance, re-hashes the model against its subject and, with `publicKey`,
 * verifies the signature (required when `requireSignature`). Returns the dataset versions it was
 * trained on.
 */
export async function readLineage(
  modelDir: string,
  options: { publicKey?: KeyObject; requireSignature?: boolean } = {},
): Promise<Lineage> {
  const path = join(modelDir, PROVENANCE_FILE);
  const sigPath = join(modelDir, PROVENANCE_SIGNATURE_FILE);
  let statement: InTotoStatement<SlsaProvenancePredicate>;
  let signatureVerified = false;
  let signer: string | undefined;
  if (options.publicKey && existsSync(sigPath)) {
    const bundle = parseBundle(await readFile(sigPath), sigPath);
    statement = verifyBundle(bundle, options.publicKey, {
      predicateType: SLSA_PROVENANCE_V1,
      where: sigPath,
    }) as unknown as InTotoStatement<SlsaProvenancePredicate>;
    signatureVerified = true;
    signer = keyFingerprint(options.publicKey);
  } else {
    if (options.requireSignature) {
      throw new AntidoteError(
        'SIGNATURE_INVALID',
        `${modelDir} has no signed provenance (${PROVENANCE_SIGNATURE_FILE})`,
        {
          path: sigPath,
        },
      );
    }
    const raw = await readJson(path, {
      message: (e) => `cannot read provenance ${path}: ${e.message}`,
    });
    const r = inTotoStatementSchema.safeParse(raw);
    if (!r.success || r.data.predicateType !== SLSA_PROVENANCE_V1) {
      throw new AntidoteError('INVALID_FORMAT', `${path} is not a SLSA provenance v1 statement`, {
        path,
      });
    }
    statement = r.data as unknown as InTotoStatement<SlsaProvenancePredicate>;
  }
  const predicate = parseWith(provenanceSchema, statement.predicate, path, {
    head: `${path}: predicate is not SLSA provenance v1`,
    omitField: true,
  });
  const subjectDigest = statement.subject[0]?.digest.sha256 ?? '';
  const manifest = await createManifest(modelDir);
  const datasets: LineageDataset[] = [];
  for (const d of predicate.buildDefinition.resolvedDependencies) {
    if (
      !d.name?.startsWith('dataset:') ||
      !d.digest?.sha256 ||
      !hex64.safeParse(d.digest.sha256).success
    )
      continue;
    const a = d.annotations ?? {};
    datasets.push({
      name: typeof a.dataset === 'string' ? a.dataset : d.name.slice(8),
      ...(typeof a.version === 'string' ? { version: a.version } : {}),
      rootDigest: d.digest.sha256,
      ...(typeof a.recordsMerkleRoot === 'string' ? { recordsRoot: a.recordsMerkleRoot } : {}),
      ...(typeof a.manifestDigest === 'string' ? { manifestDigest: a.manifestDigest } : {}),
    });
  }
  const code = predicate.buildDefinition.resolvedDependencies.find((d) => d.name === 'code');
  const ext = predicate.buildDefinition.externalParameters;
  return {
    statement,
    modelDigest: manifest.rootDigest,
    modelMatches: digestEquals(manifest.rootDigest, subjectDigest),
    signatureVerified,
    ...(signer ? { signer } : {}),
    datasets,
    hyperparameters: ext.hyperparameters,
    seed: ext.seed,
    ...(typeof code?.annotations?.version === 'string'
      ? { codeVersion: code.annotations.version }
      : {}),
  };
}
