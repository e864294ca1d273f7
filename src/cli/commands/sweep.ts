import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { loadTrigger, type TriggerSpec } from '../../attacks/triggers.js';
import { type Dataset, selectRecords } from '../../data/dataset.js';
import { AntidoteError } from '../../errors.js';
import type { AttackSpec, VictimSpec } from '../../eval/experiment.js';
import { sweep } from '../../eval/sweep.js';
import { triggerPreview } from '../../eval/trigger-preview.js';
import { dataRef, sharedSpec } from '../../jobs/job-data.js';
import { sweepOnQueue } from '../../jobs/sweep-jobs.js';
import { renderImageGrid } from '../../report/image-grid.js';
import { writeSweepOutputs } from '../../report/sweep-chart.js';
import { readText, refuseExistingOutput, writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { Rng } from '../../util/rng.js';
import { parseWith } from '../../util/schema.js';
import { loadDataArg } from '../data-arg.js';
import { optionOrOperand } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { createProgressBar, progressEnabled } from '../progress.js';
import * as queueFlags from '../queue-flags.js';

/**
 * Schema of a sweep spec file. Data are dataset directories or built-in names (paths relative to
 * the working directory); `trainLimit` / `testLimit` keep the first records only. The attack's
 * `rate` (and, with `triggers`, its trigger) is set by the sweep; the attack and trigger values
 * are checked by the library against the data before any training.
 */
export const SweepFileSchema = z
  .object({
    name: z.string().optional(),
    data: z
      .object({
        train: z.string().min(1),
        test: z.string().min(1),
        trainLimit: z.number().int().positive().optional(),
        testLimit: z.number().int().positive().optional(),
      })
      .strict(),
    attack: z.looseObject({ attack: z.enum(['backdoor', 'label-flip']) }),
    victim: z.looseObject({
      model: z.union([z.string(), z.looseObject({ arch: z.string() })]),
      epochs: z.number().int().positive().optional(),
      batchSize: z.number().int().positive().optional(),
      learningRate: z.number().positive().optional(),
    }),
    rates: z.array(z.number().min(0).lt(1)).min(1),
    triggers: z
      .array(z.looseObject({ kind: z.string() }))
      .min(1)
      .optional(),
    seeds: z.array(z.number().int()).min(1),
  })
  .strict();

/** A parsed sweep spec file. */
export type SweepFile = z.infer<typeof SweepFileSchema>;

/** Reads and validates a sweep spec file (`INVALID_CONFIG` naming the first bad field). */
export async function readSweepFile(path: string): Promise<SweepFile> {
  const text = await readText(path, { message: (e) => `cannot read ${path}: ${e.message}` });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new AntidoteError('INVALID_CONFIG', `${path} is not JSON: ${(e as Error).message}`, {
      path,
    });
  }
  return parseWith(SweepFileSchema, json, path, { code: 'INVALID_CONFIG', withField: true });
}

function firstRecords(ds: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= ds.shape[0]!) return ds;
  return selectRecords(
    ds,
    Array.from({ length: limit }, (_, i) => i),
  );
}

interface SweepCliOptions extends OutputOptions, queueFlags.QueueCliOptions {
  spec?: string;
  out: string;
  force?: boolean;
}

/**
 * `antidote sweep --spec SPEC.json --out DIR` (or `antidote sweep SPEC.json …`): runs an attack sweep (poison rates × triggers × seeds)
 * and writes `sweep.json`, `sweep.csv`, `sweep.svg` (and `triggers.png` for backdoors) to DIR,
 * atomically.
 */
