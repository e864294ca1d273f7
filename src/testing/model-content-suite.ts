import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/load.js';
import { loadModel } from '../engine/model.js';
import { manifestDigest } from '../integrity/manifest.js';
import { collectGarbage } from '../integrity/versioning.js';
import { Deployment, loadRegisteredVersion } from '../registry/deployment.js';
import { runGate } from '../registry/gate.js';
import { registeredModelObjects, writeModelContent } from '../registry/model-content.js';
import { modelManifest } from '../registry/model-manifest.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { parseMonitorConfig } from '../registry/monitor.js';
import { collectSharedGarbage, referencedObjects } from '../registry/pg-object-gc.js';
import { PgObjectStore } from '../registry/pg-object-store.js';
import type { CatalogueBackend } from './catalogue-backends.js';
import { gatePolicyFile } from './gate-policy-file.js';
import { copyOnnxFixture } from './onnx-fixtures.js';

/** Every file under `dir` (relative paths, sorted) with its bytes. */
async function filesOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    out[p.slice(dir.length + 1)] = (await readFile(p)).toString('base64');
  }
  return out;
}

/**
 * A registered model's content in the catalogue's object store (issue 22), run against one
 * backend: machine A registers, machine B (on PostgreSQL a second project folder on the same
 * catalogue URL; on SQLite the same project after the model's folder left the disk) pulls it
 * byte-identically, gates and serves it from the cache, and refuses tampered content.
 * `model-content.test.ts` runs it on SQLite, `model-content.services.test.ts` on PostgreSQL.
 */
