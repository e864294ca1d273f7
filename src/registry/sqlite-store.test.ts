import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SQLITE_BACKEND } from '../testing/catalogue-backends.js';
import { catalogueStoreSuite } from '../testing/catalogue-store-suite.js';
import { runCli } from '../testing/run-cli.js';
import type { SqliteSqlDatabase } from './sql-sqlite.js';
import { SqlCatalogueStore, storeUrl } from './sql-store.js';
import { SqliteCatalogueStore } from './sqlite-store.js';
import { findProjectDir, resolveProjectDir } from './store.js';

catalogueStoreSuite(SQLITE_BACKEND);

describe('SqlCatalogueStore on SQLite (embedded default)', () => {
  let root: string;
  let store: SqlCatalogueStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-cat-'));
    store = SqlCatalogueStore.open(root, { store: 'sqlite' });
  });
  afterEach(async () => {
    store.close();
    await rm(root, { recursive: true, force: true });
  });

  it('uses WAL in .antidote/catalogue.db', () => {
    const native = (store.db as SqliteSqlDatabase).native;
    expect(native.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(native.name).toBe(join(root, '.antidote', 'catalogue.db'));
  });

  it('keeps the former name working', () => {
    store.close();
    store = SqliteCatalogueStore.open(root, { store: 'sqlite' });
    expect(store).toBeInstanceOf(SqlCatalogueStore);
    expect(store.schemaVersions()).toEqual([1, 2, 3]);
  });

  it('selects the backend from --store / ANTIDOTE_STORE', () => {
    expect(storeUrl('sqlite')).toBeUndefined();
    expect(storeUrl('')).toBeUndefined();
    expect(storeUrl('postgres://u:p@h/db')).toBe('postgres://u:p@h/db');
    expect(storeUrl('postgresql://h/db')).toBe('postgresql://h/db');
    expect(() => storeUrl('mysql://u:secret@h/db')).toThrow(/unknown store "mysql:\/\/\*\*\*@h/);
    const cli = runCli(['registry', 'list', '--store', 'mysql://h/db', '--project', root]);
    expect([cli.code, cli.stderr]).toEqual([
      2,
      expect.stringMatching(/^antidote: error \[INVALID_ARGUMENT\]: unknown store "mysql:/),
    ]);
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
