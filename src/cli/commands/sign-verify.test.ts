import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { isAntidoteError } from '../../errors.js';
import { creditTable } from '../../testing/feature-data.js';
import { runJson } from '../../testing/run-program.js';
import { buildProgram } from '../program.js';

const REF = join(import.meta.dirname, '..', '..', 'integrity', 'fixtures', 'oms', 'reference');
const ONNX = join(import.meta.dirname, '..', '..', 'engine', 'onnx', 'fixtures');

/** Runs `antidote ARGS --json` with the commands these tests use. */
const run = async (...args: string[]) =>
  runJson((await buildProgram(['dataset', 'keys', 'sign', 'verify'])).exitOverride(), args);

/** A small tabular dataset; `flip` flips one label (a new version of the same dataset). */
function dataset(flip = false): Dataset {
  const ds = creditTable(12, 7);
  return flip ? { ...ds, y: Int32Array.from(ds.y, (v, i) => (i === 2 ? 1 - v : v)) } : ds;
}

describe('antidote sign / verify (OpenSSF model-signing v1.0)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-oms-cli-'));
    await cp(REF, join(root, 'ref'), { recursive: true });
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('verifies the reference tool signatures with its own flags', async () => {
    const d = (n: string) => join(root, 'ref', n);
    const key = join(root, 'ref', 'keys', 'signing-key-pub.pem');
    const ca = join(root, 'ref', 'keys', 'intermediate-ca.pem');
    const ec = await run(
      'verify',
      d('v1.1.0-elliptic-key'),
      '--signature',
      d('v1.1.0-elliptic-key/model.sig'),
      '--key',
      key,
      '--ignore-paths',
      d('v1.1.0-elliptic-key/ignore-me'),
    );
    expect(ec.err).toBeUndefined();
    expect([ec.out.ok, ec.out.method]).toEqual([true, 'key']);
    const single = await run(
      'verify',
      d('v1.0.0-elliptic-key/signme-1'),
      '--bundle',
      d('v1.0.0-elliptic-key/model.sig'),
      '--key',
      key,
    );
    expect(single.out.ok).toBe(true);
    const certVerify = (...more: string[]) =>
      run(
        'verify',
        d('v1.1.0-certificate'),
        '--signature',
        d('v1.1.0-certificate/model.sig'),
        ...more,
      );
    const cert = await certVerify('--certificate-chain', ca, '--ignore-paths', 'ignore-me');
    expect([cert.out.ok, cert.out.method]).toEqual([true, 'certificate']);
    const ss = [
      '--signature',
      d('v1.1.0-sigstore/model.sig'),
      '--trusted-root',
      join(root, 'ref', 'sigstore-public-good-trusted-root.json'),
      '--identity-provider',
      'https://sigstore.verify.ibm.com/oauth2',
      '--ignore-paths',
      'ignore-me',
    ];
    const keyless = await run(
      'verify',
      d('v1.1.0-sigstore'),
      ...ss,
      '--identity',
      'stefanb@us.ibm.com',
    );
    expect([keyless.out.ok, keyless.out.method, keyless.out.signer]).toEqual([
      true,
      'sigstore',
      'stefanb@us.ibm.com (https://sigstore.verify.ibm.com/oauth2)',
    ]);
    const other = await run(
      'verify',
      d('v1.1.0-sigstore'),
      ...ss,
      '--identity',
      'mallory@example.com',
    );
    expect(isAntidoteError(other.err, 'SIGNATURE_INVALID')).toBe(true);
    // ignore-me is recorded in the signature's ignore_paths: no flag needed. The wrong kind of
    // trust names the method; no trust at all is refused.
    const noIgnore = await certVerify('--certificate-chain', ca);
    expect(noIgnore.out.ok).toBe(true);
    const wrong = await certVerify('--key', key);
    expect((wrong.err as Error).message).toMatch(
      /certificate method, not with a key: verify it with --certificate-chain/,
    );
    const none = await certVerify();
    expect(isAntidoteError(none.err, 'INVALID_ARGUMENT')).toBe(true);
  });

  it('generates a P-256 key by default and signs a directory, a lone .onnx file and shards', async () => {
    const k = await run('keys', 'generate', '--out', join(root, 'alice'));
    expect(k.out.algorithm).toBe('p256');
    const pem = await readFile(join(root, 'alice.pub'), 'utf8');
    expect(pem).toMatch(/BEGIN PUBLIC KEY/);
    const model = join(root, 'model');
    await mkdir(model);
    await writeFile(join(model, 'weights.bin'), Buffer.alloc(5000, 3));
    await writeFile(join(model, 'antidote.provenance.json'), '{}');
    const s = await run(
      'sign',
      model,
      '--key',
      join(root, 'alice.key'),
      '--shard-size',
      '2048',
      '--hash',
      'blake2b',
    );
    expect(s.err).toBeUndefined();
    const v = await run('verify', model, '--key', join(root, 'alice.pub'));
    expect(v.out.ok).toBe(true);
    await writeFile(join(model, 'antidote.provenance.json'), '{"edited":true}');
    const bad = await run('verify', model, '--key', join(root, 'alice.pub'));
    expect(isAntidoteError(bad.err, 'INTEGRITY_MISMATCH')).toBe(true);
    expect(bad.out.problems.map((p: { path: string }) => p.path)).toEqual([
      'antidote.provenance.json',
    ]);

    // A lone ONNX file in a folder holding other files: signed alone with --signature.
    const folder = join(root, 'onnx');
    await mkdir(folder);
    await cp(join(ONNX, 'mlp.onnx'), join(folder, 'mlp.onnx'));
    await writeFile(join(folder, 'notes.txt'), 'not part of the model');
    const file = join(folder, 'mlp.onnx');
    const refused = await run('sign', file, '--key', join(root, 'alice.key'));
    expect((refused.err as Error).message).toMatch(/sign the file alone .*--signature/);
    const lone = await run(
      'sign',
      file,
      '--key',
      join(root, 'alice.key'),
      '--signature',
      `${file}.sig`,
    );
    expect(lone.out.bundle).toBe(`${file}.sig`);
    const ok = await run('verify', file, '--key', join(root, 'alice.pub'));
    expect([ok.out.ok, ok.err]).toEqual([true, undefined]);
    const bytes = await readFile(file);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(file, bytes);
    const changed = await run('verify', file, '--key', join(root, 'alice.pub'));
    expect((changed.err as Error).message).toMatch(
      /file mlp\.onnx does not match its signed digest/,
    );
  });

  it('warns when the signed dataset is not the newest catalogue version; --expect-version refuses it', async () => {
    const project = join(root, 'project');
    await mkdir(join(project, '.antidote'), { recursive: true });
    const ds = join(project, 'spam');
    await writeDatasetDir(ds, dataset());
    const P = ['--project', project];
    expect((await run('dataset', 'commit', ds, '-m', 'first', ...P)).out.version.id).toBe('spam@1');
    const signed = join(project, 'signed');
    await cp(ds, signed, { recursive: true });
    await run('sign', signed, '--key', join(root, 'alice.key'), ...P);
    await writeDatasetDir(ds, dataset(true), {}, { overwrite: true });
    expect((await run('dataset', 'commit', ds, '-m', 'flip', ...P)).out.version.id).toBe('spam@2');
    const verify = ['verify', signed, '--key', join(root, 'alice.pub'), ...P];
    const plain = await run(...verify);
    expect(plain.out.ok).toBe(true);
    expect(plain.out.warnings).toEqual([
      "the signed content is spam@1, but the catalogue's newest is spam@2: an older signature verifies on its own (a replay); pass --expect-version spam@2 to refuse it",
    ]);
    const strict = await run(...verify, '--expect-version', 'spam@2');
    expect(isAntidoteError(strict.err, 'INTEGRITY_MISMATCH')).toBe(true);
    expect((strict.err as Error).message).toMatch(/replayed or stale/);
  });
});
