import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { AntidoteError } from '../../errors.js';
import { runGate } from '../../registry/gate.js';
import { loadGatePolicy } from '../../registry/gate-policy.js';
import { writeFileAtomic } from '../../util/fs.js';
import { printResult } from '../output.js';
import { actorAndPolicy, openRegistry, type RegistryCliOptions } from './registry-common.js';

/** Options of `antidote gate`. */
interface GateCliOptions extends RegistryCliOptions {
  model: string;
  policy: string;
  resultFile: string;
  /** The old name of `--result-file`, still accepted. */
  out?: string;
}

/**
 * `antidote gate --model M --policy P`: runs the deployment gate on a registered version,
 * prints each check with pass/fail and why, writes the JSON result, and exits 1 (`GATE_FAILED`)
 * when any check fails.
 */
export function registerGateCommand(program: Command): void {
  program
    .command('gate')
    .description('run the deployment gate (signature, dataset, scan, accuracy, backdoor probe)')
    .requiredOption('--model <version>', 'registered version (name@N, or name for the latest)')
    .requiredOption('--policy <file>', 'gate policy (JSON)')
    .option(
      '--result-file <file>',
      'where to write the JSON result (rewritten on every run)',
      'gate-result.json',
    )
    .addOption(new Option('--out <file>', 'old name of --result-file').hideHelp())
    .option('--key <file>', 'your key (recorded as the actor)')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(async (given: GateCliOptions) => {
      const o = { ...given, out: given.out ?? given.resultFile };
      const gate = await loadGatePolicy(o.policy);
      const reg = openRegistry(o);
      try {
        const { actor } = await actorAndPolicy(reg, o.key);
        const r = await runGate(reg, o.model, gate, {
          actor,
          ...(o.quiet || o.json
            ? {}
            : {
                onProgress: (p) => {
                  if (p.stage === 'start') process.stderr.write(`gate: ${p.check}…\n`);
                },
              }),
        });
        await writeFileAtomic(resolve(o.out), `${JSON.stringify(r, null, 2)}\n`);
        printResult(
          o,
          () =>
            [
              `gate for ${r.model} (policy ${r.policyDigest.slice(0, 12)}):`,
              ...r.checks.map((c) => `  ${c.passed ? 'PASS' : 'FAIL'}  ${c.name}: ${c.reason}`),
              r.passed
                ? `PASSED: ${r.model} may be promoted (result in ${o.out})`
                : `FAILED: ${r.checks.filter((c) => !c.passed).length} check(s) failed (result in ${o.out})`,
            ].join('\n'),
          r,
        );
        if (!r.passed) {
          throw new AntidoteError(
            'GATE_FAILED',
            `${r.model} did not pass the gate: ${r.checks
              .filter((c) => !c.passed)
              .map((c) => c.name)
              .join(', ')}${r.checks.length === 0 ? 'the policy has no checks' : ''}`,
            { model: r.model, path: resolve(o.out) },
          );
        }
      } finally {
        reg.close();
      }
    });
}
