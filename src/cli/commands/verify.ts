import { dirname } from 'node:path';
import type { Command } from 'commander';
import { isOnnxPath } from '../../engine/model-summary.js';
import { AntidoteError } from '../../errors.js';
import {
  appendAudit,
  type ExpectedContent,
  loadPublicKey,
  resolveVersion,
  verifyDirectory,
} from '../../integrity/index.js';
import { SqliteCatalogueStore } from '../../registry/sqlite-store.js';
import { findProjectDir, resolveProjectDir } from '../../registry/store.js';
import { type OutputOptions, printResult } from '../output.js';
import { formatProblems, recordsOfDir } from './manifest.js';

/**
 * `antidote verify DIR --key PUB`: signature + full re-hash, naming what does not match.
 * `antidote verify MODEL.onnx` verifies the folder holding it (signed by `antidote sign
 * MODEL.onnx`): any other file there is reported as not signed.
 */
export function registerVerifyCommand(program: Command): void {
  program
    .command('verify <dir>')
    .description('check the signature of DIR and re-hash every file and record against it')
    .requiredOption('--key <file>', 'trusted public key (SPKI PEM)')
    .option('--bundle <file>', 'bundle path (default DIR/antidote.sig)')
    .option(
      '--expect-version <ref>',
      'catalogue version DIR must be (rejects a replayed older signature)',
    )
    .option(
      '--expect-root <digest>',
      'root digest DIR must have (rejects a replayed older signature)',
    )
    .option('--project <dir>', 'project folder (for --expect-version and the audit log)')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        given: string,
        o: OutputOptions & {
          key: string;
          bundle?: string;
          expectVersion?: string;
          expectRoot?: string;
          project?: string;
        },
      ) => {
        const key = await loadPublicKey(o.key);
        const dir = isOnnxPath(given) ? dirname(given) : given;
        let expected: ExpectedContent | undefined = o.expectRoot
          ? { rootDigest: o.expectRoot }
          : undefined;
        const project = o.project ?? findProjectDir(process.cwd());
        const store = o.expectVersion
          ? SqliteCatalogueStore.open(
              resolveProjectDir({ explicit: o.project, cwd: process.cwd() }),
            )
          : project
            ? SqliteCatalogueStore.open(project)
            : undefined;
        try {
          if (o.expectVersion) {
            const v = resolveVersion(store!, 'dataset', o.expectVersion);
            expected = {
              rootDigest: v.rootDigest,
              ...(v.recordsRoot ? { recordsRoot: v.recordsRoot } : {}),
            };
          }
          const { records, note } = await recordsOfDir(dir, true);
          let result: Awaited<ReturnType<typeof verifyDirectory>>;
          try {
            result = await verifyDirectory(dir, key, {
              ...(records ? { records } : {}),
              ...(expected ? { expected } : {}),
              ...(o.bundle ? { bundlePath: o.bundle } : {}),
            });
          } catch (e) {
            if (store && e instanceof AntidoteError) {
              appendAudit(store, {
                actor: 'verifier',
                action: 'verify',
                subject: `dir:${dir}`,
                outcome: 'error',
                details: { code: e.code, message: e.message },
              });
            }
            throw e;
          }
          if (store) {
            appendAudit(store, {
              actor: 'verifier',
              action: 'verify',
              subject: `dir:${dir}`,
              outcome: result.ok ? 'ok' : 'error',
              digests: { root: result.statement.subject[0]?.digest.sha256 ?? '' },
              details: { problems: result.problems.length, signer: result.signer },
            });
          }
          printResult(
            o,
            result.ok
              ? `${dir}: OK — signature by ${result.signer}, ${result.statement.predicate.resources.length} files${records ? `, ${records.length} records` : ''} verified`
              : `${dir}: FAILED (signature by ${result.signer} is valid, content is not)\n${formatProblems(result.problems)}${note ? `\n  (${note})` : ''}`,
            {
              ok: result.ok,
              signer: result.signer,
              problems: result.problems,
              ...(note ? { note } : {}),
            },
          );
          if (!result.ok) {
            throw new AntidoteError(
              'INTEGRITY_MISMATCH',
              `${dir}: ${result.problems[0]?.message ?? 'content does not match'}${result.problems.length > 1 ? ` (and ${result.problems.length - 1} more)` : ''}`,
              {
                path: dir,
                problems: result.problems,
              },
            );
          }
        } finally {
          store?.close();
        }
      },
    );
}
