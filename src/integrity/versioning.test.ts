import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { MANIFEST_FILE, readManifest, verifyManifest } from './manifest.js';
import { ObjectStore } from './object-store.js';
import type { RecordInput } from './record-hash.js';
import {
  checkoutVersion,
  collectGarbage,
  commitVersion,
  diffVersions,
  type NewVersion,
  resolveVersion,
  type VersionCatalogue,
  type VersionKind,
  type VersionRecord,
} from './versioning.js';

/** A minimal in-memory catalogue (the SQLite one lives in registry/). */
class MemoryCatalogue implements VersionCatalogue {
  versions: VersionRecord[] = [];
  latestVersion(kind: VersionKind, name: string) {
    return this.versions.filter((v) => v.kind === kind && v.name === name).at(-1);
  }
  insertVersion(v: NewVersion) {
    const head = this.latestVersion(v.kind, v.name);
    if (head?.manifestDigest === v.manifestDigest) return { version: head, created: false };
    const seq = (head?.seq ?? 0) + 1;
    const rec: VersionRecord = {
      ...v,
      seq,
      id: `${v.name}@${seq}`,
      ...(head ? { parent: head.id } : {}),
    };
    this.versions.push(rec);
    return { version: rec, created: true };
  }
  findVersion(kind: VersionKind, ref: string) {
    return this.versions.find((v) => v.kind === kind && v.id === ref);
  }
  listVersions(kind: VersionKind) {
    return this.versions.filter((v) => v.kind === kind);
  }
}

const recs = (flip?: string): RecordInput[] =>
  ['x1', 'x2', 'x3'].map((id, i) => ({
    id,
    features: new Float32Array([i]),
    label: id === flip ? 'b' : 'a',
  }));

describe('versioning', () => {
  let root: string;
  let data: string;
  let objects: ObjectStore;
  let cat: MemoryCatalogue;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-ver-'));
    data = join(root, 'data');
    await import('node:fs/promises').then((fs) =>
      fs.mkdir(join(data, 'nested'), { recursive: true }),
    );
    await writeFile(join(data, 'data.bin'), 'v1');
    await writeFile(join(data, 'nested', 'meta.json'), '{}');
    objects = new ObjectStore(join(root, '.antidote', 'objects'));
    cat = new MemoryCatalogue();
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('commits content-addressed, skips unchanged data, diffs and checks out', async () => {
    const a = await commitVersion(data, cat, objects, {
      name: 'ds',
      message: 'first',
      records: recs(),
    });
    expect(a.created).toBe(true);
    expect(a.version.id).toBe('ds@1');
    const f = a.manifest.files[0]!;
    expect(objects.pathOf(f.digest)).toMatch(/objects\/sha256\/[0-9a-f]{2}\/[0-9a-f]{62}$/);
    expect(await readFile(objects.pathOf(f.digest), 'utf8')).toBe('v1');

    const again = await commitVersion(data, cat, objects, {
      name: 'ds',
      message: 'same',
      records: recs(),
    });
    expect(again.created).toBe(false);
    expect(cat.versions).toHaveLength(1);

    await writeFile(join(data, 'data.bin'), 'v2');
    const b = await commitVersion(data, cat, objects, {
      name: 'ds',
      message: 'flip',
      records: recs('x2'),
    });
    expect(b.version).toMatchObject({ id: 'ds@2', parent: 'ds@1' });
    const d = await diffVersions(a.version, b.version, objects);
    expect(d.files.changed).toEqual(['data.bin']);
    expect(d.records!.labelChanged).toEqual([
      { id: 'x2', from: 'a', to: 'b', featuresChanged: false },
    ]);

    const out = join(root, 'out');
    await checkoutVersion(resolveVersion(cat, 'dataset', 'ds@1'), out, objects);
    expect(await readFile(join(out, 'data.bin'), 'utf8')).toBe('v1');
    const m = await readManifest(join(out, MANIFEST_FILE));
    expect((await verifyManifest(out, m, { records: recs() })).ok).toBe(true);
    // checking out over an existing directory needs overwrite
    await expect(checkoutVersion(a.version, out, objects)).rejects.toThrow(/already exists/);
  });

  it('refuses to check out a corrupted object and leaves nothing behind', async () => {
    const a = await commitVersion(data, cat, objects, { name: 'ds', message: 'first' });
    const p = objects.pathOf(a.manifest.files[0]!.digest);
    await chmod(p, 0o644);
    await writeFile(p, 'tampered');
    const out = join(root, 'co');
    let err: unknown;
    try {
      await checkoutVersion(a.version, out, objects);
    } catch (e) {
      err = e;
    }
    expect(isAntidoteError(err, 'INTEGRITY_MISMATCH')).toBe(true);
    expect((err as Error).message).toMatch(a.manifest.files[0]!.digest);
    const { existsSync } = await import('node:fs');
    expect(existsSync(out)).toBe(false);
  });

  it('fails with NOT_FOUND for an unknown version', () => {
    expect(() => resolveVersion(cat, 'dataset', 'nope@9')).toThrow(/no dataset version/);
  });
  it('gc removes what failed or killed commits leave, never a referenced object (issue 19, item 7)', async () => {
    const a = await commitVersion(data, cat, objects, { name: 'ds', message: 'first' });
    // A commit that fails after storing its files (the catalogue refuses the version) ...
    await writeFile(join(data, 'data.bin'), 'v2 never committed');
    const failing = new MemoryCatalogue();
    failing.insertVersion = () => {
      throw new Error('disk full');
    };
    await expect(
      commitVersion(data, failing, objects, { name: 'ds', message: 'x' }),
    ).rejects.toThrow(/disk full/);
    // ... and the temporary file of a commit killed while copying.
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(objects.root, 'tmp'), { recursive: true });
    await writeFile(join(objects.root, 'tmp', '0123456789abcdef.tmp'), 'partial copy');
    const before = await objects.inventory();
    expect(before.length).toBe(a.manifest.files.length + 1 + 2 + 1); // + manifest, 2 orphans, temp
    // Young files are kept (a commit may be running); a dry run removes nothing.
    expect(await collectGarbage(cat, objects)).toMatchObject({ objects: 0, temps: 0, young: 3 });
    const dry = await collectGarbage(cat, objects, { graceMs: 0, dryRun: true });
    expect(dry).toMatchObject({ objects: 2, temps: 1, dryRun: true });
    expect((await objects.inventory()).length).toBe(before.length);
    const r = await collectGarbage(cat, objects, { graceMs: 0 });
    expect(r).toMatchObject({ objects: 2, temps: 1, kept: a.manifest.files.length + 1 });
    expect(r.bytes).toBeGreaterThan(0);
    expect((await collectGarbage(cat, objects, { graceMs: 0 })).objects).toBe(0);
    // The committed version is intact.
    const out = join(root, 'out');
    await checkoutVersion(a.version, out, objects);
    expect(await readFile(join(out, 'data.bin'), 'utf8')).toBe('v1');
  });
});
