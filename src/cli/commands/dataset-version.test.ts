import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { isAntidoteError } from '../../errors.js';
import { recordTrainingProvenance } from '../../integrity/index.js';
import { runJson } from '../../testing/run-program.js';
import { registerAuditLogCommand } from './audit-log.js';
import { registerCryptCommand } from './crypt.js';
import { registerDatasetVersionCommand } from './dataset-version.js';
import { registerKeysCommand } from './keys.js';
import { registerLineageCommand } from './lineage.js';
import { registerManifestCommand } from './manifest.js';
import { registerPolicyCommand } from './policy.js';
import { registerSignCommand } from './sign.js';
import { registerVerifyCommand } from './verify.js';

function program(): Command {
  const p = new Command('antidote').exitOverride();
  for (const r of [
    registerManifestCommand,
    registerDatasetVersionCommand,
    registerKeysCommand,
    registerSignCommand,
    registerVerifyCommand,
    registerCryptCommand,
    registerLineageCommand,
    registerAuditLogCommand,
    registerPolicyCommand,
  ]) {
    r(p);
  }
  return p;
}

/** Runs a command with --json; returns the parsed output, or the AntidoteError thrown. */
const run = (...args: string[]) => runJson(program(), args);

function dataset(flip = -1): Dataset {
  const n = 6;
  const x = new Float32Array(n * 2).map((_, i) => i / 10);
  const y = Int32Array.from({ length: n }, (_, i) => (i === flip ? 1 - (i % 2) : i % 2));
  return {
    x,
    shape: [n, 2],
    y,
    classes: ['ham', 'spam'],
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
    source: Array.from({ length: n }, (_, i) => (i < 3 ? 'feed-a' : 'feed-b')),
  };
}

