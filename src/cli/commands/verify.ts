import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { isOnnxPath } from '../../engine/model-summary.js';
import { AntidoteError } from '../../errors.js';
import {
  appendAudit,
  type BundleTrust,
  type ExpectedContent,
  loadPublicKey,
  type ModelVerification,
  parseCertificatesPem,
  resolveVersion,
  SIGNATURE_FILE,
  verifyModel,
} from '../../integrity/index.js';
import { ModelRegistry } from '../../registry/model-registry.js';
import { SqliteCatalogueStore } from '../../registry/sqlite-store.js';
import type { CatalogueStore } from '../../registry/store.js';
import { findProjectDir, resolveProjectDir } from '../../registry/store.js';
import { type OutputOptions, printResult } from '../output.js';
import { formatProblems, recordsOfDir } from './manifest.js';
import { fileCount, ignorePathsFor } from './sign.js';

interface VerifyCliOptions extends OutputOptions {
  key?: string[];
  certificateChain?: string;
  trustedRoot?: string;
  identity?: string;
  identityProvider?: string;
  signature?: string;
  bundle?: string;
  ignorePaths?: string[];
  ignoreUnsignedFiles?: boolean;
  expectVersion?: string;
  expectRoot?: string;
  project?: string;
}

async function trustOf(o: VerifyCliOptions): Promise<BundleTrust> {
  const given = [
    o.key?.length ? '--key' : '',
    o.certificateChain ? '--certificate-chain' : '',
    o.trustedRoot ? '--trusted-root' : '',
  ].filter(Boolean);
  if (given.length !== 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      given.length === 0
        ? 'say what to trust: --key PUB.pem (key method), --certificate-chain CA.pem (certificate method) or --trusted-root ROOT.json --identity ID --identity-provider URL (Sigstore keyless)'
        : `give one of ${given.join(', ')}, not several`,
    );
  }
  if (o.key?.length) {
    const keys: KeyObject[] = [];
    for (const k of o.key) keys.push(await loadPublicKey(k));
    return { kind: 'key', keys };
  }
  if (o.certificateChain) {
    const pem = await readFile(o.certificateChain, 'utf8').catch((e: Error) => {
      throw new AntidoteError('NOT_FOUND', `cannot read ${o.certificateChain}: ${e.message}`, {
        path: o.certificateChain,
      });
    });
    return { kind: 'certificate', anchors: parseCertificatesPem(pem, o.certificateChain) };
  }
  const text = await readFile(o.trustedRoot!, 'utf8').catch((e: Error) => {
    throw new AntidoteError('NOT_FOUND', `cannot read ${o.trustedRoot}: ${e.message}`, {
      path: o.trustedRoot,
    });
  });
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    throw new AntidoteError('INVALID_FORMAT', `${o.trustedRoot} is not JSON`, {
      path: o.trustedRoot,
    });
  }
  return {
    kind: 'sigstore',
    trustedRoot: root,
    ...(o.identity ? { identity: o.identity } : {}),
    ...(o.identityProvider ? { issuer: o.identityProvider } : {}),
  };
}

/**
 * The model and signature `antidote verify PATH` checks: `--signature` (or `--bundle`) when given;
 * else `DIR/antidote.sig` for a directory, `FILE.sig` for a single file, and for an ONNX model
 * without one, the folder holding it (signed by `antidote sign MODEL.onnx`).
 */
async function targetOf(
  given: string,
  o: VerifyCliOptions,
): Promise<{ path: string; signaturePath?: string }> {
  const signaturePath = o.signature ?? o.bundle;
  if (signaturePath) return { path: given, signaturePath };
  const st = await stat(given).catch(() => undefined);
  if (!st) throw new AntidoteError('NOT_FOUND', `no model at ${given}`, { path: given });
  if (st.isDirectory() || existsSync(`${given}.sig`)) return { path: given };
  if (isOnnxPath(given))
    return { path: dirname(given), signaturePath: `${dirname(given)}/${SIGNATURE_FILE}` };
  return { path: given };
}

/**
 * A warning when the signed content is a catalogue version that is not its name's newest: a
 * replayed older signature verifies on its own; `--expect-version` or `--expect-root` refuse it.
 */
function staleWarning(
  store: CatalogueStore | undefined,
  project: string | undefined,
  r: ModelVerification,
): string | undefined {
  const root = r.contentRoot;
  if (!store || !root) return undefined;
  const matches: { id: string; newest: string }[] = [];
  for (const v of store.listVersions('dataset')) {
    if (v.rootDigest !== root) continue;
    const latest = store.latestVersion('dataset', v.name);
    if (latest && latest.id !== v.id) matches.push({ id: v.id, newest: latest.id });
  }
  if (project) {
    try {
      const reg = ModelRegistry.open(project);
      try {
        for (const v of reg.list()) {
          if (v.rootDigest !== root) continue;
          const latest = reg.find(v.name);
          if (latest && latest.id !== v.id) matches.push({ id: v.id, newest: latest.id });
        }
      } finally {
        reg.store.close();
      }
    } catch {
      // No model registry in this project.
    }
  }
  if (matches.length === 0 || matches.some((m) => m.id === m.newest)) return undefined;
  const m = matches[0]!;
  return `the signed content is ${m.id}, but the catalogue's newest is ${m.newest}: an older signature verifies on its own (a replay); pass --expect-version ${m.newest} to refuse it`;
}

