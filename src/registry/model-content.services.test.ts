import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresBackend } from '../testing/catalogue-backends.js';
import { modelContentSuite } from '../testing/model-content-suite.js';
import { runCli } from '../testing/run-cli.js';
import { testServiceUrl } from '../testing/services.js';

/**
 * A registered model's content in the shared PostgreSQL catalogue (issue 22): two project
 * folders on the same catalogue URL, each test in a fresh schema.
 */
const url = testServiceUrl('postgres');
describe.skipIf(!url)('model content on PostgreSQL (services tier)', () => {
  if (url) modelContentSuite(postgresBackend(url));
});

describe.skipIf(!url)('antidote registry pull on PostgreSQL (services tier)', () => {
  const backend = url ? postgresBackend(url) : undefined;
  let root = '';
  afterAll(async () => {
    backend?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('machine B pulls what machine A registered, byte-identically', async () => {
    const store = backend!.fresh() as string;
    root = await mkdtemp(join(tmpdir(), 'pg-pull-cli-'));
    const [a, b] = [join(root, 'a'), join(root, 'b')];
    const model = join(a, 'build', 'model');
    await mkdir(model, { recursive: true });
    await mkdir(join(b, '.antidote'), { recursive: true });
    const weights = randomBytes(2_200_000); // three chunks
    await writeFile(join(model, 'weights.bin'), weights);
    const env = { env: { ANTIDOTE_STORE: store } };
    const reg = runCli(['registry', 'register', model, '--name', 'm', '--project', a], env);
    expect(reg.stderr).toBe('');
    expect(reg.code).toBe(0);
    const out = join(root, 'pulled');
    const pull = runCli(['registry', 'pull', 'm@1', '--out', out, '--project', b, '--json'], env);
    expect(pull.stderr).toBe('');
    expect(JSON.parse(pull.stdout)).toMatchObject({ version: 'm@1', files: 1, bytes: 2_200_000 });
    expect((await readFile(join(out, 'weights.bin'))).equals(weights)).toBe(true);
    const again = runCli(['registry', 'pull', 'm@1', '--out', out, '--project', b], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/antidote: error \[ALREADY_EXISTS\]/);
  });
});
