import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAntidoteError } from '../../errors.js';
import { encryptFile, generateKek, loadKekFile, writeKekFile } from '../../integrity/encryption.js';
import { CLI } from '../../testing/run-cli.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { Rng } from '../../util/rng.js';
import { registerCryptCommand } from './crypt.js';

function program(): Command {
  const p = new Command('antidote').exitOverride();
  registerCryptCommand(p);
  return p;
}

/** Plaintext temporaries of `antidote decrypt` left in `dir`. */
async function plaintextTemps(dir: string, of = ''): Promise<string[]> {
  return (await readdir(dir)).filter(
    (f) => f.startsWith(`.${of}`) && f.includes('.antidote-decrypt.'),
  );
}

describe('antidote encrypt / decrypt', () => {
  let dir: string;
  let keyFile: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'antidote-crypt-'));
    keyFile = join(dir, 'kek');
    await writeKekFile(keyFile, generateKek());
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to replace an existing output without --force (issue 19, item 3)', async () => {
    const plain = join(dir, 'p.txt');
    const enc = join(dir, 'p.enc');
    const out = join(dir, 'p.out');
    await writeFile(plain, 'secret data');
    await writeFile(enc, 'previous ciphertext');
    await writeFile(out, 'previous plaintext');
    const e1 = await rejectionOf(
      runProgram(program(), ['encrypt', plain, '-o', enc, '--key-file', keyFile]),
    );
    expect(isAntidoteError(e1, 'ALREADY_EXISTS')).toBe(true);
    expect((e1 as Error).message).toMatch(/--force/);
    expect(await readFile(enc, 'utf8')).toBe('previous ciphertext');
    await runProgram(program(), ['encrypt', plain, '-o', enc, '--key-file', keyFile, '--force']);
    const e2 = await rejectionOf(
      runProgram(program(), ['decrypt', enc, '-o', out, '--key-file', keyFile]),
    );
    expect(isAntidoteError(e2, 'ALREADY_EXISTS')).toBe(true);
    expect(await readFile(out, 'utf8')).toBe('previous plaintext');
    await runProgram(program(), ['decrypt', enc, '-o', out, '--key-file', keyFile, '--force']);
    expect(await readFile(out, 'utf8')).toBe('secret data');
    // The default output FILE.enc is protected too.
    const e3 = await rejectionOf(runProgram(program(), ['encrypt', plain, '--key-file', keyFile]));
    expect(e3).toBeUndefined();
    const e4 = await rejectionOf(runProgram(program(), ['encrypt', plain, '--key-file', keyFile]));
    expect(isAntidoteError(e4, 'ALREADY_EXISTS')).toBe(true);
  });

  it('leaves no plaintext behind when decrypt is interrupted at random points (SIGINT, SIGTERM, SIGKILL)', async () => {
    expect(existsSync(CLI), `${CLI}: run npm run build first`).toBe(true);
    const plain = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < plain.length; i += 4) plain.writeUInt32LE((i * 2654435761) >>> 0, i);
    const src = join(dir, 'big.bin');
    const enc = join(dir, 'big.enc');
    await writeFile(src, plain);
    await encryptFile(src, enc, await loadKekFile(keyFile), {
      chunkSize: 64 * 1024,
    });
    await rm(src);
    const outDir = await mkdtemp(join(dir, 'out-'));
    const rng = new Rng(19);
    const signals = ['SIGINT', 'SIGTERM', 'SIGKILL'] as const;
    const outcome: Record<string, { killed: number; finished: number }> = {};
    for (let trial = 0; trial < 9; trial++) {
      const signal = signals[trial % 3]!;
      const out = join(outDir, `out-${trial}.bin`);
      const child = spawn(
        process.execPath,
        [CLI, 'decrypt', enc, '-o', out, '--key-file', keyFile],
        {
          stdio: 'ignore',
        },
      );
      const exited = new Promise<{ code: number | null; signal: string | null }>((res) =>
        child.once('exit', (code, sig) => res({ code, signal: sig })),
      );
      let done = false;
      void exited.then(() => {
        done = true;
      });
      // Wait until its plaintext temporary exists (earlier leftovers are removed before that),
      // then a random extra delay (seeded).
      while (!done && (await plaintextTemps(outDir, `out-${trial}.bin`)).length === 0) {
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, rng.int(40)));
      child.kill(signal);
      const r = await exited;
      const o = (outcome[signal] ??= { killed: 0, finished: 0 });
      if (r.code === 0) o.finished++;
      else o.killed++;
      if (signal !== 'SIGKILL') {
        // Handled: the temporary is gone at once (and a SIGKILLed run's, removed when this one
        // started); exit status 128 + signal number.
        expect(await plaintextTemps(outDir)).toEqual([]);
        if (r.code !== 0) expect(r.code).toBe(signal === 'SIGINT' ? 130 : 143);
      }
      // Never a partial output: absent, or the whole authenticated plaintext.
      if (existsSync(out)) expect((await readFile(out)).equals(plain)).toBe(true);
      else expect(r.code).not.toBe(0);
    }
    // A SIGKILL cannot be handled: the next decryption into the folder removes its leftovers.
    const next = join(outDir, 'next.bin');
    const child = spawn(
      process.execPath,
      [CLI, 'decrypt', enc, '-o', next, '--key-file', keyFile],
      {
        stdio: 'ignore',
      },
    );
    const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    expect(code).toBe(0);
    expect((await readFile(next)).equals(plain)).toBe(true);
    expect(await plaintextTemps(outDir)).toEqual([]);
    console.info(`decrypt interrupted: ${JSON.stringify(outcome)}`);
    for (const s of signals) expect(outcome[s]!.killed).toBeGreaterThan(0);
  }, 120_000);
});
