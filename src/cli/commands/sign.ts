import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { isOnnxPath, modelFilesOf } from '../../engine/model-summary.js';
import { AntidoteError } from '../../errors.js';
import {
  appendAudit,
  DEFAULT_IGNORE,
  keyFingerprint,
  loadPrivateKey,
  manifestDigest,
  OMS_HASH_TYPES,
  type OmsHashType,
  parseCertificatesPem,
  SIGNATURE_FILE,
  signModel,
} from '../../integrity/index.js';
import { signedFolderOf } from '../../registry/model-manifest.js';
import { SqliteCatalogueStore } from '../../registry/sqlite-store.js';
import { findProjectDir, PROJECT_FOLDER } from '../../registry/store.js';
import { type OutputOptions, printResult } from '../output.js';
import { recordsOfDir } from './manifest.js';
import { requirePermission } from './policy.js';

interface SignCliOptions extends OutputOptions {
  key: string;
  certificateChain?: string;
  signature?: string;
  out?: string;
  ignorePaths?: string[];
  hash?: string;
  shardSize?: string;
  allowSymlinks?: boolean;
  name?: string;
  project?: string;
}

/**
 * How many files a signature covers, as `N files` or `N files (+ Antidote's manifest, ...)`:
 * shards count once, and Antidote's own integrity files are named apart from the model's.
 */
export function fileCount(resources: readonly { name: string }[]): string {
  const names = new Set(resources.map((x) => x.name.replace(/:\d+:\d+$/, '')));
  const own = [...names].filter((n) => DEFAULT_IGNORE.includes(n.split('/')[0]!));
  return `${names.size - own.length} files${own.length ? ` (+ ${own.join(', ')})` : ''}`;
}

/** Model-root-relative form of `--ignore-paths` entries given relative to the working directory. */
export function ignorePathsFor(root: string, given: readonly string[] = []): string[] {
  return given.map((p) => {
    const abs = resolve(p);
    const inRoot = abs.startsWith(`${resolve(root)}/`)
      ? abs.slice(resolve(root).length + 1)
      : undefined;
    return inRoot ?? p;
  });
}

/**
 * What `antidote sign PATH` signs: a directory; a single file with `--signature` (or any file that
 * is not an ONNX model: OMS single-file model, bundle `FILE.sig`); an ONNX model without
 * `--signature` as the folder holding only it and its sidecar (`signedFolderOf`, the root digest
 * the registry records). A lone ONNX file with a sidecar is refused: the sidecar would be unsigned.
 */
async function signTarget(given: string, o: SignCliOptions): Promise<string> {
  const st = await stat(given).catch(() => undefined);
  if (!st) throw new AntidoteError('NOT_FOUND', `no model at ${given}`, { path: given });
  if (st.isDirectory()) return given;
  if (!isOnnxPath(given)) return given;
  const files = (await modelFilesOf(given)) ?? [given];
  if (o.signature ?? o.out) {
    if (files.length > 1) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${given} has a sidecar (${basename(files[1]!)}) that changes how it reads inputs; a signature of the file alone would leave it unsigned: sign the folder holding both (without --signature)`,
        { path: given },
      );
    }
    return given;
  }
  try {
    return await signedFolderOf(given);
  } catch (e) {
    if (e instanceof AntidoteError && e.code === 'INVALID_ARGUMENT') {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${e.message}, or sign the file alone (OMS single-file model): antidote sign ${given} --signature ${given}.sig`,
        e.details,
      );
    }
    throw e;
  }
}

/**
 * `antidote sign PATH --key K [--certificate-chain CHAIN.pem]`: an OpenSSF model-signing (OMS)
 * v1.0 signature (Sigstore bundle, DSSE, in-toto) over every file of a directory, or over a single
 * file; key method (ECDSA P-256/384/521) or certificate method. A dataset directory's records are
 * hashed into its manifest, which the signature covers.
 */
