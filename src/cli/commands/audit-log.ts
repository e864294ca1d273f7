import type { Command } from 'commander';
import {
  assertAuditChain,
  checkpointAudit,
  loadPrivateKey,
  loadPublicKey,
  verifyAuditChain,
} from '../../integrity/index.js';
import { type OutputOptions, printResult } from '../output.js';
import { openCatalogue } from './dataset-version.js';

/** `antidote audit-log show|verify|checkpoint`: the hash-chained audit log of the project. */
export function registerAuditLogCommand(program: Command): void {
  const cmd = program
    .command('audit-log')
    .description('the append-only, hash-chained audit log of the project');
  cmd
    .command('show')
    .description('list audit entries')
    .option('--limit <n>', 'last N entries', (v) => Number.parseInt(v, 10))
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(async (o: OutputOptions & { limit?: number; project?: string }) => {
      const store = openCatalogue(o);
      try {
        const all = store.auditEntries();
        const es = o.limit ? all.slice(-o.limit) : all;
        printResult(
          o,
          () =>
            es
              .map((e) =>
                `#${e.seq} ${e.time} ${e.actor.slice(0, 23)} ${e.action} ${e.subject ?? ''} ${e.outcome ?? ''}`.trimEnd(),
              )
              .join('\n') || 'audit log is empty',
          es,
        );
      } finally {
        store.close();
      }
    });
  cmd
    .command('verify')
    .description(
      'check the hash chain (and signed checkpoints with --key); names the first bad entry',
    )
    .option('--key <file>', 'public key whose checkpoints to check')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(async (o: OutputOptions & { key?: string; project?: string }) => {
      const store = openCatalogue(o);
      try {
        const v = verifyAuditChain(
          store.auditEntries(),
          store.auditCheckpoints(),
          o.key ? await loadPublicKey(o.key) : undefined,
        );
        printResult(
          o,
          v.ok
            ? `audit log OK: ${v.entries} entries, head ${v.head}${o.key ? `, ${v.checkpointsVerified} checkpoint(s) verified` : ''}`
            : `audit log BROKEN at entry ${v.firstBad!.position}: ${v.firstBad!.reason}`,
          v,
        );
        assertAuditChain(v);
      } finally {
        store.close();
      }
    });
  cmd
    .command('checkpoint')
    .description('sign the current head of the chain (catches a deleted tail later)')
    .requiredOption('--key <file>', 'Ed25519 private key')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(async (o: OutputOptions & { key: string; project?: string }) => {
      const store = openCatalogue(o);
      try {
        assertAuditChain(verifyAuditChain(store.auditEntries()));
        const c = checkpointAudit(store, await loadPrivateKey(o.key));
        printResult(o, `checkpoint at entry ${c.seq} (${c.hash}) signed by ${c.signer}`, c);
      } finally {
        store.close();
      }
    });
}
