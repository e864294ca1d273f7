import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isAntidoteError } from '../errors.js';
import { generateSigningKeyPair } from './keys.js';
import { MANIFEST_FILE, SIGNATURE_FILE } from './manifest.js';
import { modelSigningPredicateSchema, signDirectory, verifyDirectory } from './model-signing.js';
import type { RecordInput } from './record-hash.js';

const recs = (over: Record<string, Partial<RecordInput>> = {}): RecordInput[] =>
  ['a', 'b', 'c', 'd'].map((id, i) => ({
    id,
    features: new Float32Array([i, 1 - i]),
    label: i % 2 ? 'spam' : 'ham',
    ...over[id],
  }));

async function rejects(p: Promise<unknown>, code: string, msg?: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isAntidoteError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  if (msg) expect((err as Error).message).toMatch(msg);
}

describe('signDirectory / verifyDirectory', () => {
  let dir: string;
  const pair = generateSigningKeyPair();
  const priv = createPrivateKey(pair.privateKeyPem);
  const pub = createPublicKey(pair.publicKeyPem);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'antidote-sign-'));
    await writeFile(join(dir, 'weights.bin'), Buffer.alloc(1000, 7));
    await writeFile(join(dir, 'model.json'), '{"layers":[]}');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes an in-toto v1 statement in the model-signing v1.0 shape', async () => {
    const { bundle } = await signDirectory(dir, priv, { name: 'm', records: recs() });
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
    const shape = z.strictObject({
      _type: z.literal('https://in-toto.io/Statement/v1'),
      subject: z
        .array(
          z.strictObject({ name: z.literal('m'), digest: z.strictObject({ sha256: z.string() }) }),
        )
        .length(1),
      predicateType: z.literal('https://model_signing/signature/v1.0'),
      predicate: modelSigningPredicateSchema,
    });
    const s = shape.parse(statement);
    // Every file, Antidote's manifest (which carries the record digests) included.
    expect(s.predicate.resources.map((r) => r.name)).toEqual([
      MANIFEST_FILE,
      'model.json',
      'weights.bin',
    ]);
    expect(s.predicate).not.toHaveProperty('antidote');
    // Root digest = SHA-256 over the raw resource digests, in order (model-signing v1.0).
    const h = createHash('sha256');
    for (const r of s.predicate.resources) h.update(Buffer.from(r.digest, 'hex'));
    expect(s.subject[0]!.digest.sha256).toBe(h.digest('hex'));
    expect(s.predicate.serialization.ignore_paths).toContain(SIGNATURE_FILE);
    const v = await verifyDirectory(dir, pub, { records: recs() });
    expect(v.problems).toEqual([]);
  });

  it('names a flipped byte in a file, a missing file and an extra file', async () => {
    await signDirectory(dir, priv);
    const w = await readFile(join(dir, 'weights.bin'));
    w[500]! ^= 0x80;
    await writeFile(join(dir, 'weights.bin'), w);
    let v = await verifyDirectory(dir, pub);
    expect(v.problems.map((p) => p.message)).toEqual([
      'file weights.bin does not match its signed digest',
    ]);
    await unlink(join(dir, 'model.json'));
    await writeFile(join(dir, 'backdoor.py'), 'x');
    v = await verifyDirectory(dir, pub);
    expect(v.problems.map((p) => p.kind).sort()).toEqual([
      'extra-file',
      'file-changed',
      'missing-file',
    ]);
    expect(v.problems.find((p) => p.kind === 'extra-file')).toMatchObject({ path: 'backdoor.py' });
  });

  it('names a changed record and a flipped label', async () => {
    await signDirectory(dir, priv, { records: recs() });
    const v = await verifyDirectory(dir, pub, {
      records: recs({ b: { label: 'ham' }, d: { features: new Float32Array([3, -2.0001]) } }),
    });
    expect(v.problems.map((p) => p.message)).toEqual([
      'record "b" label changed from "spam" to "ham"',
      'record "d" features changed',
    ]);
  });

  it('catches a flipped byte in the manifest and in the signature', async () => {
    await signDirectory(dir, priv, { records: recs() });
    const mPath = join(dir, MANIFEST_FILE);
    const m = await readFile(mPath, 'utf8');
    await writeFile(mPath, m.replace('"ham"', '"spam"'));
    const v = await verifyDirectory(dir, pub);
    expect(v.problems.map((p) => p.message)).toEqual([
      `file ${MANIFEST_FILE} does not match its signed digest`,
    ]);
    await writeFile(mPath, m);

    const sPath = join(dir, SIGNATURE_FILE);
    const b = JSON.parse(await readFile(sPath, 'utf8'));
    const sig = Buffer.from(b.dsseEnvelope.signatures[0].sig, 'base64');
    sig[0]! ^= 1;
    b.dsseEnvelope.signatures[0].sig = sig.toString('base64');
    await writeFile(sPath, JSON.stringify(b));
    await rejects(verifyDirectory(dir, pub), 'SIGNATURE_INVALID', /does not verify/);
  });

  it('rejects a wrong key and a missing signature', async () => {
    await signDirectory(dir, priv);
    const other = createPublicKey(generateSigningKeyPair().publicKeyPem);
    await rejects(verifyDirectory(dir, other), 'SIGNATURE_INVALID', /signed by key/);
    await unlink(join(dir, SIGNATURE_FILE));
    await rejects(verifyDirectory(dir, pub), 'NOT_FOUND');
  });

  it('rejects a replayed older signed manifest when the expected version is known', async () => {
    // v1 signed, then the data changes and v2 is signed.
    const old = await signDirectory(dir, priv, { records: recs() });
    const oldSig = await readFile(join(dir, SIGNATURE_FILE));
    const oldManifest = await readFile(join(dir, MANIFEST_FILE));
    const oldWeights = await readFile(join(dir, 'weights.bin'));
    await writeFile(join(dir, 'weights.bin'), Buffer.alloc(1000, 8));
    const cur = await signDirectory(dir, priv, { records: recs({ a: { label: 'spam' } }) });
    // The attacker restores the old data together with its (valid) old signature.
    await writeFile(join(dir, 'weights.bin'), oldWeights);
    await writeFile(join(dir, SIGNATURE_FILE), oldSig);
    await writeFile(join(dir, MANIFEST_FILE), oldManifest);
    const plain = await verifyDirectory(dir, pub);
    expect(plain.ok).toBe(true); // a valid signature on its own…
    expect(old.manifest.rootDigest).not.toBe(cur.manifest.rootDigest);
    await rejects(
      verifyDirectory(dir, pub, { expected: { rootDigest: cur.manifest.rootDigest } }),
      'INTEGRITY_MISMATCH',
      /replayed or stale/,
    );
    await rejects(
      verifyDirectory(dir, pub, { expected: { recordsRoot: cur.manifest.records!.merkleRoot } }),
      'INTEGRITY_MISMATCH',
      /replayed or stale/,
    );
  });
});
