import { describe, expect, it } from 'vitest';
import type { ModelRegistry } from '../registry/model-registry.js';
import type { TokenTable } from './auth.js';
import { dashboardView } from './dashboard-routes.js';
import type { AppContext } from './http.js';

const registry = {} as ModelRegistry;
const hash = (c: string) => c.repeat(64);
const table = (...scopes: ('read' | 'write' | 'admin' | undefined)[]): TokenTable => ({
  version: 1,
  tokens: scopes.map((scope, i) => ({
    name: `t${i}`,
    sha256: hash(String(i)),
    ...(scope ? { scope } : {}),
  })),
});

describe('dashboardView', () => {
  it('is read-only unless a token could make a change (scope write or admin)', () => {
    const view = (tokens?: AppContext['tokens']) =>
      dashboardView({ registry, ...(tokens ? { tokens } : {}) }).readOnly;
    expect(view()).toBe(true);
    expect(view(table())).toBe(true);
    expect(view(table('read', 'read'))).toBe(true);
    expect(view(table('read', 'write'))).toBe(false);
    expect(view(table('admin'))).toBe(false);
    // Entries written before scopes count as admin, as they could do everything.
    expect(view(table(undefined))).toBe(false);
  });

  it('follows a token table that changes while the server runs', () => {
    let now: TokenTable | undefined;
    const ctx: AppContext = { registry, tokens: { current: () => now } };
    expect(dashboardView(ctx).readOnly).toBe(true);
    now = table('write');
    expect(dashboardView(ctx).readOnly).toBe(false);
    now = table('read');
    expect(dashboardView(ctx).readOnly).toBe(true);
  });
});
