import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createManifest, manifestBytes } from '../integrity/manifest.js';
import { checkoutVersion, commitVersion, loadVersionManifest } from '../integrity/versioning.js';
import { postgresBackend, withSchema } from '../testing/catalogue-backends.js';
import { pgRoleFixture } from '../testing/pg-test-roles.js';
import { runCli } from '../testing/run-cli.js';
import { testServiceUrl } from '../testing/services.js';
import { Rng } from '../util/rng.js';
import { ModelRegistry } from './model-registry.js';
import { collectSharedGarbage } from './pg-object-gc.js';
import { PG_OBJECT_MAX_BYTES, PgObjectStore } from './pg-object-store.js';
import { grantCatalogueAccess } from './pg-roles.js';
import { SqlCatalogueStore } from './sql-store.js';

const url = testServiceUrl('postgres');
const MiB = 1024 * 1024;

/** `n` seeded pseudo-random bytes (incompressible, like a real payload). */
function bytes(n: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE(rng.nextUint32(), i);
  for (let i = n - (n % 4); i < n; i++) b[i] = rng.int(256);
  return b;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!url)('objects of any size in the shared store (services tier)', () => {
  const backend = postgresBackend(url ?? 'postgres://unused/');
  const roots: string[] = [];
  const stores: SqlCatalogueStore[] = [];
  afterAll(async () => {
    for (const s of stores) s.close();
    backend.cleanup();
    for (const r of roots) await rm(r, { recursive: true, force: true });
  });

  /** Two machines: two project folders on one fresh catalogue. */
  async function machines(
    n = 2,
  ): Promise<{ store: string; dirs: string[]; cats: SqlCatalogueStore[] }> {
    const store = backend.fresh() as string;
    const dirs: string[] = [];
    const cats: SqlCatalogueStore[] = [];
    for (let i = 0; i < n; i++) {
      const d = await mkdtemp(join(tmpdir(), `pg-obj-${i}-`));
      roots.push(d);
      dirs.push(d);
      const c = SqlCatalogueStore.open(d, { store });
      stores.push(c);
      cats.push(c);
    }
    return { store, dirs, cats };
  }

  /** Backdates every object and lease, as if `dataset gc --grace` had passed since. */
  function age(cat: SqlCatalogueStore): void {
    cat.db.exec(`
      UPDATE objects SET stored_at = now() - interval '2 hours';
      UPDATE large_objects SET stored_at = now() - interval '2 hours';
      UPDATE object_chunks SET stored_at = now() - interval '2 hours';
      UPDATE object_uses SET at = now() - interval '2 hours';`);
  }

  it('a 5 MiB dataset committed on machine A checks out byte-identically on machine B', async () => {
    const { dirs, cats } = await machines();
    const [a, b] = cats as [SqlCatalogueStore, SqlCatalogueStore];
    const data = join(dirs[0]!, 'ds');
    await mkdir(data);
    const payload = bytes(5 * MiB + 123, 1);
    await writeFile(join(data, 'x.bin'), payload);
    await writeFile(join(data, 'labels.txt'), 'small');
    const v = (await commitVersion(data, a, a.objects, { name: 'ds', message: 'm' })).version;
    // Nothing large is left on machine A's disk: the database holds it all.
    expect((await a.objects.inventory()).filter((f) => f.digest)).toEqual([]);
    const big = b.db.prepare('SELECT digest, bytes, chunks FROM large_objects').all() as {
      digest: string;
      bytes: number;
      chunks: number;
    }[];
    expect(big).toEqual([{ digest: sha(payload), bytes: payload.length, chunks: 6 }]);
    const out = join(dirs[1]!, 'checkout');
    await checkoutVersion(b.findVersion('dataset', 'ds')!, out, b.objects);
    expect((await readFile(join(out, 'x.bin'))).equals(payload)).toBe(true);
    expect(await readFile(join(out, 'labels.txt'), 'utf8')).toBe('small');
    expect((await loadVersionManifest(v, b.objects)).rootDigest).toBe(v.rootDigest);
    // Streamed reads hand out the chunks in order.
    const parts: Buffer[] = [];
    for await (const p of (b.objects as PgObjectStore).stream(sha(payload))) parts.push(p);
    expect(parts.map((p) => p.length)).toEqual([MiB, MiB, MiB, MiB, MiB, 123]);
    expect(Buffer.concat(parts).equals(payload)).toBe(true);
    // Committing the same content from machine B uploads nothing again.
    const again = join(dirs[1]!, 'ds');
    await mkdir(again);
    await writeFile(join(again, 'x.bin'), payload);
    await writeFile(join(again, 'labels.txt'), 'small');
    // (under another name, so that the files are looked up: they are leased, not sent)
    const same = await commitVersion(again, b, b.objects, { name: 'ds-b', message: 'again' });
    expect(same.created).toBe(true);
    expect(same.manifest.rootDigest).toBe(v.rootDigest);
    expect(b.db.prepare('SELECT COUNT(*) AS n FROM object_chunks').get()).toEqual({ n: 6 });
  });

  it('the CLI: dataset commit on machine A, dataset checkout on machine B (ANTIDOTE_STORE)', async () => {
    const store = backend.fresh() as string;
    const [a, b] = [
      await mkdtemp(join(tmpdir(), 'pg-cli-a-')),
      await mkdtemp(join(tmpdir(), 'pg-cli-b-')),
    ];
    roots.push(a, b);
    await mkdir(join(a, 'ds'));
    await mkdir(join(b, '.antidote')); // machine B's checkout of the project
    const payload = bytes(3 * MiB + 7, 13);
    await writeFile(join(a, 'ds', 'x.bin'), payload);
    // The built CLI, as a user runs it (this layer may not import the CLI's modules).
    const env = { env: { ANTIDOTE_STORE: store } };
    const c = runCli(
      ['dataset', 'commit', join(a, 'ds'), '-m', 'from A', '--project', a, '--json'],
      env,
    );
    expect(c.stderr).toBe('');
    expect(JSON.parse(c.stdout)).toMatchObject({ created: true, version: { id: 'ds@1' } });
    const o = runCli(['dataset', 'checkout', 'ds@1', join(b, 'out'), '--project', b], env);
    expect([o.code, o.stderr]).toEqual([0, '']);
    expect((await readFile(join(b, 'out', 'x.bin'))).equals(payload)).toBe(true);
  });

  it('refuses a tampered, a missing and an over-long chunk (INTEGRITY_MISMATCH), leaving no file', async () => {
    const { dirs, cats } = await machines(1);
    const cat = cats[0]!;
    const objects = new PgObjectStore(join(dirs[0]!, 'objects'), cat.db, {
      chunkBytes: 256 * 1024,
    });
    const payload = bytes(PG_OBJECT_MAX_BYTES + 5000, 2);
    const d = await objects.putBytes(payload);
    expect(d).toBe(sha(payload));
    expect((await objects.readBytes(d)).equals(payload)).toBe(true);
    const { upload } = cat.db
      .prepare('SELECT upload FROM large_objects WHERE digest = ?')
      .get(d) as {
      upload: string;
    };
    const dst = join(dirs[0]!, 'out.bin');
    const refused = async (why: RegExp) => {
      await expect(objects.copyOut(d, dst)).rejects.toMatchObject({
        code: 'INTEGRITY_MISMATCH',
        message: expect.stringMatching(why),
      });
      expect(existsSync(dst)).toBe(false);
      await expect(objects.readBytes(d)).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
    };
    // One flipped byte in the middle chunk.
    const chunk = cat.db
      .prepare('SELECT data FROM object_chunks WHERE upload = ? AND idx = 2')
      .get(upload) as { data: Buffer };
    const bad = Buffer.from(chunk.data);
    bad[100] = (bad[100]! + 1) % 256;
    cat.db
      .prepare('UPDATE object_chunks SET data = ? WHERE upload = ? AND idx = 2')
      .run(bad, upload);
    await refused(/digest differs/);
    // A stream never hands out the last chunk of a corrupted object.
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const p of objects.stream(d)) seen.push(p.length);
      })(),
    ).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
    expect(seen.reduce((s, n) => s + n, 0)).toBeLessThan(payload.length);
    // Restored, then a chunk removed, then a chunk one byte too long.
    cat.db
      .prepare('UPDATE object_chunks SET data = ? WHERE upload = ? AND idx = 2')
      .run(chunk.data, upload);
    await objects.copyOut(d, dst);
    expect((await readFile(dst)).equals(payload)).toBe(true);
    await rm(dst);
    cat.db.prepare('DELETE FROM object_chunks WHERE upload = ? AND idx = 4').run(upload);
    await refused(/chunk 4 of 5 is missing/);
    cat.db
      .prepare('INSERT INTO object_chunks (upload, idx, data) VALUES (?, 4, ?)')
      .run(upload, Buffer.concat([payload.subarray(4 * 256 * 1024), Buffer.from([0])]));
    await refused(/bytes instead of/);
    // A file that changed while it was committed is refused and leaves nothing published.
    const f = join(dirs[0]!, 'f.bin');
    await writeFile(f, bytes(2 * MiB, 3));
    await expect(objects.putFile(f, sha(bytes(2 * MiB, 4)))).rejects.toMatchObject({
      code: 'INTEGRITY_MISMATCH',
    });
    expect(cat.db.prepare('SELECT COUNT(*) AS n FROM large_objects').get()).toEqual({ n: 1 });
    expect(
      cat.db.prepare('SELECT COUNT(*) AS n FROM object_chunks WHERE upload <> ?').get(upload),
    ).toEqual({ n: 0 });
  });

  it("small objects go in the caller's transaction: rolled back with it, readable once committed", async () => {
    const { cats } = await machines(1);
    const objects = cats[0]!.objects;
    expect(objects.inCatalogue).toBe(true);
    const items = [bytes(100, 1), bytes(2000, 2)];
    expect(() =>
      cats[0]!.db.transaction(() => {
        objects.putAllBytesSync(items);
        throw new Error('abandon');
      }),
    ).toThrow('abandon');
    for (const b of items) expect(objects.has(sha(b))).toBe(false);
    const digests = cats[0]!.db.transaction(() => objects.putAllBytesSync(items));
    expect(digests).toEqual(items.map(sha));
    for (const b of items) expect(await objects.readBytes(sha(b))).toEqual(b);
    // An object over one row's size is chunked by putBytes, never put in a row here.
    expect(() => objects.putAllBytesSync([Buffer.alloc(PG_OBJECT_MAX_BYTES + 1)])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('concurrent puts of one object from several connections publish it once', async () => {
    const { dirs, cats } = await machines(3);
    const f = join(dirs[0]!, 'same.bin');
    const payload = bytes(3 * MiB + 17, 5);
    await writeFile(f, payload);
    // Each store reads its file asynchronously between chunks, so the uploads interleave.
    const stores = cats.map(
      (c, i) => new PgObjectStore(join(dirs[i]!, 'o'), c.db, { chunkBytes: 64 * 1024 }),
    );
    const digests = await Promise.all(stores.map((s) => s.putFile(f)));
    expect(new Set(digests)).toEqual(new Set([sha(payload)]));
    const db = cats[0]!.db;
    expect(db.prepare('SELECT COUNT(*) AS n FROM large_objects').get()).toEqual({ n: 1 });
    // The losers' duplicate chunks were removed (the owner may delete).
    expect(db.prepare('SELECT COUNT(*) AS n FROM object_chunks').get()).toEqual({
      n: Math.ceil(payload.length / (64 * 1024)),
    });
    for (const s of stores) expect((await s.readBytes(sha(payload))).equals(payload)).toBe(true);
  });

  it('concurrent puts of one object from several processes publish it once', async () => {
    const { store, dirs, cats } = await machines(1);
    const f = join(dirs[0]!, 'same.bin');
    const payload = bytes(6 * MiB, 6);
    await writeFile(f, payload);
    const { spawn } = await import('node:child_process');
    // The built library (`npm test` builds first), as the registration race suite does.
    const dist = new URL('../../dist/registry/index.js', import.meta.url).pathname;
    const script = `
      const { PgObjectStore, SqlCatalogueStore } = await import(${JSON.stringify(dist)});
      const cat = SqlCatalogueStore.open(process.argv[1], { store: process.argv[2] });
      const o = new PgObjectStore(process.argv[1] + '/o', cat.db, { chunkBytes: 256 * 1024 });
      process.stdout.write(await o.putFile(process.argv[3]));
      cat.close();`;
    const run = (i: number) =>
      new Promise<string>((res, rej) => {
        const p = spawn(
          process.execPath,
          ['--input-type=module', '-e', script, join(dirs[0]!, `p${i}`), store, f],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        let err = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (err += d));
        p.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`child ${code}: ${err}`))));
      });
    const digests = await Promise.all([0, 1, 2].map(run));
    expect(digests).toEqual([sha(payload), sha(payload), sha(payload)]);
    const db = cats[0]!.db;
    expect(db.prepare('SELECT COUNT(*) AS n FROM large_objects').get()).toEqual({ n: 1 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM object_chunks').get()).toEqual({ n: 24 });
    expect((await cats[0]!.objects.readBytes(sha(payload))).equals(payload)).toBe(true);
  }, 60_000);

  it('gc removes only what no version, registry entry or lineage references', async () => {
    const { store, dirs, cats } = await machines();
    const [a, b] = cats as [SqlCatalogueStore, SqlCatalogueStore];
    const objects = a.objects as PgObjectStore;
    const dir = async (name: string, files: Record<string, Buffer | string>) => {
      const d = join(dirs[0]!, name);
      await mkdir(d);
      for (const [f, c] of Object.entries(files)) await writeFile(join(d, f), c);
      return d;
    };
    const ds = await dir('ds', { 'keep.bin': bytes(2 * MiB, 7), 'keep.txt': 'kept' });
    const v1 = (await commitVersion(ds, a, objects, { name: 'ds', message: '1' })).version;
    /** Stores a directory's files and manifest without committing a version. */
    const stash = async (d: string) => {
      const m = await createManifest(d, { name: 'x' });
      for (const f of m.files) await objects.putFile(join(d, f.path), f.digest);
      return {
        digest: await objects.putBytes(manifestBytes(m)),
        files: m.files.map((f) => f.digest),
      };
    };
    // A model manifest a registry entry names, and a dataset manifest only its lineage names.
    const model = await stash(await dir('model', { 'w.bin': bytes(PG_OBJECT_MAX_BYTES + 9, 8) }));
    const lineage = await stash(await dir('train', { 't.txt': 'trained on' }));
    ModelRegistry.open(dirs[0]!, { store }).close(); // the registry's tables
    a.db
      .prepare(
        `INSERT INTO model_versions (id, name, seq, dir, manifest_digest, root_digest, info,
           registered_by, registered_at) VALUES ('m@1', 'm', 1, 'model', ?, ?, ?, 'ci', 'now')`,
      )
      .run(
        model.digest,
        'f'.repeat(64),
        JSON.stringify({
          signed: false,
          files: 1,
          bytes: 1,
          lineage: {
            modelMatches: true,
            datasets: [
              { name: 'train', rootDigest: 'e'.repeat(64), manifestDigest: lineage.digest },
            ],
          },
        }),
      );
    // Garbage: a large and a small object nobody references, and an abandoned upload.
    const lost = await objects.putBytes(bytes(3 * MiB, 9));
    const small = await objects.putBytes(Buffer.from('orphan'));
    const reused = await objects.putBytes(bytes(PG_OBJECT_MAX_BYTES + 1, 10));
    a.db
      .prepare("INSERT INTO object_chunks (upload, idx, data) VALUES ('dead', 0, ?)")
      .run(bytes(1000, 11));
    const referenced = 3 + 2 + 2; // v1 (manifest + 2 files), the model's, the lineage's
    // Within the grace period nothing goes, referenced or not.
    expect(collectSharedGarbage(a.db, objects)).toMatchObject({
      objects: 0,
      uploads: 0,
      kept: referenced,
      young: 3,
    });
    age(a);
    // A commit on machine B is about to reuse an old unreferenced object: its lease keeps it.
    expect(b.objects.has(reused)).toBe(true);
    // The CLI lists what it would remove (dry run), then removes it.
    const env = { env: { ANTIDOTE_STORE: store } };
    const dryRun = runCli(['dataset', 'gc', '--dry-run', '--project', dirs[0]!, '--json'], env);
    expect(dryRun.stderr).toBe('');
    const dry = JSON.parse(dryRun.stdout);
    expect(dry.shared).toMatchObject({
      dryRun: true,
      objects: 2,
      uploads: 1,
      kept: referenced,
      young: 1,
    });
    expect(dry.shared.removed.map((g: { digest: string }) => g.digest).sort()).toEqual(
      [lost, small].sort(),
    );
    const text = runCli(['dataset', 'gc', '--dry-run', '--project', dirs[0]!], env).stdout;
    expect(text).toMatch(/would remove 2 unreferenced object\(s\) and 1 abandoned upload/);
    expect(text).toContain(`  ${lost}  ${3 * MiB} bytes`);
    const real = runCli(['dataset', 'gc', '--project', dirs[0]!, '--json'], env);
    expect(real.stderr).toBe('');
    expect(JSON.parse(real.stdout).shared).toMatchObject({
      dryRun: false,
      objects: 2,
      uploads: 1,
      bytes: 3 * MiB + 'orphan'.length + 1000,
    });
    const count = (t: string) =>
      (a.db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
    // Left: v1's manifest and keep.txt, the two stashed manifests and t.txt (rows); keep.bin,
    // w.bin and the leased object (two 1 MiB chunks each).
    expect([count('objects'), count('large_objects'), count('object_chunks')]).toEqual([5, 3, 6]);
    expect(a.objects.has(lost) || a.objects.has(small)).toBe(false);
    // Everything referenced still reads, on the other machine too.
    const out = join(dirs[1]!, 'co');
    await checkoutVersion(b.findVersion('dataset', 'ds')!, out, b.objects);
    expect((await readFile(join(out, 'keep.bin'))).equals(bytes(2 * MiB, 7))).toBe(true);
    for (const d of [model.digest, ...model.files, lineage.digest, ...lineage.files]) {
      expect(sha(await b.objects.readBytes(d))).toBe(d);
    }
    expect(v1.id).toBe('ds@1');
  });

  it('gc removes nothing when a version’s manifest is missing', async () => {
    const { dirs, cats } = await machines(1);
    const cat = cats[0]!;
    const d = join(dirs[0]!, 'ds');
    await mkdir(d);
    await writeFile(join(d, 'a.txt'), 'a');
    const v = (await commitVersion(d, cat, cat.objects, { name: 'ds', message: 'm' })).version;
    await cat.objects.putBytes(Buffer.from('garbage'));
    age(cat);
    cat.db.prepare('DELETE FROM objects WHERE digest = ?').run(v.manifestDigest);
    expect(() => collectSharedGarbage(cat.db, cat.objects as PgObjectStore)).toThrow(
      expect.objectContaining({
        code: 'NOT_FOUND',
        message: expect.stringMatching(/nothing removed/),
      }),
    );
    expect(cat.db.prepare('SELECT COUNT(*) AS n FROM objects').get()).toEqual({ n: 2 });
  });

  describe('with a write role (a CI runner)', () => {
    const fx = pgRoleFixture(url ?? 'postgres://unused/');
    afterAll(() => fx.cleanup());

    it('commits a large dataset; its duplicate upload is left to the owner’s gc', async () => {
      const { store, root } = await fx.project('pg-obj-role-');
      ModelRegistry.open(root, { store }).close(); // the owner applies the migrations
      const password = 'pw_write_role';
      const { role, admin } = fx.role(store, 'ci', `LOGIN PASSWORD '${password}'`);
      grantCatalogueAccess(admin, role, 'write');
      const u = new URL(store);
      u.username = role;
      u.password = password;
      const ci = SqlCatalogueStore.open(root, { store: withSchema(u.href, admin.schema) });
      stores.push(ci);
      const ds = join(root, 'ds');
      await mkdir(ds);
      const payload = bytes(2 * MiB + 1, 12);
      await writeFile(join(ds, 'x.bin'), payload);
      const v = await commitVersion(ds, ci, ci.objects, { name: 'ds', message: 'ci' });
      expect(v.created).toBe(true);
      // A second upload of the same content loses the race and may not delete its chunks.
      expect(await ci.objects.putBytes(payload)).toBe(sha(payload));
      const n = (sql: string) => (admin.prepare(sql).get() as { n: number }).n;
      expect(n('SELECT COUNT(*) AS n FROM object_chunks')).toBe(6);
      // It cannot collect garbage either: DELETE is the owner's.
      expect(() =>
        collectSharedGarbage(ci.db, ci.objects as PgObjectStore, { graceMs: 0 }),
      ).toThrow(/permission denied/);
      admin.exec("UPDATE object_chunks SET stored_at = now() - interval '2 hours'");
      const owner = SqlCatalogueStore.open(root, { store });
      stores.push(owner);
      expect(collectSharedGarbage(owner.db, owner.objects as PgObjectStore)).toMatchObject({
        objects: 0,
        uploads: 1,
        bytes: payload.length,
      });
      expect(n('SELECT COUNT(*) AS n FROM object_chunks')).toBe(3);
      expect((await ci.objects.readBytes(sha(payload))).equals(payload)).toBe(true);
    });
  });
});
