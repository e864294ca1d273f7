import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestBytes, manifestDigest } from '../integrity/manifest.js';
import { ObjectStore } from '../integrity/object-store.js';
import { SQLITE_BACKEND } from '../testing/catalogue-backends.js';
import { modelContentSuite } from '../testing/model-content-suite.js';
import { stageModelContent, storeStaged } from './model-content.js';
import { modelManifest } from './model-manifest.js';

/** A registered model's content in the SQLite catalogue's object store (issue 22). */
modelContentSuite(SQLITE_BACKEND);

describe('stageModelContent', () => {
  it('holds small files and the manifest for the version; stores a manifest over one row now', async () => {
    const root = await mkdtemp(join(tmpdir(), 'antidote-stage-'));
    try {
      const objects = new ObjectStore(join(root, 'objects'));
      const small = join(root, 'small');
      await mkdir(small);
      await writeFile(join(small, 'weights.bin'), 'w');
      const m1 = await modelManifest(small);
      const s1 = await stageModelContent(objects, small, m1);
      expect(s1.manifestDigest).toBe(manifestDigest(m1));
      expect(s1.pending.map((b) => Buffer.from(b).toString())).toEqual([
        'w',
        manifestBytes(m1).toString(),
      ]);
      expect(objects.has(manifestDigest(m1))).toBe(false); // not stored before the version
      await storeStaged(objects, s1);
      expect(objects.has(manifestDigest(m1))).toBe(true);
      // 10,000 files: a manifest of more than 1 MiB, too large for one row.
      const many = join(root, 'many');
      await mkdir(many);
      for (let i = 0; i < 10_000; i++) await writeFile(join(many, `part-${i}.bin`), `${i % 7}`);
      const m2 = await modelManifest(many);
      expect(manifestBytes(m2).byteLength).toBeGreaterThan(1024 * 1024);
      const s2 = await stageModelContent(objects, many, m2);
      expect(s2.manifestDigest).toBeUndefined();
      expect(objects.has(manifestDigest(m2))).toBe(true);
      expect(s2.pending.length).toBe(10_000); // the files, held for the version's transaction
      expect(s2.pending.every((b) => b.byteLength === 1)).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
