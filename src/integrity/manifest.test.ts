import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import {
  assertVerified,
  createManifest,
  diffManifests,
  MANIFEST_FILE,
  manifestDigest,
  parseManifest,
  readManifest,
  verifyManifest,
  writeManifest,
} from './manifest.js';
import type { RecordInput } from './record-hash.js';

function records(n: number, over: (i: number) => Partial<RecordInput> = () => ({})): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `r${String(i).padStart(3, '0')}`,
    features: new Float32Array([i, i / 2, 1]),
    label: i % 2 ? 'cat' : 'dog',
    source: 'feed',
    ...over(i),
  }));
}

describe('manifest', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'antidote-manifest-'));
    await writeFile(join(dir, 'a.bin'), Buffer.from([1, 2, 3, 4]));
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'sub')));
    await writeFile(join(dir, 'sub', 'b.json'), '{"x":1}');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('is deterministic and verifies the untouched directory', async () => {
    const m1 = await createManifest(dir, { name: 'ds', records: records(10) });
    const m2 = await createManifest(dir, { name: 'ds', records: records(10).reverse() });
    expect(manifestDigest(m1)).toBe(manifestDigest(m2));
    expect(m1.files.map((f) => f.path)).toEqual(['a.bin', 'sub/b.json']);
    await writeManifest(dir, m1);
    const back = await readManifest(join(dir, MANIFEST_FILE));
    expect(manifestDigest(back)).toBe(manifestDigest(m1));
    const r = await verifyManifest(dir, back, { records: records(10) });
    expect(r.problems).toEqual([]);
  });

  it('names a flipped byte, a missing and an extra file', async () => {
    const m = await createManifest(dir);
    const buf = await readFile(join(dir, 'a.bin'));
    buf[2]! ^= 0x01;
    await writeFile(join(dir, 'a.bin'), buf);
    await unlink(join(dir, 'sub', 'b.json'));
    await writeFile(join(dir, 'evil.bin'), 'x');
    const r = await verifyManifest(dir, m);
    expect(r.ok).toBe(false);
    const kinds = r.problems.map((p) => `${p.kind}:${'path' in p ? p.path : ''}`).sort();
    expect(kinds).toEqual(['extra-file:evil.bin', 'file-changed:a.bin', 'missing-file:sub/b.json']);
    let err: unknown;
    try {
      assertVerified(r, dir);
    } catch (e) {
      err = e;
    }
    expect(isAntidoteError(err, 'INTEGRITY_MISMATCH')).toBe(true);
  });

  it('names a changed record and a relabelled record separately', async () => {
    const m = await createManifest(dir, { records: records(8) });
    const tampered = records(8, (i) =>
      i === 3
        ? { label: 'dog' } // label flip
        : i === 5
          ? { features: new Float32Array([5, 2.5, 1.0000001]) }
          : {},
    );
    const r = await verifyManifest(dir, m, { records: tampered });
    expect(r.problems.map((p) => p.message)).toEqual([
      'record "r003" label changed from "cat" to "dog"',
      'record "r005" features changed',
    ]);
    const dropped = records(8).filter((x) => x.id !== 'r001');
    const r2 = await verifyManifest(dir, m, {
      records: [...dropped, ...records(1, () => ({ id: 'zz' }))],
    });
    expect(r2.problems.map((p) => p.kind).sort()).toEqual(['record-extra', 'record-missing']);
  });

  it('detects a flipped byte inside the manifest itself', async () => {
    const m = await createManifest(dir, { records: records(4) });
    const text = JSON.stringify(m);
    // flip one hex digit of the second record digest
    const target = m.records!.items[1]!.digest;
    const flipped = target.slice(0, 10) + (target[10] === '0' ? '1' : '0') + target.slice(11);
    const bad = parseManifest(text.replace(target, flipped));
    const r = await verifyManifest(dir, bad);
    expect(r.problems[0]!.message).toMatch(/record "r001" does not match its digest/);
    // and a changed file digest breaks the root digest
    const fd = m.files[0]!.digest;
    const bad2 = parseManifest(text.replace(fd, fd.replace(/^./, fd[0] === 'a' ? 'b' : 'a')));
    const r2 = await verifyManifest(dir, bad2);
    expect(r2.problems.some((p) => /rootDigest/.test(p.message))).toBe(true);
  });

  it('rejects malformed manifest JSON with INVALID_FORMAT', () => {
    expect(() => parseManifest('{')).toThrow(/not valid JSON/);
    expect(() => parseManifest('{"schema":"x"}')).toThrow(/not a valid manifest/);
  });

  it('diffs records with label changes apart', async () => {
    const a = await createManifest(dir, { records: records(6) });
    const b = await createManifest(dir, {
      records: [
        ...records(6, (i) =>
          i === 0 ? { label: 'cat' } : i === 2 ? { source: 'other' } : {},
        ).filter((r) => r.id !== 'r004'),
        ...records(1, () => ({ id: 'new' })),
      ],
    });
    const d = diffManifests(a, b);
    expect(d.identical).toBe(false);
    expect(d.records).toEqual({
      added: ['new'],
      removed: ['r004'],
      changed: [{ id: 'r002', fields: ['source'] }],
      labelChanged: [{ id: 'r000', from: 'dog', to: 'cat', featuresChanged: false }],
    });
    expect(diffManifests(a, a).identical).toBe(true);
  });
});