export function modelContentSuite(backend: CatalogueBackend): void {
  describe(`registered model content on ${backend.name}`, () => {
    let root: string;
    let store: string;
    let a: ModelRegistry;
    const opened: ModelRegistry[] = [];
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'antidote-content-'));
      store = backend.fresh() ?? 'sqlite';
      await mkdir(join(root, 'a', 'models'), { recursive: true });
      a = ModelRegistry.open(join(root, 'a'), { store });
      opened.push(a);
    });
    afterEach(async () => {
      for (const r of opened.splice(0)) r.close();
      await rm(root, { recursive: true, force: true });
    });
    afterAll(() => backend.cleanup());

    /**
     * The registry as machine B sees it: a second project on the same catalogue (PostgreSQL);
     * on SQLite, whose catalogue lives in the project, the same project with `.antidote/` only
     * (the models' folders moved off the disk).
     */
    async function machineB(): Promise<ModelRegistry> {
      if (backend.name === 'postgres') {
        await mkdir(join(root, 'b'), { recursive: true });
        const b = ModelRegistry.open(join(root, 'b'), { store });
        opened.push(b);
        return b;
      }
      await rename(join(root, 'a', 'models'), join(root, 'elsewhere'));
      const b = ModelRegistry.open(join(root, 'a'), { store });
      opened.push(b);
      return b;
    }

    /** A model folder with a file of several chunks, a nested file and a signature beside. */
    async function modelDir(name: string, big: Buffer): Promise<string> {
      const d = join(root, 'a', 'models', name);
      await mkdir(join(d, 'sub'), { recursive: true });
      await writeFile(join(d, 'weights.bin'), big);
      await writeFile(join(d, 'sub', 'config.json'), `{"name":"${name}"}`);
      await writeFile(join(d, 'antidote.sig'), 'a signature bundle stand-in');
      return d;
    }

    it('stores the files on register; another machine pulls them byte-identically', async () => {
      const big = randomBytes(2_500_000);
      const dir = await modelDir('m1', big);
      const original = await filesOf(dir);
      const v = (await a.register(dir, { name: 'm', actor: 'ci' })).version;
      expect(v.info.content).toMatchObject({
        stored: true,
        extras: { 'antidote.sig': expect.any(String) },
      });
      const b = await machineB();
      expect(existsSync(b.get('m@1').dir)).toBe(false);
      // name@stage resolves to the newest version in the stage.
      const byStage = b.get('m@candidate');
      expect(byStage.id).toBe('m@1');
      const out = join(root, 'pulled');
      const w = await writeModelContent(b.store.objects, byStage, out);
      expect(w).toEqual({ path: out, files: 2, bytes: big.length + '{"name":"m1"}'.length });
      expect(await filesOf(out)).toEqual(original);
      // An existing folder is replaced only when asked.
      await expect(writeModelContent(b.store.objects, byStage, out)).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
      });
      await writeFile(join(out, 'stray.txt'), 'x');
      await writeModelContent(b.store.objects, byStage, out, { overwrite: true });
      expect(await filesOf(out)).toEqual(original);
    });

    it('stores nothing for a registration the access policy denies', async () => {
      const big = randomBytes(1_500_000);
      const dir = await modelDir('m1', big);
      const policy = {
        roles: { releaser: ['model:register' as const] },
        principals: [{ name: 'ci', fingerprint: 'a'.repeat(64), roles: ['releaser'] }],
      };
      await expect(
        a.register(dir, { name: 'm', actor: 'b'.repeat(64), policy }),
      ).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      const digest = createHash('sha256').update(big).digest('hex');
      expect(a.store.objects.has(digest)).toBe(false);
      expect(a.list('m')).toEqual([]);
      // The permitted principal's registration stores it.
      await a.register(dir, { name: 'm', actor: 'a'.repeat(64), policy });
      expect(a.store.objects.has(digest)).toBe(true);
    });

    it('refuses a tampered object: INTEGRITY_MISMATCH and no output', async () => {
      const big = randomBytes(2_500_000);
      const v = (await a.register(await modelDir('m1', big), { name: 'm' })).version;
      const b = await machineB();
      const digest = createHash('sha256').update(big).digest('hex');
      if (b.store.objects instanceof PgObjectStore) {
        // One altered chunk (same length) of the large object.
        const n = b.store.db
          .prepare(
            `UPDATE object_chunks SET data = ? WHERE idx = 1
             AND upload = (SELECT upload FROM large_objects WHERE digest = ?)`,
          )
          .run(randomBytes(1024 * 1024), digest).changes;
        expect(n).toBe(1);
      } else {
        const p = b.store.objects.pathOf(digest);
        const bytes = await readFile(p);
        bytes[1_500_000] = (bytes[1_500_000] ?? 0) ^ 0xff;
        await chmod(p, 0o644);
        await writeFile(p, bytes);
      }
      const out = join(root, 'pulled');
      await expect(writeModelContent(b.store.objects, b.get(v.id), out)).rejects.toMatchObject({
        code: 'INTEGRITY_MISMATCH',
      });
      expect(existsSync(out)).toBe(false);
      expect((await readdir(root)).filter((f) => f.includes('pulled'))).toEqual([]);
      await expect(b.local(b.get(v.id))).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
    });

    it('gates, promotes and serves from the cache on another machine', async () => {
      const path = await copyOnnxFixture(join(root, 'a', 'models', 'cnn'), 'cnn');
      const v = (await a.register(path, { name: 'digits', actor: 'ci' })).version;
      const test = (await loadDataset('mnist:test:40')).dataset;
      const original = await loadModel(path);
      const expected = await original.predict(test);
      original.dispose();
      const b = await machineB();
      const here = await b.local(b.get('digits@1'));
      expect(here.dir).toBe(
        join(b.store.projectDir, '.antidote', 'models', v.manifestDigest, 'cnn.onnx'),
      );
      const policy = await gatePolicyFile(root, {
        version: 1,
        accuracy: { testSet: 'mnist:test:40', min: 0.5 },
      });
      const g = await runGate(b, 'digits@1', policy, { actor: 'ci-b' });
      expect(g.checks.map((c) => [c.name, c.passed])).toEqual([['accuracy', true]]);
      expect((await b.promote('digits@1', { actor: 'ci-b' })).stage).toBe('production');
      const d = await Deployment.start(b, 'digits', {
        reference: test,
        monitor: parseMonitorConfig({}),
        seed: 1,
        monitoring: false,
      });
      try {
        const p = await d.predict(test.x, test.y.length);
        expect(p.version).toBe('digits@1');
        expect(Array.from(p.predictions)).toEqual(Array.from(expected));
      } finally {
        await d.close();
      }
      // A changed cached copy is not loaded: it is fetched again, verified.
      await chmod(here.dir, 0o644);
      await writeFile(here.dir, 'tampered');
      const again = await b.local(b.get('digits@production'));
      const m = await loadRegisteredVersion(again);
      m.dispose();
    });

    it('a version registered before its content was stored: NOT_FOUND saying what to do', async () => {
      await a.register(await modelDir('m1', randomBytes(100)), { name: 'm' });
      const b = await machineB();
      // Versions are immutable in the catalogue: the row of an earlier release, as read.
      const { content: _, ...info } = b.get('m@1').info;
      const old = { ...b.get('m@1'), info };
      await expect(b.local(old)).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringMatching(/register the model again.*or pull it on the machine/),
      });
      await expect(writeModelContent(b.store.objects, old, join(root, 'o'))).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      // Registering the same files again gives a version that carries them: a row written by an
      // earlier release (no content recorded), then the same model registered.
      const dir = await modelDir('m2', randomBytes(100));
      const m = await modelManifest(dir);
      b.store.db
        .prepare(
          `INSERT INTO model_versions (id, name, seq, dir, manifest_digest, root_digest, info,
             registered_by, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          'old@1',
          'old',
          1,
          dir,
          manifestDigest(m),
          m.rootDigest,
          '{"signed":false,"files":3,"bytes":1}',
          'x',
          'now',
        );
      b.store.db
        .prepare(
          'INSERT INTO model_stages (version_id, name, stage, updated_at) VALUES (?, ?, ?, ?)',
        )
        .run('old@1', 'old', 'candidate', 'now');
      const again = await b.register(dir, { name: 'old' });
      expect(again).toMatchObject({
        created: true,
        version: { id: 'old@2', info: { content: { stored: true } } },
      });
      expect(await b.register(dir, { name: 'old' })).toMatchObject({
        created: false,
        version: { id: 'old@2' },
      });
    });

    it("dataset gc keeps the registered models' objects (and only those)", async () => {
      const big = randomBytes(1_500_000);
      const v = (await a.register(await modelDir('m1', big), { name: 'm' })).version;
      // Identical files are stored once: a second model shares weights.bin and antidote.sig.
      const count = async () =>
        a.store.objects instanceof PgObjectStore
          ? Number(
              (
                a.store.db
                  .prepare(
                    'SELECT (SELECT COUNT(*) FROM objects) + (SELECT COUNT(*) FROM large_objects) AS n',
                  )
                  .get() as { n: number }
              ).n,
            )
          : (await a.store.objects.inventory()).filter((o) => o.digest).length;
      const before = await count();
      await writeFile(join(root, 'a', 'models', 'm1', 'sub', 'config.json'), '{"v":2}');
      await a.register(join(root, 'a', 'models', 'm1'), { name: 'm' });
      expect((await count()) - before).toBe(2); // the new config.json and the new manifest
      const garbage = await a.store.objects.putBytes(randomBytes(64));
      const grace = { graceMs: 0 };
      if (a.store.objects instanceof PgObjectStore) {
        const kept = referencedObjects(a.store.db, a.store.objects);
        expect(kept.has(v.manifestDigest)).toBe(true);
        const r = collectSharedGarbage(a.store.db, a.store.objects, grace);
        expect(r.removed.map((g) => g.digest)).toEqual([garbage]);
      } else {
        const r = await collectGarbage(a.store, a.store.objects, {
          ...grace,
          referenced: await registeredModelObjects(a.store.db, a.store.objects),
        });
        expect(r.objects).toBe(1);
        expect(a.store.objects.has(garbage)).toBe(false);
      }
      const b = await machineB();
      for (const ref of ['m@1', 'm@2']) {
        const out = join(root, `pulled-${ref}`);
        await writeModelContent(b.store.objects, b.get(ref), out);
        expect((await readFile(join(out, 'weights.bin'))).equals(big)).toBe(true);
        expect(await readFile(join(out, 'antidote.sig'), 'utf8')).toBe(
          'a signature bundle stand-in',
        );
      }
    });
  });
}
