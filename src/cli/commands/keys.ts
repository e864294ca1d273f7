import type { Command } from 'commander';
import { AntidoteError } from '../../errors.js';
import {
  appendAudit,
  DEFAULT_SIGNING_ALGORITHM,
  generateKek,
  generateSigningKeyPair,
  kekId,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
  writeKekFile,
  writeSigningKeyPair,
} from '../../integrity/index.js';
import { SqliteCatalogueStore } from '../../registry/sqlite-store.js';
import { findProjectDir } from '../../registry/store.js';
import { type OutputOptions, printResult } from '../output.js';
import { actorOf } from './policy.js';

/** `antidote keys generate|fingerprint|kek`. */
export function registerKeysCommand(program: Command): void {
  const cmd = program
    .command('keys')
    .description(
      'signing keys (ECDSA P-256 by default, OpenSSF model-signing) and AES key-encryption keys',
    );
  cmd
    .command('generate')
    .description(
      'new signing key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM); ECDSA P-256 unless --algorithm',
    )
    .option('--out <prefix>', 'output path prefix', 'antidote')
    .option(
      '--algorithm <alg>',
      `${SIGNING_ALGORITHMS.join(', ')} (p256/p384/p521 are OMS v1.0; ed25519 is not OMS-conformant)`,
      DEFAULT_SIGNING_ALGORITHM,
    )
    .option('--force', 'overwrite existing key files')
    .option('--json', 'print the result as JSON')
    .action(async (o: OutputOptions & { out: string; force?: boolean; algorithm: string }) => {
      if (!(SIGNING_ALGORITHMS as readonly string[]).includes(o.algorithm)) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `--algorithm must be one of ${SIGNING_ALGORITHMS.join(', ')}, got ${o.algorithm}`,
        );
      }
      const pair = generateSigningKeyPair(o.algorithm as SigningAlgorithm);
      const paths = await writeSigningKeyPair(o.out, pair, { overwrite: !!o.force });
      const project = findProjectDir(process.cwd());
      if (project) {
        const store = SqliteCatalogueStore.open(project);
        try {
          appendAudit(store, {
            actor: pair.fingerprint,
            action: 'keys.generate',
            outcome: 'ok',
            subject: `key:${pair.fingerprint}`,
          });
        } finally {
          store.close();
        }
      }
      printResult(
        o,
        `private key ${paths.privateKeyPath} (mode 0600)\npublic key  ${paths.publicKeyPath}\nalgorithm   ${pair.algorithm}\nfingerprint ${pair.fingerprint}`,
        { ...paths, fingerprint: pair.fingerprint, algorithm: pair.algorithm },
      );
    });
  cmd
    .command('fingerprint <key>')
    .description('the sha256 fingerprint of a public or private key (how policies name principals)')
    .option('--json', 'print the result as JSON')
    .action(async (key: string, o: OutputOptions) => {
      const fp = await actorOf(key);
      printResult(o, fp!, { fingerprint: fp });
    });
  cmd
    .command('kek <file>')
    .description('new random 256-bit key-encryption key for encrypt/decrypt (base64, mode 0600)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: OutputOptions) => {
      const kek = generateKek();
      await writeKekFile(file, kek);
      const id = kekId(kek).toString('hex');
      kek.fill(0);
      printResult(o, `key-encryption key written to ${file} (key id ${id})`, {
        path: file,
        keyId: id,
      });
    });
}
