import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isAntidoteError } from '../errors.js';
import { generateSigningKeyPair } from './keys.js';
import { readLineage, recordTrainingProvenance } from './lineage.js';
import { PROVENANCE_FILE, PROVENANCE_SIGNATURE_FILE } from './manifest.js';

describe('training provenance (SLSA v1)', () => {
  let dir: string;
  const pair = generateSigningKeyPair();
  const priv = createPrivateKey(pair.privateKeyPem);
  const pub = createPublicKey(pair.publicKeyPem);
  const ds = {
    name: 'mnist',
    version: 'mnist@2',
    rootDigest: 'ab'.repeat(32),
    recordsRoot: 'cd'.repeat(32),
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'antidote-lin-'));
    await writeFile(join(dir, 'weights.bin'), Buffer.alloc(64, 1));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('records datasets, code, hyperparameters and seed → model digest, and walks back', async () => {
    const r = await recordTrainingProvenance({
      modelDir: dir,
      modelName: 'cnn',
      datasets: [ds],
      code: { version: '0.1.0', gitCommit: 'a'.repeat(40) },
      hyperparameters: { epochs: 3, lr: 0.001 },
      seed: 42,
      startedOn: new Date(0),
      finishedOn: new Date(1000),
      privateKey: priv,
    });
    const s = JSON.parse(await readFile(join(dir, PROVENANCE_FILE), 'utf8'));
    const shape = z.object({
      _type: z.literal('https://in-toto.io/Statement/v1'),
      subject: z.array(
        z.object({
          name: z.literal('cnn'),
          digest: z.object({ sha256: z.literal(r.modelDigest) }),
        }),
      ),
      predicateType: z.literal('https://slsa.dev/provenance/v1'),
      predicate: z.object({
        buildDefinition: z.object({
          buildType: z.string().url(),
          externalParameters: z.object({
            seed: z.literal(42),
            hyperparameters: z.object({ epochs: z.literal(3) }),
          }),
          resolvedDependencies: z.array(
            z.object({ uri: z.string(), digest: z.record(z.string(), z.string()) }),
          ),
        }),
        runDetails: z.object({
          builder: z.object({ id: z.string() }),
          metadata: z.object({ startedOn: z.string() }),
        }),
      }),
    });
    expect(shape.safeParse(s).success).toBe(true);
    const l = await readLineage(dir, { publicKey: pub, requireSignature: true });
    expect(l).toMatchObject({
      modelMatches: true,
      signatureVerified: true,
      seed: 42,
      codeVersion: '0.1.0',
    });
    expect(l.datasets).toEqual([
      { name: 'mnist', version: 'mnist@2', rootDigest: ds.rootDigest, recordsRoot: ds.recordsRoot },
    ]);
  });

  it('notices a changed model and a tampered provenance', async () => {
    await recordTrainingProvenance({
      modelDir: dir,
      datasets: [ds],
      code: { version: '0.1.0' },
      hyperparameters: {},
      seed: 1,
      privateKey: priv,
    });
    await writeFile(join(dir, 'weights.bin'), Buffer.alloc(64, 2));
    expect((await readLineage(dir, { publicKey: pub })).modelMatches).toBe(false);
    const sig = JSON.parse(await readFile(join(dir, PROVENANCE_SIGNATURE_FILE), 'utf8'));
    const payload = JSON.parse(Buffer.from(sig.dsseEnvelope.payload, 'base64').toString());
    payload.predicate.buildDefinition.externalParameters.seed = 2;
    sig.dsseEnvelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    await writeFile(join(dir, PROVENANCE_SIGNATURE_FILE), JSON.stringify(sig));
    let err: unknown;
    try {
      await readLineage(dir, { publicKey: pub });
    } catch (e) {
      err = e;
    }
    expect(isAntidoteError(err, 'SIGNATURE_INVALID')).toBe(true);
  });
});