describe('integrity CLI', () => {
  let root: string;
  let ds: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-cli-'));
    await mkdir(join(root, '.antidote'));
    ds = join(root, 'spam');
    await writeDatasetDir(ds, dataset());
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('generates keys with a 0600 private key', async () => {
    const { out } = await run('keys', 'generate', '--out', join(root, 'alice'));
    expect(out.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await stat(join(root, 'alice.key'))).mode & 0o777).toBe(0o600);
    await run('keys', 'generate', '--out', join(root, 'bob'));
  });

  it('commits, logs, diffs (label flip apart) and checks out dataset versions', async () => {
    const P = ['--project', root];
    const c1 = await run(
      'dataset',
      'commit',
      ds,
      '-m',
      'first',
      ...P,
      '--key',
      join(root, 'alice.key'),
    );
    expect(c1.out).toMatchObject({ created: true, version: { id: 'spam@1', recordCount: 6 } });
    const again = await run('dataset', 'commit', ds, '-m', 'again', ...P);
    expect(again.out.created).toBe(false);
    await writeDatasetDir(ds, dataset(4), {}, { overwrite: true });
    const c2 = await run('dataset', 'commit', ds, '-m', 'flip', ...P);
    expect(c2.out.version.id).toBe('spam@2');
    const log = await run('dataset', 'log', ...P);
    expect(log.out.map((v: { id: string }) => v.id)).toEqual(['spam@1', 'spam@2']);
    const d = await run('dataset', 'diff', 'spam@1', 'spam@2', ...P);
    expect(d.out.records.labelChanged).toEqual([
      { id: 'r4', from: 'ham', to: 'spam', featuresChanged: false },
    ]);
    expect(d.out.files.changed).toEqual(['data.npz']);
    const co = join(root, 'co');
    await run('dataset', 'checkout', 'spam@1', co, ...P);
    expect(existsSync(join(co, 'data.npz'))).toBe(true);
    const v = await run('manifest', 'verify', co);
    expect(v.out.ok).toBe(true);
    const md = await run('manifest', 'diff', co, ds);
    expect(md.out.records.labelChanged).toHaveLength(1);
  });

  it('signs and verifies, naming a flipped label and rejecting a replay', async () => {
    const signed = join(root, 'signed');
    await writeDatasetDir(signed, dataset());
    const s = await run('sign', signed, '--key', join(root, 'alice.key'), '--project', root);
    expect(s.err).toBeUndefined();
    const ok = await run('verify', signed, '--key', join(root, 'alice.pub'), '--project', root);
    expect(ok.out.ok).toBe(true);
    const wrong = await run('verify', signed, '--key', join(root, 'bob.pub'), '--project', root);
    expect(isAntidoteError(wrong.err, 'SIGNATURE_INVALID')).toBe(true);
    // The signed dataset is spam@1's content; the catalogue's latest is spam@2 → replay.
    const replay = await run(
      'verify',
      signed,
      '--key',
      join(root, 'alice.pub'),
      '--expect-version',
      'spam@2',
      '--project',
      root,
    );
    expect(isAntidoteError(replay.err, 'INTEGRITY_MISMATCH')).toBe(true);
    expect((replay.err as Error).message).toMatch(/replayed or stale/);
    const cur = await run(
      'verify',
      signed,
      '--key',
      join(root, 'alice.pub'),
      '--expect-version',
      'spam@1',
      '--project',
      root,
    );
    expect(cur.out.ok).toBe(true);
    // Flip a label behind the signature's back: data.npz changes and the record is named.
    const sig = await readFile(join(signed, 'antidote.sig'));
    const man = await readFile(join(signed, 'antidote.manifest.json'));
    await writeDatasetDir(signed, dataset(2), {}, { overwrite: true });
    await writeFile(join(signed, 'antidote.sig'), sig);
    await writeFile(join(signed, 'antidote.manifest.json'), man);
    const bad = await run('verify', signed, '--key', join(root, 'alice.pub'), '--project', root);
    expect(isAntidoteError(bad.err, 'INTEGRITY_MISMATCH')).toBe(true);
    expect(bad.out.problems.map((p: { message: string }) => p.message)).toEqual([
      'file data.npz does not match its signed digest',
      'record "r2" label changed from "ham" to "spam"',
    ]);
  });

  it('enforces an installed policy and audits allow and deny', async () => {
    const alice = (await run('keys', 'fingerprint', join(root, 'alice.pub'))).out.fingerprint;
    const policy = {
      version: 1,
      roles: { admin: ['keys:manage', 'dataset:read', 'dataset:write'], reader: ['dataset:read'] },
      principals: [{ name: 'alice', fingerprint: alice, roles: ['admin'] }],
    };
    await writeFile(join(root, 'policy.json'), JSON.stringify(policy));
    const set = await run('policy', 'set', join(root, 'policy.json'), '--project', root);
    expect(set.err).toBeUndefined();
    const denied = await run(
      'dataset',
      'commit',
      ds,
      '-m',
      'x',
      '--project',
      root,
      '--key',
      join(root, 'bob.key'),
    );
    expect(isAntidoteError(denied.err, 'PERMISSION_DENIED')).toBe(true);
    const anon = await run('dataset', 'log', '--project', root);
    expect(anon.err).toBeUndefined(); // log is read-only metadata
    const check = await run(
      'policy',
      'check',
      '--key',
      join(root, 'alice.key'),
      '--permission',
      'dataset:write',
      '--project',
      root,
    );
    expect(check.out.allowed).toBe(true);
    const log = await run('audit-log', 'show', '--project', root);
    const actions = log.out.map(
      (e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`,
    );
    expect(actions).toContain('dataset.commit:ok');
    expect(actions).toContain('authz.dataset:write:deny');
    const cp = await run(
      'audit-log',
      'checkpoint',
      '--key',
      join(root, 'alice.key'),
      '--project',
      root,
    );
    expect(cp.err).toBeUndefined();
    const v = await run('audit-log', 'verify', '--key', join(root, 'alice.pub'), '--project', root);
    expect(v.out).toMatchObject({ ok: true, checkpointsVerified: 1 });
  });

  it('encrypts, decrypts, rotates keys and refuses a wrong key', async () => {
    await run('keys', 'kek', join(root, 'k1'));
    await run('keys', 'kek', join(root, 'k2'));
    const plain = join(ds, 'data.npz');
    const enc = join(root, 'data.enc');
    await run('encrypt', plain, '-o', enc, '--key-file', join(root, 'k1'));
    await run('rekey', enc, '--old-key-file', join(root, 'k1'), '--new-key-file', join(root, 'k2'));
    const wrong = await run(
      'decrypt',
      enc,
      '-o',
      join(root, 'out.npz'),
      '--key-file',
      join(root, 'k1'),
    );
    expect(isAntidoteError(wrong.err, 'DECRYPTION_FAILED')).toBe(true);
    expect(existsSync(join(root, 'out.npz'))).toBe(false);
    await run('decrypt', enc, '-o', join(root, 'out.npz'), '--key-file', join(root, 'k2'));
    expect((await readFile(join(root, 'out.npz'))).equals(await readFile(plain))).toBe(true);
  });

  it('walks back from a model to its dataset versions and sources', async () => {
    const model = join(root, 'model');
    await mkdir(model);
    await writeFile(join(model, 'weights.bin'), 'w');
    const log = (await run('dataset', 'log', 'spam', '--project', root)).out;
    await recordTrainingProvenance({
      modelDir: model,
      datasets: [
        {
          name: 'spam',
          version: log[0].id,
          rootDigest: log[0].rootDigest,
          recordsRoot: log[0].recordsRoot,
        },
      ],
      code: { version: '0.1.0' },
      hyperparameters: { epochs: 1 },
      seed: 7,
    });
    const l = await run('lineage', model, '--project', root);
    expect(l.out.modelMatches).toBe(true);
    expect(l.out.datasets[0]).toMatchObject({
      version: 'spam@1',
      inCatalogue: true,
      catalogueMatches: true,
      sources: { 'feed-a': 3, 'feed-b': 3 },
    });
  });
  it('dataset gc removes leftovers of interrupted commits and keeps every version (issue 19, item 7)', async () => {
    const tmp = join(root, '.antidote', 'objects', 'tmp');
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, 'feedc0ffee000000.tmp'), Buffer.alloc(4096));
    const key = ['--key', join(root, 'alice.key')];
    // Under the installed policy, gc needs dataset:write.
    const anon = await run('dataset', 'gc', '--grace', '0', '--project', root);
    expect(isAntidoteError(anon.err, 'PERMISSION_DENIED')).toBe(true);
    const young = await run('dataset', 'gc', '--project', root, ...key);
    expect(young.out).toMatchObject({ temps: 0, young: expect.any(Number) });
    const r = await run('dataset', 'gc', '--grace', '0', '--project', root, ...key);
    expect(r.err).toBeUndefined();
    expect(r.out).toMatchObject({ temps: 1, dryRun: false });
    expect(r.out.kept).toBeGreaterThan(0);
    expect(existsSync(join(tmp, 'feedc0ffee000000.tmp'))).toBe(false);
    const log = await run('dataset', 'log', 'spam', '--project', root);
    expect(log.out.length).toBeGreaterThan(0);
    const bad = await run('dataset', 'gc', '--grace', '-1', '--project', root, ...key);
    expect(isAntidoteError(bad.err, 'INVALID_ARGUMENT')).toBe(true);
  });
});
