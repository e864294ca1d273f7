import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, verifyAuditChain } from '../integrity/audit-log.js';
import { commitVersion, loadVersionManifest, resolveVersion } from '../integrity/versioning.js';
import type { Migration } from '../registry/sql-store.js';
import { SqlCatalogueStore } from '../registry/sql-store.js';
import type { CatalogueBackend } from './catalogue-backends.js';

/**
 * The catalogue store's core cases, run against one backend: `sqlite-store.test.ts` runs them on
 * SQLite, `pg-store.services.test.ts` on PostgreSQL (issue 22: the same tests on both).
 */
export function catalogueStoreSuite(backend: CatalogueBackend): void {
  describe(`SqlCatalogueStore on ${backend.name}`, () => {
    let root: string;
    let url: string | undefined;
    let store: SqlCatalogueStore;
    const open = (migrations?: readonly Migration[]) =>
      SqlCatalogueStore.open(root, {
        ...(url ? { store: url } : { store: 'sqlite' }),
        ...(migrations ? { migrations } : {}),
      });
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'antidote-cat-'));
      url = backend.fresh();
      store = open();
    });
    afterEach(async () => {
      store.close();
      await rm(root, { recursive: true, force: true });
    });
    afterAll(() => backend.cleanup());

    it('applies migrations once, extensible by other areas', () => {
      expect(store.db.dialect).toBe(backend.name);
      expect(store.schemaVersions()).toEqual([1, 2, 3]);
      store.close();
      const ext: Migration = {
        version: 100,
        name: 'models',
        up: (db) => db.exec('CREATE TABLE models (id TEXT PRIMARY KEY)'),
      };
      store = open([ext]);
      expect(store.schemaVersions()).toEqual([1, 2, 3, 100]);
      store.close();
      store = open([ext]);
      expect(store.migrate([ext])).toEqual([]);
      expect(() => store.migrate([ext, { ...ext, name: 'dup' }])).toThrow(/repeated/);
    });

    it('commits versions, resolves refs and keeps them immutable', async () => {
      const data = join(root, 'd');
      await mkdir(data);
      await writeFile(join(data, 'f.txt'), 'one');
      const a = await commitVersion(data, store, store.objects, { name: 'ds', message: 'm1' });
      const same = await commitVersion(data, store, store.objects, {
        name: 'ds',
        message: 'm1 again',
      });
      expect(same.created).toBe(false);
      await writeFile(join(data, 'f.txt'), 'two');
      const b = await commitVersion(data, store, store.objects, {
        name: 'ds',
        message: 'm2',
        author: 'sha256:x',
      });
      expect(store.listVersions('dataset', 'ds').map((v) => [v.id, v.message, v.parent])).toEqual([
        ['ds@1', 'm1', undefined],
        ['ds@2', 'm2', 'ds@1'],
      ]);
      expect(resolveVersion(store, 'dataset', 'ds').id).toBe('ds@2');
      expect(resolveVersion(store, 'dataset', a.version.manifestDigest.slice(0, 10)).id).toBe(
        'ds@1',
      );
      expect(store.findVersion('model', 'ds@1')).toBeUndefined();
      expect(b.version.author).toBe('sha256:x');
      expect((await loadVersionManifest(b.version, store.objects)).rootDigest).toBe(
        b.version.rootDigest,
      );
      expect(() => store.db.prepare("UPDATE versions SET message = 'x'").run()).toThrow(
        /immutable/,
      );
      expect(() => store.db.prepare('DELETE FROM versions').run()).toThrow(/immutable/);
    });

    it('stores a verifiable audit chain and detects tampering made behind its back', () => {
      for (let i = 0; i < 5; i++) appendAudit(store, { actor: 'me', action: `a${i}` });
      expect(verifyAuditChain(store.auditEntries()).ok).toBe(true);
      expect(() => store.db.prepare('DELETE FROM audit_log WHERE seq = 2').run()).toThrow(
        /append-only/,
      );
      // An attacker with raw access drops the triggers and edits entry 3.
      store.db.exec(
        backend.name === 'sqlite'
          ? 'DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;'
          : 'DROP TRIGGER audit_no_update ON audit_log; DROP TRIGGER audit_no_delete ON audit_log;',
      );
      const e3 = store.db.prepare('SELECT entry FROM audit_log WHERE seq = 3').get() as {
        entry: string;
      };
      store.db
        .prepare('UPDATE audit_log SET entry = ? WHERE seq = 3')
        .run(e3.entry.replace('"a2"', '"zz"'));
      expect(verifyAuditChain(store.auditEntries()).firstBad).toMatchObject({ position: 3 });
      store.db.prepare('UPDATE audit_log SET entry = ? WHERE seq = 3').run(e3.entry);
      store.db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
      expect(verifyAuditChain(store.auditEntries()).firstBad).toMatchObject({ position: 2 });
    });

    it('keeps settings', () => {
      store.setSetting('policy', 'p.json');
      store.setSetting('policy', 'q.json');
      expect(store.getSetting('policy')).toBe('q.json');
      expect(store.getSetting('none')).toBeUndefined();
    });

    it('fails a transaction whose write fails, and stays usable; counts changes inside one', () => {
      store.setSetting('x', '1');
      expect(() =>
        store.db.transaction(() => {
          store.setSetting('y', '1');
          store.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?)').run('x', '2');
        }),
      ).toThrow(backend.name === 'sqlite' ? /UNIQUE constraint failed/ : /duplicate key value/);
      expect([store.getSetting('x'), store.getSetting('y')]).toEqual(['1', undefined]);
      const changed = store.db.transaction(
        () => store.db.prepare('UPDATE settings SET value = ? WHERE key = ?').run('3', 'x').changes,
      );
      expect(changed).toBe(1);
      expect(store.getSetting('x')).toBe('3');
    });

    it('rolls a failed transaction back, savepoints included', () => {
      expect(() =>
        store.db.transaction(() => {
          store.setSetting('a', '1');
          throw new Error('boom');
        }),
      ).toThrow(/boom/);
      expect(store.getSetting('a')).toBeUndefined();
      store.db.transaction(() => {
        store.setSetting('b', '1');
        expect(() =>
          store.db.transaction(() => {
            store.setSetting('c', '1');
            throw new Error('inner');
          }),
        ).toThrow(/inner/);
      });
      expect([store.getSetting('b'), store.getSetting('c')]).toEqual(['1', undefined]);
    });
  });
}
