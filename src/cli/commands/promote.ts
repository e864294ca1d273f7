import { type Command, Option } from 'commander';
import { AntidoteError } from '../../errors.js';
import { STAGES, type Stage } from '../../registry/model-registry.js';
import { printResult } from '../output.js';
import { actorAndPolicy, openRegistry, type RegistryCliOptions } from './registry-common.js';

/**
 * `antidote promote VERSION`: moves a version forward (default to production). Production needs
 * a passed gate; `--override --reason R` bypasses it only for a holder of `model:promote` under
 * the project's access policy, and is audited.
 */
export function registerPromoteCommand(program: Command): void {
  program
    .command('promote <version>')
    .description('promote a registered version (refused unless it passed the gate)')
    .addOption(
      new Option('--to <stage>', 'target stage')
        .choices(STAGES.filter((s) => s !== 'candidate'))
        .default('production'),
    )
    .option('--override', 'promote to production although the gate did not pass (audited)')
    .option('--reason <text>', 'why (required with --override)')
    .option('--key <file>', 'your key (needs model:promote under the access policy)')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        ref: string,
        o: RegistryCliOptions & { to: Stage; override?: boolean; reason?: string },
      ) => {
        if (o.override && !o.reason?.trim()) {
          throw new AntidoteError('INVALID_ARGUMENT', '--override needs --reason TEXT');
        }
        const reg = openRegistry(o);
        try {
          const { actor, policy } = await actorAndPolicy(reg, o.key);
          const before = reg.get(ref);
          const v = await reg.promote(ref, {
            actor,
            to: o.to,
            ...(policy ? { policy } : {}),
            ...(o.override ? { override: { reason: o.reason! } } : {}),
            ...(o.reason ? { reason: o.reason } : {}),
          });
          printResult(
            o,
            `${v.id}: ${before.stage} → ${v.stage}${o.override && !reg.hasPassedGate(v) ? ' (gate overridden, audited)' : ''}`,
            v,
          );
        } finally {
          reg.close();
        }
      },
    );
}
