import type { Command } from 'commander';
import { printResult } from '../output.js';
import { actorAndPolicy, openRegistry, type RegistryCliOptions } from './registry-common.js';

/**
 * `antidote rollback MODEL --reason R`: the current production version is archived and the
 * previous good one (or `--to`) becomes production; audited. A running `antidote serve` follows
 * within a second.
 */
export function registerRollbackCommand(program: Command): void {
  program
    .command('rollback <model>')
    .description('restore the previous good production version of a model (audited)')
    .requiredOption('--reason <text>', 'why')
    .option('--to <version>', 'the version to restore (default: the previous production one)')
    .option('--key <file>', 'your key (needs model:promote under the access policy)')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, o: RegistryCliOptions & { reason: string; to?: string }) => {
      const reg = openRegistry(o);
      try {
        const { actor, policy } = await actorAndPolicy(reg, o.key);
        const r = await reg.rollback(name, {
          actor,
          reason: o.reason,
          ...(policy ? { policy } : {}),
          ...(o.to ? { to: o.to } : {}),
        });
        printResult(o, `rolled back ${name}: ${r.from?.id ?? '(none)'} → ${r.to.id}`, {
          from: r.from?.id ?? null,
          to: r.to.id,
        });
      } finally {
        reg.close();
      }
    });
}