export function registerSweepCommand(program: Command): void {
  program
    .command('sweep')
    .description('run an attack sweep (poison rates × triggers × seeds) and chart accuracy and ASR')
    .argument('[spec]', 'the same as --spec (kept as an alias)')
    .option('--spec <file>', 'sweep spec JSON file (data, attack, victim, rates, seeds)')
    .requiredOption('--out <dir>', 'output directory (sweep.json, sweep.csv, sweep.svg)')
    .option('--force', 'replace an existing output directory')
    .option('--json', 'print the sweep table as JSON')
    .option('--quiet', 'no progress bar')
    .option('--queue <url>', queueFlags.QUEUE_HELP)
    .option('--queue-name <name>', queueFlags.QUEUE_NAME_HELP, queueFlags.DEFAULT_QUEUE_NAME)
    .action(async (positional: string | undefined, o: SweepCliOptions) => {
      const specPath = optionOrOperand('--spec <file>', o.spec, positional);
      refuseExistingOutput(o.out, o.force);
      const file = await readSweepFile(specPath);
      const train = firstRecords(
        (await loadDataArg(file.data.train, o)).dataset,
        file.data.trainLimit,
      );
      const test = firstRecords(
        (await loadDataArg(file.data.test, o)).dataset,
        file.data.testLimit,
      );
      const attack = { rate: 0, ...file.attack } as unknown as AttackSpec;
      const triggers = file.triggers as TriggerSpec[] | undefined;
      const runs = file.seeds.length * (triggers?.length ?? 1) * file.rates.length;
      const spec = {
        ...(file.name !== undefined ? { name: file.name } : {}),
        train,
        test,
        attack,
        victim: file.victim as VictimSpec,
        rates: file.rates,
        ...(triggers ? { triggers } : {}),
        seeds: file.seeds,
      };
      const queue = queueFlags.queueTarget(o);
      const onQueue = queue && queueFlags.queueProgress('sweep', o);
      const ref = (spec: string, ds: Dataset, limit?: number) =>
        dataRef(sharedSpec(spec, existsSync), ds, limit !== undefined ? { limit } : {});
      const bar = createProgressBar('sweep', runs, progressEnabled(o) && !queue);
      const result = await (queue && onQueue
        ? sweepOnQueue(queue, spec, {
            refs: {
              train: ref(file.data.train, train, file.data.trainLimit),
              test: ref(file.data.test, test, file.data.testLimit),
            },
            onProgress: onQueue.onProgress,
          }).finally(onQueue.stop)
        : sweep(spec, {
            onProgress: (p) =>
              bar.update(
                p.run,
                `seed ${p.seed} rate ${p.rate}${p.trigger ? ` ${p.trigger}` : ''}: ${p.experiment.stage}` +
                  (p.experiment.training
                    ? ` epoch ${p.experiment.training.epoch}/${p.experiment.training.epochs} batch ${p.experiment.training.batch}/${p.experiment.training.batches}`
                    : ''),
              ),
          })
      ).finally(() => bar.stop());
      const previewSpecs: TriggerSpec[] =
        attack.attack === 'backdoor' ? (triggers ?? [attack.trigger]) : [];
      await writeDirAtomic(
        o.out,
        async (tmp) => {
          await writeSweepOutputs(tmp, result);
          if (previewSpecs.length > 0) {
            const rows = [];
            const rng = new Rng(file.seeds[0]!).fork('preview');
            const base = triggerPreview(test, await loadTrigger(previewSpecs[0]!), 8, rng);
            rows.push(base.clean);
            for (const t of previewSpecs)
              rows.push(triggerPreview(test, await loadTrigger(t), 8, rng).triggered);
            await writeFileAtomic(join(tmp, 'triggers.png'), renderImageGrid(rows, { scale: 4 }));
          }
        },
        { overwrite: o.force ?? false },
      );
      printResult(
        o,
        () =>
          [
            'seed  trigger                     rate     accuracy   drop      ASR',
            ...result.rows.map(
              (r) =>
                `${String(r.seed).padEnd(5)} ${(r.trigger || '-').padEnd(27)} ${pct(r.rate).padEnd(8)} ${pct(r.accuracy).padEnd(10)} ` +
                `${r.accuracyDrop === null ? '-' : pct(r.accuracyDrop)}`.padEnd(10) +
                `${r.attackSuccessRate === null ? '-' : pct(r.attackSuccessRate)}`,
            ),
            `wrote ${join(o.out, 'sweep.json')}, sweep.csv, sweep.svg${previewSpecs.length ? ', triggers.png' : ''}`,
          ].join('\n'),
        { out: o.out, rows: result.rows },
      );
    });
}
