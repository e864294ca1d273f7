import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, verifyAuditChain } from '../integrity/audit-log.js';
import { commitVersion, resolveVersion } from '../integrity/versioning.js';
import { SqliteCatalogueStore } from './sqlite-store.js';
import { findProjectDir, resolveProjectDir } from './store.js';

describe('SqliteCatalogueStore', () => {
  let root: string;
  let store: SqliteCatalogueStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-cat-'));
    store = SqliteCatalogueStore.open(root);
  });
  afterEach(async () => {
    store.close();
    await rm(root, { recursive: true, force: true });
  });

  it('uses WAL and applies migrations once, extensible by other areas', () => {
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.schemaVersions()).toEqual([1]);
    store.close();
    const ext = {
      version: 100,
      name: 'models',
      up: (db: SqliteCatalogueStore['db']) => db.exec('CREATE TABLE models (id TEXT PRIMARY KEY)'),
    };
    store = SqliteCatalogueStore.open(root, { migrations: [ext] });
    expect(store.schemaVersions()).toEqual([1, 100]);
    store.close();
    store = SqliteCatalogueStore.open(root, { migrations: [ext] });
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
    expect(resolveVersion(store, 'dataset', a.version.manifestDigest.slice(0, 10)).id).toBe('ds@1');
    expect(store.findVersion('model', 'ds@1')).toBeUndefined();
    expect(b.version.author).toBe('sha256:x');
    expect(() => store.db.prepare("UPDATE versions SET message = 'x'").run()).toThrow(/immutable/);
    expect(() => store.db.prepare('DELETE FROM versions').run()).toThrow(/immutable/);
  });

  it('stores a verifiable audit chain and detects tampering made behind its back', () => {
    for (let i = 0; i < 5; i++) appendAudit(store, { actor: 'me', action: `a${i}` });
    expect(verifyAuditChain(store.auditEntries()).ok).toBe(true);
    expect(() => store.db.prepare('DELETE FROM audit_log WHERE seq = 2').run()).toThrow(
      /append-only/,
    );
    // An attacker with raw access drops the triggers and edits entry 3.
    store.db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;');
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

  it('finds the project by walking up', async () => {
    const deep = join(root, 'a', 'b');
    await mkdir(deep, { recursive: true });
    expect(findProjectDir(deep)).toBe(root);
    expect(resolveProjectDir({ cwd: deep })).toBe(root);
    expect(() => resolveProjectDir({ cwd: deep, explicit: 'a' })).toThrow(
      /not an Antidote project/,
    );
  });
});
