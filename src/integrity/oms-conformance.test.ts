import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { generateSigningKeyPair, type SigningAlgorithm } from './keys.js';
import { signModel, verifyModel } from './model-signing.js';
import { omsPredicateSchema } from './oms-manifest.js';
import {
  type BundleTrust,
  parseBundle,
  type SigstoreBundleJson,
  statementOf,
  verifyBundleSignature,
} from './sigstore-bundle.js';

const FIX = join(import.meta.dirname, 'fixtures', 'oms');
const PKI = join(FIX, 'test-pki');
type Json = unknown;
type Schema = Record<string, Json>;

/**
 * A minimal JSON Schema (draft 2020-12) validator for the keywords the OMS schemas use: type,
 * const, enum, pattern, minLength, minItems, maxItems, minProperties, exclusiveMinimum, required,
 * properties, additionalProperties, items, anyOf, if/then, $ref (local `#/$defs/...` and by $id).
 * Returns the list of violations (empty when valid).
 */
function validate(
  schema: Schema,
  value: Json,
  byId: Map<string, Schema>,
  root: Schema,
  at = '$',
): string[] {
  const errs: string[] = [];
  if (typeof schema.$ref === 'string') {
    const ref = schema.$ref;
    let target: Schema | undefined;
    let nextRoot = root;
    if (ref.startsWith('#/$defs/')) target = (root.$defs as Record<string, Schema>)[ref.slice(8)];
    else {
      target = byId.get(ref);
      if (target) nextRoot = target;
    }
    if (!target) return [`${at}: unresolved $ref ${ref}`];
    errs.push(...validate(target, value, byId, nextRoot, at));
  }
  const type = schema.type;
  const isType = (t: string): boolean =>
    t === 'object'
      ? value !== null && typeof value === 'object' && !Array.isArray(value)
      : t === 'array'
        ? Array.isArray(value)
        : t === 'integer'
          ? Number.isInteger(value)
          : t === 'null'
            ? value === null
            : typeof value === t;
  if (type !== undefined) {
    const types = Array.isArray(type) ? (type as string[]) : [type as string];
    if (!types.some(isType)) return [...errs, `${at}: not of type ${types.join('|')}`];
  }
  if ('const' in schema && value !== schema.const)
    errs.push(`${at}: not ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errs.push(`${at}: not in enum`);
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
      errs.push(`${at}: does not match ${schema.pattern}`);
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      errs.push(`${at}: too short`);
  }
  if (
    typeof value === 'number' &&
    typeof schema.exclusiveMinimum === 'number' &&
    !(value > schema.exclusiveMinimum)
  )
    errs.push(`${at}: not > ${schema.exclusiveMinimum}`);
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      errs.push(`${at}: fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems)
      errs.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.items)
      for (const [i, v] of value.entries()) {
        errs.push(...validate(schema.items as Schema, v, byId, root, `${at}[${i}]`));
      }
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, Json>;
    for (const k of (schema.required as string[] | undefined) ?? [])
      if (!(k in o)) errs.push(`${at}: missing ${k}`);
    if (typeof schema.minProperties === 'number' && Object.keys(o).length < schema.minProperties)
      errs.push(`${at}: too few properties`);
    const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const [k, v] of Object.entries(o)) {
      if (props[k]) errs.push(...validate(props[k], v, byId, root, `${at}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${at}: unexpected property ${k}`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        errs.push(...validate(schema.additionalProperties as Schema, v, byId, root, `${at}.${k}`));
      }
    }
  }
  if (Array.isArray(schema.anyOf)) {
    const ok = (schema.anyOf as Schema[]).some(
      (s) => validate(s, value, byId, root, at).length === 0,
    );
    if (!ok) errs.push(`${at}: matches none of anyOf`);
  }
  if (
    schema.if &&
    schema.then &&
    validate(schema.if as Schema, value, byId, root, at).length === 0
  ) {
    errs.push(...validate(schema.then as Schema, value, byId, root, at));
  }
  return errs;
}

async function loadSchemas(): Promise<{
  byId: Map<string, Schema>;
  bundle: Schema;
  statement: Schema;
}> {
  const byId = new Map<string, Schema>();
  const read = async (n: string) =>
    JSON.parse(await readFile(join(FIX, 'schemas', `${n}.schema.json`), 'utf8')) as Schema;
  for (const n of ['bundle', 'envelope', 'statement', 'predicate']) {
    const s = await read(n);
    byId.set(s.$id as string, s);
  }
  return {
    byId,
    bundle: byId.get('https://model_signing/bundle/v1.0/schema')!,
    statement: byId.get('https://model_signing/statement/v1.0/schema')!,
  };
}

