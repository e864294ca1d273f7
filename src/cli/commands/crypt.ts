import type { Command } from 'commander';
import { AntidoteError } from '../../errors.js';
import {
  decryptFile,
  encryptFile,
  type Kek,
  kekFromEnv,
  loadKekFile,
  removePlaintextTempsSync,
  rewrapFile,
} from '../../integrity/index.js';
import { type OutputOptions, printResult } from '../output.js';

/** Default environment variable holding the key-encryption key. */
export const KEK_ENV = 'ANTIDOTE_KEK';

async function kekOf(
  file: string | undefined,
  env: string | undefined,
  what: string,
): Promise<Kek> {
  if (file && env)
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `give ${what} as a key file or an environment variable, not both`,
    );
  if (file) return loadKekFile(file);
  return kekFromEnv(env ?? KEK_ENV, process.env);
}

interface KeyOpts extends OutputOptions {
  keyFile?: string;
  keyEnv?: string;
  force?: boolean;
}

/** Exit status of a process ended by each handled signal (128 + its number). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/**
 * Runs `fn` with SIGINT, SIGTERM and SIGHUP handlers that remove the plaintext temporaries of
 * decryptions in progress, then exit with the signal's status: an interrupted `decrypt` leaves no
 * plaintext on disk. (A SIGKILL cannot be handled; the next decryption into the same folder
 * removes what it left.)
 */
async function withPlaintextCleanup<T>(fn: () => Promise<T>): Promise<T> {
  const handlers = Object.entries(SIGNAL_EXIT).map(([sig, code]) => {
    const h = () => {
      removePlaintextTempsSync();
      process.exit(code);
    };
    process.once(sig, h);
    return [sig, h] as const;
  });
  try {
    return await fn();
  } finally {
    for (const [sig, h] of handlers) process.removeListener(sig, h);
  }
}

/**
 * `antidote encrypt|decrypt|rekey`: chunked AES-256-GCM at rest with wrapped data keys. Neither
 * `encrypt` nor `decrypt` replaces an existing output without `--force`; an interrupted
 * `decrypt` removes its plaintext temporary (see `withPlaintextCleanup`).
 */
export function registerCryptCommand(program: Command): void {
  program
    .command('encrypt <file>')
    .description(
      'encrypt FILE (AES-256-GCM, 1 MiB authenticated chunks, per-file data key wrapped by the KEK)',
    )
    .option('-o, --out <file>', 'output (default FILE.enc)')
    .option('--force', 'replace the output file if it exists')
    .option('--key-file <file>', 'key-encryption key file (from antidote keys kek)')
    .option('--key-env <var>', `environment variable holding the key (default ${KEK_ENV})`)
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: KeyOpts & { out?: string }) => {
      const kek = await kekOf(o.keyFile, o.keyEnv, 'the key');
      const out = o.out ?? `${file}.enc`;
      try {
        const r = await encryptFile(file, out, kek, { overwrite: o.force === true });
        printResult(o, `encrypted ${file} → ${out} (${r.bytes} bytes, ${r.chunks} chunks)`, {
          out,
          ...r,
        });
      } finally {
        kek.fill(0);
      }
    });
  program
    .command('decrypt <file>')
    .description('decrypt FILE; nothing is written unless every chunk authenticates')
    .requiredOption('-o, --out <file>', 'output plaintext file')
    .option('--force', 'replace the output file if it exists')
    .option('--key-file <file>', 'key-encryption key file')
    .option('--key-env <var>', `environment variable holding the key (default ${KEK_ENV})`)
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: KeyOpts & { out: string }) => {
      const kek = await kekOf(o.keyFile, o.keyEnv, 'the key');
      try {
        const r = await withPlaintextCleanup(() =>
          decryptFile(file, o.out, kek, { overwrite: o.force === true }),
        );
        printResult(
          o,
          `decrypted ${file} → ${o.out} (${r.bytes} bytes, ${r.chunks} chunks authenticated)`,
          {
            out: o.out,
            ...r,
          },
        );
      } finally {
        kek.fill(0);
      }
    });
  program
    .command('rekey <files...>')
    .description(
      'key rotation: re-wrap the data keys of encrypted FILES under a new KEK (data is not re-encrypted)',
    )
    .option('--old-key-file <file>', 'current key file')
    .option('--old-key-env <var>', 'environment variable with the current key')
    .option('--new-key-file <file>', 'new key file')
    .option('--new-key-env <var>', 'environment variable with the new key')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        files: string[],
        o: OutputOptions & {
          oldKeyFile?: string;
          oldKeyEnv?: string;
          newKeyFile?: string;
          newKeyEnv?: string;
        },
      ) => {
        if (!o.oldKeyFile && !o.oldKeyEnv)
          throw new AntidoteError('INVALID_ARGUMENT', 'give --old-key-file or --old-key-env');
        if (!o.newKeyFile && !o.newKeyEnv)
          throw new AntidoteError('INVALID_ARGUMENT', 'give --new-key-file or --new-key-env');
        const oldKek = await kekOf(o.oldKeyFile, o.oldKeyEnv, 'the old key');
        const newKek = await kekOf(o.newKeyFile, o.newKeyEnv, 'the new key');
        try {
          for (const f of files) await rewrapFile(f, oldKek, newKek);
          printResult(o, `re-wrapped ${files.length} file(s) under the new key`, { files });
        } finally {
          oldKek.fill(0);
          newKek.fill(0);
        }
      },
    );
}
