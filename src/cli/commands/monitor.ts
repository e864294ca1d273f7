import type { Command } from 'commander';
import { printResult } from '../output.js';
import { openRegistry, type RegistryCliOptions } from './registry-common.js';

/** `antidote monitor alerts|status`: what the live-traffic monitors of `antidote serve` found. */
export function registerMonitorCommand(program: Command): void {
  const cmd = program.command('monitor').description('alerts and monitoring data of served models');
  cmd
    .command('alerts')
    .description('list stored alerts, newest first')
    .option('--model <name>', 'only this model')
    .option('--limit <n>', 'at most N', (v) => Number.parseInt(v, 10), 50)
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action((o: RegistryCliOptions & { model?: string; limit: number }) => {
      const reg = openRegistry(o);
      try {
        const as = reg.alerts({ ...(o.model ? { name: o.model } : {}), limit: o.limit });
        printResult(
          o,
          () =>
            as
              .map(
                (a) =>
                  `${a.at} ${a.severity.padEnd(8)} ${(a.versionId ?? a.name).padEnd(20)} ${a.monitor}: ${a.message}`,
              )
              .join('\n') || 'no alerts',
          as,
        );
      } finally {
        reg.close();
      }
    });
  cmd
    .command('status')
    .description('production version and the latest monitoring snapshot of a model')
    .requiredOption('--model <name>', 'model name')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action((o: RegistryCliOptions & { model: string }) => {
      const reg = openRegistry(o);
      try {
        const prod = reg.production(o.model);
        const snaps = reg.snapshots(o.model, 1);
        const last = snaps[snaps.length - 1];
        printResult(
          o,
          () =>
            [
              `production: ${prod?.id ?? 'none'}`,
              last
                ? `latest snapshot ${last.at} (${last.versionId ?? ''}): ${Object.entries(
                    last.metrics,
                  )
                    .map(([k, v]) => `${k}=${Number(v).toFixed(4)}`)
                    .join(' ')}`
                : 'no monitoring data yet',
            ].join('\n'),
          { production: prod?.id ?? null, snapshot: last ?? null },
        );
      } finally {
        reg.close();
      }
    });
}
