import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../integrity/hash.js';
import { parseTokenTable, principalOfToken } from './auth.js';

describe('API tokens', () => {
  const fp = `sha256:${'a'.repeat(64)}`;
  const table = parseTokenTable({
    version: 1,
    tokens: [{ name: 'alice', sha256: sha256Hex('s3cret'), fingerprint: fp }],
  });
  it('maps a token to its principal by digest, and nothing else', () => {
    expect(principalOfToken(table, 's3cret')).toEqual({ name: 'alice', fingerprint: fp });
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
});
