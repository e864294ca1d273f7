import { existsSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { numRecords } from '../../data/dataset.js';
import { loadModel } from '../../engine/model.js';
import { AntidoteError } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { addDataOptions, loadDataArg } from '../data-arg.js';
import { addOnnxFlags, type OnnxCliOptions, onnxLoadOptions } from '../onnx-flags.js';
import { type OutputOptions, pct, printResult } from '../output.js';

interface PredictCliOptions extends OutputOptions, OnnxCliOptions {
  model: string;
  data: string;
  predictionsFile?: string;
  /** The old name of `--predictions-file`, still accepted. */
  out?: string;
  force?: boolean;
}

/**
 * `antidote predict`: runs a saved model (image, text or tabular) on a dataset; accuracy, and
 * predictions per record.
 */
export function registerPredictCommand(program: Command): void {
  const cmd = program
    .command('predict')
    .description('predict every record of a dataset with a saved model; report accuracy')
    .requiredOption('--model <dir>', 'model directory (from antidote train), or a .onnx file');
  addDataOptions(addOnnxFlags(cmd))
    .requiredOption('--data <data>', 'dataset directory or built-in name')
    .option(
      '--predictions-file <file>',
      'write predictions (JSON Lines: id, label, predicted, probabilities)',
    )
    .addOption(new Option('--out <file>', 'old name of --predictions-file').hideHelp())
    .option('--force', 'replace an existing predictions file')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress bars')
    .action(async (given: PredictCliOptions) => {
      const out = given.predictionsFile ?? given.out;
      const o = { ...given, ...(out !== undefined ? { out } : {}) };
      if (o.out && existsSync(o.out) && !o.force) {
        throw new AntidoteError(
          'ALREADY_EXISTS',
          `${o.out} already exists (pass --force to replace it)`,
          { path: o.out },
        );
      }
      const model = await loadModel(o.model, onnxLoadOptions(o));
      try {
        const loaded = await loadDataArg(o.data, o);
        const { dataset } = loaded;
        model.checkReads(loaded);
        const n = numRecords(dataset);
        const probs = await model.predictProba(dataset);
        const k = model.classes.length;
        const predicted = new Int32Array(n);
        let correct = 0;
        for (let i = 0; i < n; i++) {
          let best = 0;
          for (let j = 1; j < k; j++) if (probs[i * k + j]! > probs[i * k + best]!) best = j;
          predicted[i] = best;
          if (best === dataset.y[i]) correct++;
        }
        if (o.out) {
          const lines = Array.from(dataset.ids, (id, i) =>
            JSON.stringify({
              id,
              label: model.classes[dataset.y[i]!],
              predicted: model.classes[predicted[i]!],
              probabilities: Array.from(probs.subarray(i * k, (i + 1) * k), (p) =>
                Number(p.toFixed(6)),
              ),
            }),
          );
          await writeFileAtomic(o.out, `${lines.join('\n')}\n`);
        }
        const accuracy = n > 0 ? correct / n : 0;
        printResult(
          o,
          `${n} records, accuracy ${pct(accuracy)}${o.out ? `; predictions written to ${o.out}` : ''}`,
          {
            records: n,
            accuracy,
            classes: model.classes,
            ...(o.out ? { predictions: o.out } : {}),
          },
        );
      } finally {
        model.dispose();
      }
    });
}