/**
 * `antidote verify PATH --signature FILE (--key PUB | --certificate-chain CA.pem | --trusted-root
 * ROOT.json --identity ID --identity-provider URL)`: checks an OpenSSF model-signing v1.0
 * signature (the reference tool's flags) and re-hashes every file (and dataset record) against
 * it, naming what does not match. `--expect-version` / `--expect-root` are the replay defence: a
 * valid but older signature (with its older files) passes a plain verify; they refuse it.
 */
export function registerVerifyCommand(program: Command): void {
  program
    .command('verify <path>')
    .description(
      'check the OpenSSF model-signing signature of a model or dataset (directory or single file) and re-hash every file and record against it',
    )
    .option('--signature <file>', `the bundle (default DIR/${SIGNATURE_FILE}, or FILE.sig)`)
    .option('--bundle <file>', 'same as --signature')
    .option(
      '--key <files...>',
      'key method: trusted public key(s) (SPKI PEM; ECDSA P-256/384/521, or Ed25519)',
    )
    .option('--certificate-chain <file>', 'certificate method: trusted CA certificate(s) (PEM)')
    .option(
      '--trusted-root <file>',
      'Sigstore keyless: the trusted_root.json of the Sigstore instance (offline)',
    )
    .option('--identity <id>', 'Sigstore keyless: the expected signer identity (e-mail or URI)')
    .option('--identity-provider <url>', 'Sigstore keyless: the expected OIDC issuer')
    .option(
      '--ignore-paths <paths...>',
      'paths to leave out of the check (relative to the model, or under it from here)',
    )
    .option('--ignore-unsigned-files', 'do not fail for files present but not signed')
    .option(
      '--expect-version <ref>',
      'replay defence: the catalogue version PATH must be (a valid older signature is refused)',
    )
    .option('--expect-root <digest>', 'replay defence: the root digest PATH must have')
    .option(
      '--project <dir>',
      'project folder (for --expect-version, the stale-version warning and the audit log)',
    )
    .option('--json', 'print the result as JSON')
    .action(async (given: string, o: VerifyCliOptions) => {
      const trust = await trustOf(o);
      const target = await targetOf(given, o);
      let expected: ExpectedContent | undefined = o.expectRoot
        ? { rootDigest: o.expectRoot }
        : undefined;
      const project = o.expectVersion
        ? resolveProjectDir({ explicit: o.project, cwd: process.cwd() })
        : (o.project ?? findProjectDir(process.cwd()));
      const store = project ? SqliteCatalogueStore.open(project) : undefined;
      try {
        if (o.expectVersion) {
          const v = resolveVersion(store!, 'dataset', o.expectVersion);
          expected = {
            rootDigest: v.rootDigest,
            ...(v.recordsRoot ? { recordsRoot: v.recordsRoot } : {}),
          };
        }
        const isDir = (await stat(target.path).catch(() => undefined))?.isDirectory() ?? false;
        const { records, note } = isDir ? await recordsOfDir(target.path, true) : {};
        let result: ModelVerification;
        try {
          result = await verifyModel(target.path, trust, {
            ...(target.signaturePath ? { signaturePath: target.signaturePath } : {}),
            ...(records ? { records } : {}),
            ...(expected ? { expected } : {}),
            ignorePaths: isDir ? ignorePathsFor(target.path, o.ignorePaths) : [],
            ...(o.ignoreUnsignedFiles ? { ignoreUnsignedFiles: true } : {}),
          });
        } catch (e) {
          if (store && e instanceof AntidoteError) {
            appendAudit(store, {
              actor: 'verifier',
              action: 'verify',
              subject: `path:${target.path}`,
              outcome: 'error',
              details: { code: e.code, message: e.message },
            });
          }
          throw e;
        }
        const stale = result.ok && !expected ? staleWarning(store, project, result) : undefined;
        const notes = [...result.notes, ...(note ? [note] : [])];
        if (store) {
          appendAudit(store, {
            actor: 'verifier',
            action: 'verify',
            subject: `path:${result.modelPath}`,
            outcome: result.ok ? 'ok' : 'error',
            digests: { root: result.rootDigest },
            details: {
              problems: result.problems.length,
              signer: result.signer,
              method: result.method,
            },
          });
        }
        const files = fileCount(result.statement.predicate.resources);
        printResult(
          o,
          [
            result.ok
              ? `${result.modelPath}: OK — signature by ${result.signer} (${result.method} method), ${files}${records ? `, ${records.length} records` : ''} verified`
              : `${result.modelPath}: FAILED (signature by ${result.signer} is valid, content is not)\n${formatProblems(result.problems)}`,
            ...(stale ? [`warning: ${stale}`] : []),
            ...notes.map((n) => `note: ${n}`),
          ].join('\n'),
          {
            ok: result.ok,
            signer: result.signer,
            method: result.method,
            rootDigest: result.rootDigest,
            ...(result.contentRoot ? { contentRoot: result.contentRoot } : {}),
            problems: result.problems,
            ...(stale ? { warnings: [stale] } : {}),
            ...(notes.length ? { notes } : {}),
            ...(note ? { note } : {}),
          },
        );
        if (!result.ok) {
          throw new AntidoteError(
            'INTEGRITY_MISMATCH',
            `${result.modelPath}: ${result.problems[0]?.message ?? 'content does not match'}${result.problems.length > 1 ? ` (and ${result.problems.length - 1} more)` : ''}`,
            { path: result.modelPath, problems: result.problems },
          );
        }
      } finally {
        store?.close();
      }
    });
}
