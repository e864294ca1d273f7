import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../integrity/hash.js';
import { parseTokenTable, principalOfToken, scopeAllows, tokenOfHeader } from './auth.js';

describe('API tokens', () => {
  const fp = `sha256:${'a'.repeat(64)}`;
  const table = parseTokenTable({
    version: 1,
    tokens: [{ name: 'alice', sha256: sha256Hex('s3cret'), fingerprint: fp }],
  });
  it('maps a token to its principal by digest, and nothing else', () => {
    // A hand-made entry without a scope keeps what such tokens could always do: admin.
    expect(principalOfToken(table, 's3cret')).toEqual({
      name: 'alice',
      fingerprint: fp,
      scope: 'admin',
    });
    expect(principalOfToken(table, 's3cre')).toBeUndefined();
    expect(principalOfToken(table, undefined)).toBeUndefined();
    expect(principalOfToken(undefined, 's3cret')).toBeUndefined();
  });
  it('rejects a malformed token file, naming the field', () => {
    expect(() =>
      parseTokenTable(
        { version: 1, tokens: [{ name: 'a', sha256: 'x', fingerprint: fp }] },
        't.json',
      ),
    ).toThrow(/t.json: tokens.0.sha256/);
  });
  it('orders the scopes read < write < admin', () => {
    expect(scopeAllows('admin', 'read')).toBe(true);
    expect(scopeAllows('write', 'write')).toBe(true);
    expect(scopeAllows('read', 'write')).toBe(false);
    expect(scopeAllows('write', 'admin')).toBe(false);
  });
  it('reads a token from a Bearer header or a Basic password, nothing else', () => {
    expect(tokenOfHeader('Bearer abc')).toBe('abc');
    expect(tokenOfHeader(`Basic ${Buffer.from('user:abc').toString('base64')}`)).toBe('abc');
    expect(tokenOfHeader(`Basic ${Buffer.from('user:').toString('base64')}`)).toBeUndefined();
    expect(tokenOfHeader(`Basic ${Buffer.from('abc').toString('base64')}`)).toBeUndefined();
    expect(tokenOfHeader('Token abc')).toBeUndefined();
    expect(tokenOfHeader(undefined)).toBeUndefined();
  });
});