/** Every OMS schema violation of a bundle and of its decoded statement. */
async function schemaErrors(bundle: SigstoreBundleJson | Json): Promise<string[]> {
  const { byId, bundle: b, statement: s } = await loadSchemas();
  const errs = validate(b, bundle, byId, b);
  const payload = (bundle as SigstoreBundleJson).dsseEnvelope?.payload;
  if (payload)
    errs.push(
      ...validate(
        s,
        JSON.parse(Buffer.from(payload, 'base64').toString('utf8')),
        byId,
        s,
        'statement',
      ),
    );
  return errs;
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(isAntidoteError(e), String(e)).toBe(true);
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const refKey = async () =>
  createPublicKey(await readFile(join(FIX, 'reference', 'keys', 'signing-key-pub.pem')));
const pem = (n: string) => readFile(join(PKI, n), 'utf8');

describe('the minimal JSON-schema validator', () => {
  it('catches what the schemas forbid', async () => {
    const good = JSON.parse(
      await readFile(join(FIX, 'test-vectors/v1.0/valid/key.bundle.json'), 'utf8'),
    );
    expect(await schemaErrors(good)).toEqual([]);
    const extra = { ...good, extra: 1 };
    expect(await schemaErrors(extra)).toContain('$: unexpected property extra');
    const noEnv = JSON.parse(
      await readFile(join(FIX, 'test-vectors/v1.0/invalid/missing-envelope.bundle.json'), 'utf8'),
    );
    expect(await schemaErrors(noEnv)).toContain('$: missing dsseEnvelope');
    const wrong = JSON.parse(
      await readFile(
        join(FIX, 'test-vectors/v1.0/invalid-payload/wrong-predicate.bundle.json'),
        'utf8',
      ),
    );
    expect((await schemaErrors(wrong)).join()).toMatch(/statement.predicateType: not/);
  });
});

describe('OMS v1.0 test vectors', () => {
  it('the valid key vector verifies with the reference key and fits the schemas', async () => {
    const text = await readFile(join(FIX, 'test-vectors/v1.0/valid/key.bundle.json'));
    const b = parseBundle(text, 'key.bundle.json');
    const sig = verifyBundleSignature(
      b,
      { kind: 'key', keys: [await refKey()] },
      'key.bundle.json',
    );
    const st = statementOf(sig.payload, { predicateType: 'https://model_signing/signature/v1.0' });
    expect(omsPredicateSchema.parse(st.predicate).resources.map((r) => r.name)).toEqual([
      'signme-1',
      'signme-2',
    ]);
  });

  const INVALID: [string, RegExp][] = [
    ['v1.0/invalid/missing-envelope.bundle.json', /no dsseEnvelope/],
    ['invalid/missing-tlog-entries.bundle.json', /without transparency-log entries/],
    ['invalid/missing-verification-material.bundle.json', /no verificationMaterial/],
  ];
  for (const [file, msg] of INVALID) {
    it(`rejects ${file} saying why`, async () => {
      const e = await rejection(async () =>
        parseBundle(await readFile(join(FIX, 'test-vectors', file)), file),
      );
      expect((e as { code?: string }).code).toBe('SIGNATURE_INVALID');
      expect(e.message).toMatch(msg);
    });
  }

  it('rejects v1.0/invalid-payload/wrong-predicate.bundle.json: signature and predicate type', async () => {
    const file = 'v1.0/invalid-payload/wrong-predicate.bundle.json';
    const text = await readFile(join(FIX, 'test-vectors', file));
    const b = parseBundle(text, file);
    const key = await refKey();
    const e = await rejection(() => verifyBundleSignature(b, { kind: 'key', keys: [key] }, file));
    expect((e as { code?: string }).code).toBe('SIGNATURE_INVALID');
    const p = await rejection(() =>
      statementOf(Buffer.from(b.dsseEnvelope.payload, 'base64'), {
        predicateType: 'https://model_signing/signature/v1.0',
        where: file,
      }),
    );
    expect(p.message).toMatch(/predicate type is https:\/\/example\.com\/wrong-predicate\/v1\.0/);
  });

  it('every invalid vector is refused by a full model verification', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'antidote-oms-vec-'));
    try {
      await writeFile(join(dir, 'signme-1'), 'signme-1\n');
      await writeFile(join(dir, 'signme-2'), 'signme-2');
      for (const f of [
        'v1.0/invalid/missing-envelope.bundle.json',
        'v1.0/invalid-payload/wrong-predicate.bundle.json',
        'invalid/missing-tlog-entries.bundle.json',
        'invalid/missing-verification-material.bundle.json',
      ]) {
        const e = await rejection(
          verifyModel(dir, await refKey(), { signaturePath: join(FIX, 'test-vectors', f) }),
        );
        expect((e as { code?: string }).code).toBe('SIGNATURE_INVALID');
      }
      // …while the valid vector verifies the same files (ignore-me is an ignored path).
      await writeFile(join(dir, 'ignore-me'), 'x');
      const ok = await verifyModel(dir, await refKey(), {
        signaturePath: join(FIX, 'test-vectors/v1.0/valid/key.bundle.json'),
      });
      expect(ok.problems).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sign → verify round trips', () => {
  let dir: string;
  let out: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'antidote-oms-rt-'));
    out = await mkdtemp(join(tmpdir(), 'antidote-oms-sig-'));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'weights.bin'), Buffer.alloc(3000, 7));
    await writeFile(join(dir, 'sub', 'config.json'), '{"layers":[]}');
    await writeFile(join(dir, 'empty'), '');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
  });

  const certTrust = async (): Promise<BundleTrust> => ({
    kind: 'certificate',
    anchors: [new X509Certificate(await pem('root-ca.pem'))],
  });
  const certChain = async () => [
    new X509Certificate(await pem('signer.pem')),
    new X509Certificate(await pem('intermediate-ca.pem')),
  ];

  const VARIANTS = [
    { method: 'key', alg: 'p256', shardSize: undefined, hashType: 'sha256' },
    { method: 'key', alg: 'p384', shardSize: 1024, hashType: 'sha256' },
    { method: 'key', alg: 'p521', shardSize: undefined, hashType: 'blake2b' },
    { method: 'certificate', alg: 'p256', shardSize: undefined, hashType: 'sha256' },
    { method: 'certificate', alg: 'p256', shardSize: 1000, hashType: 'blake2b' },
  ] as const;
  for (const v of VARIANTS) {
    const label = `${v.method} ${v.alg} ${v.shardSize ? `shards of ${v.shardSize}` : 'files'} ${v.hashType}`;
    it(`${label}: schema-valid, verifies, names a flipped byte, a missing and an extra file`, async () => {
      const pair = generateSigningKeyPair(v.alg as SigningAlgorithm);
      const priv =
        v.method === 'key'
          ? createPrivateKey(pair.privateKeyPem)
          : createPrivateKey(await pem('signer.key'));
      const trust: BundleTrust =
        v.method === 'key'
          ? { kind: 'key', keys: [createPublicKey(pair.publicKeyPem)] }
          : await certTrust();
      const signaturePath = join(out, 'model.sig');
      const s = await signModel(dir, priv, {
        signaturePath,
        hashType: v.hashType,
        ...(v.shardSize ? { shardSize: v.shardSize } : {}),
        ...(v.method === 'certificate' ? { certificateChain: await certChain() } : {}),
      });
      expect(await schemaErrors(JSON.parse(await readFile(signaturePath, 'utf8')))).toEqual([]);
      const names = s.statement.predicate.resources.map((r) => r.name);
      expect(names).toEqual(
        v.shardSize === 1024
          ? [
              'antidote.manifest.json:0:' + (names[0]!.split(':')[2] ?? ''),
              'sub/config.json:0:13',
              'weights.bin:0:1024',
              'weights.bin:1024:2048',
              'weights.bin:2048:3000',
            ]
          : v.shardSize === 1000
            ? [
                names[0]!,
                'sub/config.json:0:13',
                'weights.bin:0:1000',
                'weights.bin:1000:2000',
                'weights.bin:2000:3000',
              ]
            : ['antidote.manifest.json', 'empty', 'sub/config.json', 'weights.bin'],
      );
      const ok = await verifyModel(dir, trust, { signaturePath });
      expect(ok.problems).toEqual([]);
      expect(ok.method).toBe(v.method);
      const w = await readFile(join(dir, 'weights.bin'));
      w[2500]! ^= 0x80;
      await writeFile(join(dir, 'weights.bin'), w);
      await unlink(join(dir, 'sub', 'config.json'));
      await writeFile(join(dir, 'backdoor.py'), 'x');
      const bad = await verifyModel(dir, trust, { signaturePath });
      expect(bad.problems.map((p) => `${p.kind} ${'path' in p ? p.path : ''}`)).toEqual([
        'extra-file backdoor.py',
        'missing-file sub/config.json',
        'file-changed weights.bin',
      ]);
      if (v.shardSize) expect(bad.problems[2]!.message).toMatch(/bytes 2000:3000|bytes 2048:3000/);
    });
  }

  it('certificate method: refuses another CA, a non-code-signing leaf, an expired chain and a key bundle', async () => {
    const priv = createPrivateKey(await pem('signer.key'));
    const signaturePath = join(out, 'model.sig');
    await signModel(dir, priv, { signaturePath, certificateChain: await certChain() });
    const other: BundleTrust = {
      kind: 'certificate',
      anchors: [new X509Certificate(await pem('other-ca.pem'))],
    };
    expect((await rejection(verifyModel(dir, other, { signaturePath }))).message).toMatch(
      /does not chain to a trusted CA/,
    );
    const later: BundleTrust = {
      kind: 'certificate',
      anchors: [new X509Certificate(await pem('root-ca.pem'))],
      at: new Date('2200-01-01T00:00:00Z'),
    };
    expect((await rejection(verifyModel(dir, later, { signaturePath }))).message).toMatch(
      /is not valid at 2200/,
    );
    const key: BundleTrust = { kind: 'key', keys: [createPublicKey(priv)] };
    expect((await rejection(verifyModel(dir, key, { signaturePath }))).message).toMatch(
      /certificate method, not with a key/,
    );
    await signModel(dir, priv, {
      signaturePath,
      certificateChain: [
        new X509Certificate(await pem('signer-tls-only.pem')),
        new X509Certificate(await pem('intermediate-ca.pem')),
      ],
    });
    expect(
      (await rejection(verifyModel(dir, await certTrust(), { signaturePath }))).message,
    ).toMatch(/not for code signing/);
    // A chain whose leaf is not the signing key's certificate is refused at signing.
    const e = await rejection(
      signModel(dir, createPrivateKey(generateSigningKeyPair().privateKeyPem), {
        signaturePath,
        certificateChain: await certChain(),
      }),
    );
    expect(e.message).toMatch(/not for the signing key/);
  });

  it('hashes on worker threads with the same digests as on the calling thread', async () => {
    const { serializeModel, checkModel } = await import('./oms-manifest.js');
    const one = await serializeModel(dir, { shardSize: 700, threads: 1 });
    const two = await serializeModel(dir, { shardSize: 700, threads: 2 });
    expect(two.resources).toEqual(one.resources);
    const predicate = { resources: two.resources, serialization: two.serialization };
    expect((await checkModel(dir, predicate, { threads: 2 })).problems).toEqual([]);
    await writeFile(join(dir, 'weights.bin'), Buffer.alloc(3000, 9));
    expect(
      (await checkModel(dir, predicate, { threads: 2 })).problems.map((p) => p.message),
    ).toEqual([
      'file weights.bin does not match its signed digest (bytes 0:700, 700:1400, 1400:2100, ...)',
    ]);
  });

  it('a lone file: signs FILE.sig, verifies, names the file when it changes', async () => {
    const pair = generateSigningKeyPair();
    const file = join(dir, 'weights.bin');
    const s = await signModel(file, createPrivateKey(pair.privateKeyPem));
    expect(s.bundlePath).toBe(`${file}.sig`);
    expect(s.statement.predicate.resources.map((r) => r.name)).toEqual(['weights.bin']);
    expect(s.statement.subject[0]!.name).toBe('weights.bin');
    const pub = createPublicKey(pair.publicKeyPem);
    const v = await verifyModel(file, pub);
    expect([v.ok, v.kind]).toEqual([true, 'file']);
    await writeFile(file, Buffer.alloc(3000, 8));
    expect((await verifyModel(file, pub)).problems.map((p) => p.message)).toEqual([
      'file weights.bin does not match its signed digest',
    ]);
  });

  it('covers provenance, .antidote/ and the manifest; leaves out only the OMS list and the signature', async () => {
    const pair = generateSigningKeyPair();
    const pub = createPublicKey(pair.publicKeyPem);
    await writeFile(join(dir, 'antidote.provenance.json'), '{"p":1}');
    await writeFile(join(dir, 'antidote.provenance.sig'), '{"s":1}');
    await mkdir(join(dir, '.antidote'));
    await writeFile(join(dir, '.antidote', 'hidden.bin'), 'h');
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, '.git', 'HEAD'), 'ref');
    await writeFile(join(dir, '.gitignore'), '*.tmp');
    const s = await signModel(dir, createPrivateKey(pair.privateKeyPem));
    expect(s.statement.predicate.resources.map((r) => r.name)).toEqual([
      '.antidote/hidden.bin',
      'antidote.manifest.json',
      'antidote.provenance.json',
      'antidote.provenance.sig',
      'empty',
      'sub/config.json',
      'weights.bin',
    ]);
    expect(s.statement.predicate.serialization.ignore_paths).toEqual([
      '.git',
      '.gitattributes',
      '.github',
      '.gitignore',
      'antidote.sig',
    ]);
    expect((await verifyModel(dir, pub)).ok).toBe(true);
    await writeFile(join(dir, 'antidote.provenance.json'), '{"p":2}');
    await writeFile(join(dir, '.git', 'HEAD'), 'other');
    expect((await verifyModel(dir, pub)).problems.map((p) => p.message)).toEqual([
      'file antidote.provenance.json does not match its signed digest',
    ]);
    await unlink(join(dir, 'antidote.provenance.json'));
    await writeFile(join(dir, 'antidote.provenance.sig'), '{"forged":1}');
    await writeFile(join(dir, '.antidote', 'more.bin'), 'm');
    expect((await verifyModel(dir, pub)).problems.map((p) => p.message)).toEqual([
      'file .antidote/more.bin is not in the signed manifest',
      'file antidote.provenance.json is missing',
      'file antidote.provenance.sig does not match its signed digest',
    ]);
  });

  it('an Ed25519 key still signs and verifies, with a note that it is not OMS-conformant', async () => {
    const pair = generateSigningKeyPair('ed25519');
    const s = await signModel(dir, createPrivateKey(pair.privateKeyPem));
    expect(s.notes.join()).toMatch(/not OMS v1\.0-conformant/);
    const v = await verifyModel(dir, createPublicKey(pair.publicKeyPem));
    expect(v.ok).toBe(true);
    expect(v.notes.join()).toMatch(/Ed25519 key: valid, but not OMS v1\.0-conformant/);
  });

  it('refuses an empty model, a symbolic link and an unsupported hash type', async () => {
    const pair = generateSigningKeyPair();
    const priv = createPrivateKey(pair.privateKeyPem);
    const empty = join(out, 'empty-model');
    await mkdir(empty);
    expect(
      (
        await rejection(
          signModel(empty, priv, { writeManifest: false, signaturePath: join(out, 'e.sig') }),
        )
      ).message,
    ).toMatch(/no file to sign/);
    await cp(join(dir, 'weights.bin'), join(out, 'w.bin'));
    const { symlink } = await import('node:fs/promises');
    await symlink(join(out, 'w.bin'), join(dir, 'link.bin'));
    expect(
      (await rejection(signModel(dir, priv, { signaturePath: join(out, 'l.sig') }))).message,
    ).toMatch(/symbolic link/);
  });
});

