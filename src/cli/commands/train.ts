import { type Command, Option } from 'commander';
import { activeBackend } from '../../engine/backend.js';
import { trainClassifier } from '../../engine/tf-classifier.js';
import { ARCH_NAMES, type ArchName, type ModelSpec } from '../../engine/zoo.js';
import { loadPrivateKey } from '../../integrity/keys.js';
import { recordTrainingProvenance } from '../../integrity/lineage.js';
import { version } from '../../version.js';
import { loadDataArg } from '../data-arg.js';
import { parseInteger, parseIntegerList, parseNumber } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { progressEnabled, trainingProgress } from '../progress.js';
import { datasetProvenance } from '../provenance.js';

interface TrainCliOptions extends OutputOptions {
  data: string;
  model: ArchName;
  hidden?: number[];
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  validationSplit: number;
  patience?: number;
  threads: number;
  out: string;
  force?: boolean;
  key?: string;
}

/** `antidote train`: trains a model of the zoo on a dataset and saves it. */
export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train a model on a dataset and save it to a model directory')
    .requiredOption(
      '--data <data>',
      'dataset directory or built-in name (mnist, mnist:train, mnist:test)',
    )
    .addOption(new Option('--model <arch>', 'architecture').choices([...ARCH_NAMES]).default('cnn'))
    .option(
      '--hidden <sizes>',
      'hidden layer sizes, comma-separated (mlp; cnn: dense width)',
      parseIntegerList,
    )
    .option('--epochs <n>', 'passes over the data', parseInteger, 2)
    .option('--batch-size <n>', 'records per gradient step', parseInteger, 64)
    .option('--lr <rate>', 'Adam learning rate', parseNumber, 0.001)
    .option('--seed <n>', 'seed for initialisation, split and shuffling', parseInteger, 1)
    .option(
      '--validation-split <share>',
      'share of records held out for validation',
      parseNumber,
      0,
    )
    .option('--patience <epochs>', 'early stopping: epochs without improvement', parseInteger)
    .option(
      '--threads <n>',
      'threads computing gradients (data-parallel worker_threads; results reproducible per seed and thread count)',
      parseInteger,
      1,
    )
    .requiredOption('--out <dir>', 'model directory to write')
    .option('--force', 'replace an existing model directory')
    .option('--key <file>', 'Ed25519 private key (PEM) that signs the SLSA provenance of the run')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress bars')
    .action(async (o: TrainCliOptions) => {
      const privateKey = o.key ? await loadPrivateKey(o.key) : undefined;
      const loaded = await loadDataArg(o.data, o);
      const { dataset } = loaded;
      const startedOn = new Date();
      const spec: ModelSpec = o.hidden ? { arch: o.model, hidden: o.hidden } : { arch: o.model };
      const progress = trainingProgress(`train ${o.model}`, progressEnabled(o));
      const classifier = await trainClassifier(dataset, {
        model: spec,
        seed: o.seed,
        epochs: o.epochs,
        batchSize: o.batchSize,
        learningRate: o.lr,
        validationSplit: o.validationSplit,
        ...(o.patience !== undefined ? { earlyStoppingPatience: o.patience } : {}),
        threads: o.threads,
        onProgress: progress.onProgress,
      }).finally(() => progress.stop());
      try {
        await classifier.save(o.out, { overwrite: o.force ?? false });
        const history = classifier.lastHistory!;

        await recordTrainingProvenance({
          modelDir: o.out,
          datasets: [await datasetProvenance(loaded)],
          code: { version: `antidote@${version}` },
          hyperparameters: {
            model: { ...spec, hidden: spec.hidden ? [...spec.hidden] : null },
            epochs: o.epochs,
            batchSize: o.batchSize,
            learningRate: o.lr,
            validationSplit: o.validationSplit,
            patience: o.patience ?? null,
            threads: o.threads,
            backend: activeBackend(),
          },
          seed: o.seed,
          startedOn,
          finishedOn: new Date(),
          ...(privateKey ? { privateKey } : {}),
        });
        const last =
          history.epochs[history.bestEpoch - 1] ?? history.epochs[history.epochs.length - 1];
        const result = {
          model: o.out,
          spec: classifier.spec,
          records: dataset.shape[0],
          seed: o.seed,
          epochs: history.epochs,
          bestEpoch: history.bestEpoch,
          stoppedEarly: history.stoppedEarly,
          seconds: history.seconds,
          samplesPerSecond: history.samples / history.seconds,
        };
        printResult(
          o,
          () =>
            [
              `trained ${o.model} on ${dataset.shape[0]} records in ${history.seconds.toFixed(1)} s ` +
                `(${Math.round(result.samplesPerSecond)} samples/s)`,
              `epoch ${last.epoch}: loss ${last.loss.toFixed(4)}, accuracy ${pct(last.accuracy)}` +
                (last.valAccuracy !== undefined
                  ? `, validation accuracy ${pct(last.valAccuracy)}`
                  : ''),
              `saved to ${o.out} (with SLSA provenance${privateKey ? ', signed' : ''})`,
            ].join('\n'),
          result,
        );
      } finally {
        classifier.dispose();
      }
    });
}