export function registerSignCommand(program: Command): void {
  program
    .command('sign <path>')
    .description(
      `sign a model or dataset (directory or single file) in the OpenSSF model-signing v1.0 format: DIR/${SIGNATURE_FILE}, or FILE.sig for a single file`,
    )
    .requiredOption(
      '--key <file>',
      'private key (PEM): ECDSA P-256/P-384/P-521 (Ed25519 still works, but is not OMS-conformant)',
    )
    .option(
      '--certificate-chain <file>',
      'certificate method: PEM with the signing certificate first, then its intermediates',
    )
    .option(
      '--signature <file>',
      `bundle path (default DIR/${SIGNATURE_FILE}, FILE.sig for a single file)`,
    )
    .option('--out <file>', 'same as --signature')
    .option(
      '--ignore-paths <paths...>',
      'paths to leave unsigned (relative to the model, or under it from here); recorded in the signature',
    )
    .option('--hash <type>', `file hash: ${OMS_HASH_TYPES.join(' or ')}`, 'sha256')
    .option(
      '--shard-size <bytes>',
      'shard serialization: hash each file in byte ranges of this size (OMS default 1000000000)',
    )
    .option('--allow-symlinks', 'follow symbolic links (default: a link is an error)')
    .option('--name <name>', 'subject name (default: the base name)')
    .option('--project <dir>', 'project folder for the policy and audit log')
    .option('--json', 'print the result as JSON')
    .action(async (given: string, o: SignCliOptions) => {
      if (!(OMS_HASH_TYPES as readonly string[]).includes(o.hash ?? 'sha256')) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `--hash must be ${OMS_HASH_TYPES.join(' or ')}, got ${o.hash}`,
        );
      }
      const shardSize = o.shardSize === undefined ? undefined : Number(o.shardSize);
      if (shardSize !== undefined && (!Number.isSafeInteger(shardSize) || shardSize <= 0)) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `--shard-size must be a positive integer, got ${o.shardSize}`,
        );
      }
      const key = await loadPrivateKey(o.key);
      const chain = o.certificateChain
        ? parseCertificatesPem(await readFile(o.certificateChain, 'utf8'), o.certificateChain)
        : undefined;
      const target = await signTarget(given, o);
      const isDir = (await stat(target)).isDirectory();
      const project = o.project ?? findProjectDir(process.cwd());
      const store = project ? SqliteCatalogueStore.open(project) : undefined;
      try {
        if (store) await requirePermission(store, o.key, 'model:register', `sign:${target}`);
        const { records } = isDir ? await recordsOfDir(target) : {};
        // The project's own catalogue changes with every command: signing the project folder
        // leaves it out, openly (recorded in the signature's ignore_paths).
        const catalogueInside = isDir && !!project && resolve(project) === resolve(target);
        const signaturePath = o.signature ?? o.out;
        const r = await signModel(target, key, {
          ...(signaturePath ? { signaturePath } : {}),
          ...(chain ? { certificateChain: chain } : {}),
          ...(o.name ? { name: o.name } : {}),
          ...(records ? { records } : {}),
          hashType: (o.hash ?? 'sha256') as OmsHashType,
          ...(shardSize !== undefined ? { shardSize } : {}),
          ignorePaths: isDir
            ? [
                ...ignorePathsFor(target, o.ignorePaths),
                ...(catalogueInside ? [PROJECT_FOLDER] : []),
              ]
            : [],
          allowSymlinks: !!o.allowSymlinks,
        });
        const signer = keyFingerprint(key);
        if (store) {
          appendAudit(store, {
            actor: signer,
            action: 'sign',
            subject: `${isDir ? 'dir' : 'file'}:${target}`,
            outcome: 'ok',
            digests: {
              root: r.rootDigest,
              ...(r.manifest ? { manifest: manifestDigest(r.manifest) } : {}),
            },
          });
        }
        const files = fileCount(r.statement.predicate.resources);
        const method = chain
          ? `certificate ${chain[0]!.subject.replace(/\n/g, ', ')}`
          : `key ${signer}`;
        printResult(
          o,
          [
            `signed ${target}: ${files}${r.manifest?.records ? `, ${r.manifest.records.count} records` : ''}, root ${r.rootDigest}`,
            `bundle ${r.bundlePath} (OMS v1.0, ${method})`,
            ...(catalogueInside
              ? [
                  `note: ${PROJECT_FOLDER}/ (this project's catalogue) is left out and recorded as an ignored path`,
                ]
              : []),
            ...r.notes.map((n) => `note: ${n}`),
          ].join('\n'),
          {
            bundle: r.bundlePath,
            rootDigest: r.rootDigest,
            ...(r.manifest ? { manifestRoot: r.manifest.rootDigest } : {}),
            signer,
            method: chain ? 'certificate' : 'key',
            notes: r.notes,
          },
        );
      } finally {
        store?.close();
      }
    });
}