describe('bundles written by earlier Antidote versions (Ed25519, pre-OMS layout)', () => {
  it('still verify, records included, with notes; a changed record is named', async () => {
    const work = await mkdtemp(join(tmpdir(), 'antidote-oms-legacy-'));
    try {
      const dir = join(work, 'dataset');
      await cp(join(FIX, 'legacy-ed25519', 'dataset'), dir, { recursive: true });
      const pub = createPublicKey(await readFile(join(FIX, 'legacy-ed25519', 'signer.pub')));
      const recs = (flip = false) =>
        ['a', 'b'].map((id, i) => ({
          id,
          features: new Float32Array([i, 2]),
          label: (i === 1) !== flip ? 'spam' : 'ham',
        }));
      const v = await verifyModel(dir, pub, { records: recs() });
      expect(v.problems).toEqual([]);
      expect(v.notes.join('\n')).toMatch(/Ed25519 key: valid, but not OMS v1\.0-conformant/);
      expect(v.notes.join('\n')).toMatch(/pre-OMS Antidote layout/);
      const bad = await verifyModel(dir, pub, { records: recs(true) });
      expect(bad.problems.map((p) => p.message)).toEqual([
        'record "a" label changed from "ham" to "spam"',
        'record "b" label changed from "spam" to "ham"',
      ]);
      await writeFile(join(dir, 'weights.bin'), Buffer.alloc(64, 6));
      expect((await verifyModel(dir, pub)).problems.map((p) => p.message)).toEqual([
        'file weights.bin does not match its signed digest',
      ]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
