import { join } from 'node:path';
import type { Command } from 'commander';
import {
  appendAudit,
  keyFingerprint,
  loadPrivateKey,
  manifestDigest,
  SIGNATURE_FILE,
  signDirectory,
} from '../../integrity/index.js';
import { signedFolderOf } from '../../registry/model-manifest.js';
import { SqliteCatalogueStore } from '../../registry/sqlite-store.js';
import { findProjectDir } from '../../registry/store.js';
import { type OutputOptions, printResult } from '../output.js';
import { recordsOfDir } from './manifest.js';
import { requirePermission } from './policy.js';

/**
 * `antidote sign DIR --key K`: manifest + Sigstore bundle (DSSE, in-toto, model-signing v1.0).
 * A signature covers a folder; `antidote sign MODEL.onnx` signs the folder holding the ONNX
 * model, which must hold only it and its sidecar JSON (`signedFolderOf`), so that the signed
 * root digest is the one the registry records for the model.
 */
export function registerSignCommand(program: Command): void {
  program
    .command('sign <dir>')
    .description(
      `hash DIR and sign it: in-toto statement (model-signing v1.0) in a DSSE envelope in a Sigstore bundle (DIR/${SIGNATURE_FILE})`,
    )
    .requiredOption('--key <file>', 'Ed25519 private key (PKCS#8 PEM)')
    .option('--name <name>', 'subject name (default: the directory name)')
    .option('--out <file>', `bundle path (default DIR/${SIGNATURE_FILE})`)
    .option('--project <dir>', 'project folder for the policy and audit log')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        given: string,
        o: OutputOptions & { key: string; name?: string; out?: string; project?: string },
      ) => {
        const key = await loadPrivateKey(o.key);
        const dir = await signedFolderOf(given);
        const project = o.project ?? findProjectDir(process.cwd());
        const store = project ? SqliteCatalogueStore.open(project) : undefined;
        try {
          if (store) await requirePermission(store, o.key, 'model:register', `sign:${dir}`);
          const { records } = await recordsOfDir(dir);
          const r = await signDirectory(dir, key, {
            ...(o.name ? { name: o.name } : {}),
            ...(records ? { records } : {}),
            ...(o.out ? { bundlePath: o.out } : {}),
            signedAt: new Date().toISOString(),
          });
          const signer = keyFingerprint(key);
          if (store) {
            appendAudit(store, {
              actor: signer,
              action: 'sign',
              subject: `dir:${dir}`,
              outcome: 'ok',
              digests: { root: r.manifest.rootDigest, manifest: manifestDigest(r.manifest) },
            });
          }
          printResult(
            o,
            `signed ${dir}: ${r.manifest.files.length} files${r.manifest.records ? `, ${r.manifest.records.count} records` : ''}, root ${r.manifest.rootDigest}\nbundle ${r.bundlePath} (key ${signer})`,
            {
              bundle: r.bundlePath ?? join(dir, SIGNATURE_FILE),
              rootDigest: r.manifest.rootDigest,
              signer,
            },
          );
        } finally {
          store?.close();
        }
      },
    );
}
