import { createPublicKey, X509Certificate } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyModel } from './model-signing.js';
import type { BundleTrust } from './sigstore-bundle.js';

const REF = join(import.meta.dirname, 'fixtures', 'oms', 'reference');

async function trustOf(kind: string): Promise<BundleTrust> {
  if (kind === 'elliptic-key') {
    return {
      kind: 'key',
      keys: [createPublicKey(await readFile(join(REF, 'keys', 'signing-key-pub.pem')))],
    };
  }
  if (kind === 'certificate') {
    return {
      kind: 'certificate',
      anchors: [new X509Certificate(await readFile(join(REF, 'keys', 'intermediate-ca.pem')))],
    };
  }
  return {
    kind: 'sigstore',
    trustedRoot: JSON.parse(
      await readFile(join(REF, 'sigstore-public-good-trusted-root.json'), 'utf8'),
    ),
    identity: 'stefanb@us.ibm.com',
    issuer: 'https://sigstore.verify.ibm.com/oauth2',
  };
}

/** The reference tool's own test signatures (sigstore/model-transparency scripts/tests). */
const CASES = [
  { dir: 'v1.0.0-elliptic-key', model: 'signme-1', kind: 'elliptic-key', files: 1 },
  { dir: 'v1.0.1-elliptic-key', model: '', kind: 'elliptic-key', files: 2 },
  { dir: 'v1.1.0-elliptic-key', model: '', kind: 'elliptic-key', files: 2, ignore: ['ignore-me'] },
  { dir: 'v1.0.0-certificate', model: '', kind: 'certificate', files: 2 },
  { dir: 'v1.0.1-certificate', model: '', kind: 'certificate', files: 2 },
  { dir: 'v1.1.0-certificate', model: '', kind: 'certificate', files: 2, ignore: ['ignore-me'] },
  { dir: 'v1.1.0-sigstore', model: '', kind: 'sigstore', files: 2, ignore: ['ignore-me'] },
] as const;

describe('reference signatures of sigstore/model-transparency', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'antidote-oms-ref-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  for (const c of CASES) {
    it(`${c.dir} verifies, and fails naming the file after one byte changes`, async () => {
      const dir = join(work, c.dir);
      await cp(join(REF, c.dir), dir, { recursive: true });
      const model = c.model ? join(dir, c.model) : dir;
      const opts = {
        signaturePath: join(dir, 'model.sig'),
        ...('ignore' in c ? { ignorePaths: [...c.ignore] } : {}),
      };
      const trust = await trustOf(c.kind);
      const v = await verifyModel(model, trust, opts);
      expect(v.problems).toEqual([]);
      expect(v.ok).toBe(true);
      expect(v.statement.predicate.resources).toHaveLength(c.files);
      const victim = join(dir, 'signme-1');
      const bytes = await readFile(victim);
      bytes[0]! ^= 0x01;
      await writeFile(victim, bytes);
      const bad = await verifyModel(model, trust, opts);
      expect(bad.ok).toBe(false);
      expect(bad.problems.map((p) => p.message)).toEqual([
        'file signme-1 does not match its signed digest',
      ]);
    });
  }
});
