import { type Command, Option } from 'commander';
import { numRecords } from '../../data/dataset.js';
import { dataDomain, type LoadedDataset } from '../../data/load.js';
import { normalizeRange } from '../../data/range.js';
import { adversarialFit } from '../../defenses/adversarial-training.js';
import { activeBackend } from '../../engine/backend.js';
import {
  FeatureModel,
  type FeatureModelKind,
  TABULAR_MODEL_KINDS,
} from '../../engine/feature-model-io.js';
import { TEXT_MODEL_KINDS } from '../../engine/text-models.js';
import { TfClassifier, trainClassifier } from '../../engine/tf-classifier.js';
import { ARCH_NAMES, type ArchName, type ModelSpec } from '../../engine/zoo.js';
import { AntidoteError } from '../../errors.js';
import { loadPrivateKey } from '../../integrity/keys.js';
import { recordTrainingProvenance } from '../../integrity/lineage.js';
import { version } from '../../version.js';
import { addDataOptions, loadDataArg } from '../data-arg.js';
import { parseInteger, parseIntegerList, parseNumber } from '../options.js';
import { type OutputOptions, pct, printResult } from '../output.js';
import { progressEnabled, trainingProgress } from '../progress.js';
import { datasetProvenance } from '../provenance.js';

interface TrainCliOptions extends OutputOptions {
  data: string;
  model?: ArchName | FeatureModelKind;
  hidden?: number[];
  embeddingDim?: number;
  maxVocabulary?: number;
  minDocFreq?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed: number;
  validationSplit: number;
  patience?: number;
  threads: number;
  out: string;
  force?: boolean;
  key?: string;
  adversarial?: boolean;
  epsilon?: number;
  pgdSteps?: number;
  stepSize?: number;
  adversarialShare?: number;
}

/** The models each kind of data takes, the first being the default. */
const MODELS_FOR = {
  features: ['cnn', ...ARCH_NAMES.filter((a) => a !== 'cnn')],
  text: [...TEXT_MODEL_KINDS],
  tabular: [...TABULAR_MODEL_KINDS],
} as const;

/** The model kind for `loaded` (the default of its kind of data when none is asked for). */
function chooseModel(loaded: LoadedDataset, asked: string | undefined): string {
  const domain = dataDomain(loaded);
  const allowed: readonly string[] = MODELS_FOR[domain];
  if (asked === undefined) return allowed[0]!;
  if (!allowed.includes(asked)) {
    const what =
      domain === 'text'
        ? 'text records'
        : domain === 'tabular'
          ? 'tabular records'
          : 'images or feature arrays without a column schema';
    const askedIs = (TEXT_MODEL_KINDS as readonly string[]).includes(asked)
      ? 'a text model'
      : asked === 'cnn'
        ? 'an image model'
        : 'an image or tabular model';
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--model ${asked} is ${askedIs} but ${loaded.spec} holds ${what}: use --model ${allowed.join(', ')}`,
      { field: 'model' },
    );
  }
  return asked;
}

/** Refuses flags that `kind` would silently ignore (`--max-vocabulary` on images, ...). */
function checkKindFlags(o: TrainCliOptions, kind: string, loaded: LoadedDataset): void {
  const ignored = [
    dataDomain(loaded) !== 'text' && o.maxVocabulary !== undefined && '--max-vocabulary',
    dataDomain(loaded) !== 'text' && o.minDocFreq !== undefined && '--min-doc-freq',
    kind !== 'embedding-bag' && o.embeddingDim !== undefined && '--embedding-dim',
  ].filter((f): f is string => typeof f === 'string');
  if (ignored.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${ignored.join(', ')} ${ignored.length > 1 ? 'do' : 'does'} not apply to a ${kind} model on ${loaded.spec}`,
      { field: 'model' },
    );
  }
}

/**
 * `antidote train`: trains a model on a dataset and saves it: a model of the zoo on images and
 * feature arrays, a text model (TF-IDF + logistic / mlp, embedding bag) on text, a tabular model
 * (logistic, mlp; standardisation and one-hot encoding fitted on the data) on tabular records.
 */
export function registerTrainCommand(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a model on a dataset and save it to a model directory')
    .requiredOption(
      '--data <data>',
      'dataset directory, file, built-in or named dataset (mnist:train, sentiment:train, german-credit, ...)',
    )
    .addOption(
      new Option(
        '--model <kind>',
        'architecture (default: cnn for images, tfidf-logistic for text, logistic for tabular data)',
      ).choices([...new Set<string>([...ARCH_NAMES, ...TEXT_MODEL_KINDS, ...TABULAR_MODEL_KINDS])]),
    )
    .option(
      '--hidden <sizes>',
      'hidden layer sizes, comma-separated (mlp, tfidf-mlp; cnn: dense width)',
      parseIntegerList,
    )
    .option('--embedding-dim <n>', 'embedding-bag: embedding width (default 64)', parseInteger)
    .option(
      '--max-vocabulary <n>',
      'text: keep at most this many tokens (default 20000)',
      parseInteger,
    )
    .option(
      '--min-doc-freq <n>',
      'text: drop tokens found in fewer documents (default 2)',
      parseInteger,
    )
    .option(
      '--epochs <n>',
      'passes over the data (default 2 images, 10 text, 30 tabular)',
      parseInteger,
    )
    .option(
      '--batch-size <n>',
      'records per gradient step (default 64 images, 32 otherwise)',
      parseInteger,
    )
    .option(
      '--lr <rate>',
      'Adam learning rate (default 0.001 images, 0.01 text and tabular, 0.005 embedding-bag)',
      parseNumber,
    )
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
    .option(
      '--adversarial',
      'PGD adversarial training (Madry et al. 2018) of an image model, e.g. the robust surrogate of attack clean-label-backdoor',
    )
    .option('--epsilon <ε>', '--adversarial: L∞ budget of the PGD examples trained on', parseNumber)
    .option('--pgd-steps <n>', '--adversarial: PGD steps (default 10)', parseInteger)
    .option('--step-size <α>', '--adversarial: PGD step size (default 2.5·ε / steps)', parseNumber)
    .option(
      '--adversarial-share <share>',
      '--adversarial: share of each batch replaced by PGD examples, in (0, 1] (default 1)',
      parseNumber,
    )
    .requiredOption('--out <dir>', 'model directory to write')
    .option('--force', 'replace an existing model directory')
    .option('--key <file>', 'Ed25519 private key (PEM) that signs the SLSA provenance of the run')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress bars')
    .action(async (o: TrainCliOptions) => {
      checkAdversarialFlags(o);
      const privateKey = o.key ? await loadPrivateKey(o.key) : undefined;
      const loaded = await loadDataArg(o.data, o);
      const kind = chooseModel(loaded, o.model);
      checkKindFlags(o, kind, loaded);
      if (o.adversarial) {
        if (dataDomain(loaded) !== 'features') {
          throw new AntidoteError(
            'INVALID_ARGUMENT',
            `--adversarial trains image and feature-array models; ${o.data} holds ${dataDomain(loaded)} records`,
            { field: 'adversarial' },
          );
        }
        await trainAdversarial(o, loaded, kind as ArchName, privateKey);
        return;
      }
      if (dataDomain(loaded) !== 'features') {
        await trainFeature(o, loaded, kind as FeatureModelKind, privateKey);
        return;
      }
      const arch = kind as ArchName;
      const { epochs, batchSize, lr, dataset, startedOn, spec } = imageTraining(o, loaded, arch);
      const progress = trainingProgress(`train ${arch}`, progressEnabled(o));
      const classifier = await trainClassifier(dataset, {
        model: spec,
        seed: o.seed,
        epochs,
        batchSize,
        learningRate: lr,
        validationSplit: o.validationSplit,
        ...(o.patience !== undefined ? { earlyStoppingPatience: o.patience } : {}),
        threads: o.threads,
        onProgress: progress.onProgress,
      }).finally(() => progress.stop());
      try {
        await classifier.save(o.out, { overwrite: o.force ?? false });
        const history = classifier.lastHistory!;

        await recordImageProvenance(o, loaded, spec, startedOn, privateKey, {
          epochs,
          batchSize,
          learningRate: lr,
          validationSplit: o.validationSplit,
          patience: o.patience ?? null,
          threads: o.threads,
        });
        printTrained(
          o,
          arch,
          classifier.spec,
          numRecords(dataset),
          history,
          privateKey !== undefined,
        );
      } finally {
        classifier.dispose();
      }
    });
  addDataOptions(cmd); // how to read --data (CSV columns, NumPy arrays)
}

type History = NonNullable<FeatureModel['history']>;

/**
 * The settings of an image model's training: the defaults of the flags (2 epochs, batch 64,
 * learning rate 0.001), the data on the [0, 1] scale the audit and the scan read (0–255
 * records are rescaled, with a notice), the model spec.
 */
function imageTraining(o: TrainCliOptions, loaded: LoadedDataset, arch: ArchName) {
  const range = normalizeRange(loaded.dataset, o.data);
  if (range.notice) process.stderr.write(`notice: ${range.notice}\n`);
  const spec: ModelSpec = o.hidden ? { arch, hidden: o.hidden } : { arch };
  return {
    epochs: o.epochs ?? 2,
    batchSize: o.batchSize ?? 64,
    lr: o.lr ?? 0.001,
    dataset: range.dataset,
    startedOn: new Date(),
    spec,
  };
}

/** Writes the SLSA provenance of an image model: its spec, `hyper` and the backend. */
async function recordImageProvenance(
  o: TrainCliOptions,
  loaded: LoadedDataset,
  spec: ModelSpec,
  startedOn: Date,
  privateKey: Awaited<ReturnType<typeof loadPrivateKey>> | undefined,
  hyper: Record<string, unknown>,
): Promise<void> {
  await recordTrainingProvenance({
    modelDir: o.out,
    datasets: [await datasetProvenance(loaded)],
    code: { version: `antidote@${version}` },
    hyperparameters: {
      model: { ...spec, hidden: spec.hidden ? [...spec.hidden] : null },
      ...hyper,
      backend: activeBackend(),
    },
    seed: o.seed,
    startedOn,
    finishedOn: new Date(),
    ...(privateKey ? { privateKey } : {}),
  });
}

/**
 * `--epsilon`, `--pgd-steps`, `--step-size` and `--adversarial-share` only with `--adversarial`,
 * which needs `--epsilon` and takes none of the options `adversarialFit` has not
 * (`--validation-split`, `--patience`, `--threads` above 1); values are checked here, before
 * any data is read.
 */
function checkAdversarialFlags(o: TrainCliOptions): void {
  const fail = (field: string, message: string): never => {
    throw new AntidoteError('INVALID_ARGUMENT', message, { field });
  };
  const pgdFlags = [
    o.epsilon !== undefined && '--epsilon',
    o.pgdSteps !== undefined && '--pgd-steps',
    o.stepSize !== undefined && '--step-size',
    o.adversarialShare !== undefined && '--adversarial-share',
  ].filter((f): f is string => typeof f === 'string');
  if (!o.adversarial) {
    if (pgdFlags.length) fail('adversarial', `${pgdFlags.join(', ')} need --adversarial`);
    return;
  }
  if (o.epsilon === undefined) fail('epsilon', '--adversarial needs --epsilon (the L∞ budget)');
  if (!(o.epsilon! > 0 && o.epsilon! <= 1)) {
    fail('epsilon', `--epsilon must be in (0, 1] (pixels on the [0, 1] scale), got ${o.epsilon}`);
  }
  if (o.adversarialShare !== undefined && !(o.adversarialShare > 0 && o.adversarialShare <= 1)) {
    fail('adversarialShare', `--adversarial-share must be in (0, 1], got ${o.adversarialShare}`);
  }
  if (o.pgdSteps !== undefined && !(o.pgdSteps >= 1 && o.pgdSteps <= 10_000)) {
    fail('pgdSteps', `--pgd-steps must be in [1, 10000], got ${o.pgdSteps}`);
  }
  if (o.stepSize !== undefined && !(o.stepSize > 0 && Number.isFinite(o.stepSize))) {
    fail('stepSize', `--step-size must be positive, got ${o.stepSize}`);
  }
  const unsupported = [
    o.validationSplit > 0 && '--validation-split',
    o.patience !== undefined && '--patience',
    o.threads !== 1 && '--threads',
  ].filter((f): f is string => typeof f === 'string');
  if (unsupported.length) {
    fail('adversarial', `--adversarial does not take ${unsupported.join(', ')}`);
  }
}

/**
 * Trains an image model with PGD adversarial training (`adversarialFit`, Madry et al. 2018),
 * saves it with its provenance (the PGD settings among the hyperparameters).
 */
async function trainAdversarial(
  o: TrainCliOptions,
  loaded: LoadedDataset,
  arch: ArchName,
  privateKey: Awaited<ReturnType<typeof loadPrivateKey>> | undefined,
): Promise<void> {
  const { epochs, batchSize, lr, dataset, startedOn, spec } = imageTraining(o, loaded, arch);
  const pgd = {
    epsilon: o.epsilon!,
    ...(o.pgdSteps !== undefined ? { steps: o.pgdSteps } : {}),
    ...(o.stepSize !== undefined ? { stepSize: o.stepSize } : {}),
  };
  const share = o.adversarialShare ?? 1;
  const classifier = await TfClassifier.create(
    spec,
    dataset.shape.slice(1),
    dataset.classes,
    o.seed,
  );
  try {
    const progress = trainingProgress(`train ${arch} (adversarial)`, progressEnabled(o));
    const fitted = await adversarialFit(classifier, dataset, {
      seed: o.seed,
      pgd,
      adversarialShare: share,
      epochs,
      batchSize,
      learningRate: lr,
      // adversarialFit reports once per epoch: one bar step per epoch.
      onProgress: (p) => progress.onProgress({ ...p, batch: 1, batches: 1, epochEnd: true }),
    }).finally(() => progress.stop());
    await classifier.save(o.out, { overwrite: o.force ?? false });
    const adversarial = {
      epsilon: pgd.epsilon,
      pgdSteps: o.pgdSteps ?? 10,
      stepSize: o.stepSize ?? null,
      adversarialShare: share,
    };
    await recordImageProvenance(o, loaded, spec, startedOn, privateKey, {
      epochs,
      batchSize,
      learningRate: lr,
      adversarial,
    });
    const history: History = {
      epochs: fitted.epochs,
      bestEpoch: fitted.epochs.length,
      stoppedEarly: false,
      samples: epochs * numRecords(dataset),
      seconds: fitted.seconds,
    };
    printTrained(
      o,
      `${arch} (adversarial)`,
      classifier.spec,
      numRecords(dataset),
      history,
      privateKey !== undefined,
      {
        adversarial,
      },
    );
  } finally {
    classifier.dispose();
  }
}

function printTrained(
  o: TrainCliOptions,
  kind: string,
  spec: object,
  records: number,
  history: History,
  signed: boolean,
  extra: Record<string, unknown> = {},
): void {
  const last = history.epochs[history.bestEpoch - 1] ?? history.epochs[history.epochs.length - 1];
  if (!last) throw new AntidoteError('ENGINE_ERROR', 'training recorded no epoch');
  const result = {
    model: o.out,
    spec,
    ...extra,
    records,
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
        `trained ${kind} on ${records} records in ${history.seconds.toFixed(1)} s ` +
          `(${Math.round(result.samplesPerSecond)} samples/s)`,
        `epoch ${last.epoch}: loss ${last.loss.toFixed(4)}, accuracy ${pct(last.accuracy)}` +
          (last.valAccuracy !== undefined ? `, validation accuracy ${pct(last.valAccuracy)}` : ''),
        `saved to ${o.out} (with SLSA provenance${signed ? ', signed' : ''})`,
      ].join('\n'),
    result,
  );
}

/** Trains, saves and records a text or tabular model. */
async function trainFeature(
  o: TrainCliOptions,
  loaded: LoadedDataset,
  kind: FeatureModelKind,
  privateKey: Awaited<ReturnType<typeof loadPrivateKey>> | undefined,
): Promise<void> {
  const startedOn = new Date();
  const vectorizer = {
    ...(o.maxVocabulary !== undefined ? { maxVocabulary: o.maxVocabulary } : {}),
    ...(o.minDocFreq !== undefined ? { minDocFreq: o.minDocFreq } : {}),
  };
  const progress = trainingProgress(`train ${kind}`, progressEnabled(o));
  const model = await FeatureModel.train(
    { dataset: loaded.dataset, ...(loaded.columns ? { columns: loaded.columns } : {}) },
    {
      kind,
      seed: o.seed,
      ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
      ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
      ...(o.lr !== undefined ? { learningRate: o.lr } : {}),
      validationSplit: o.validationSplit,
      ...(o.patience !== undefined ? { earlyStoppingPatience: o.patience } : {}),
      threads: o.threads,
      ...(o.hidden ? { hidden: o.hidden } : {}),
      ...(o.embeddingDim !== undefined ? { embeddingDim: o.embeddingDim } : {}),
      ...(Object.keys(vectorizer).length ? { vectorizer } : {}),
      onProgress: progress.onProgress,
    },
  ).finally(() => progress.stop());
  try {
    await model.save(o.out, { overwrite: o.force ?? false });
    const run = model.training[0] ?? {};
    await recordTrainingProvenance({
      modelDir: o.out,
      datasets: [await datasetProvenance(loaded)],
      code: { version: `antidote@${version}` },
      hyperparameters: {
        model: { ...model.spec, hidden: model.spec.hidden ? [...model.spec.hidden] : null },
        domain: model.domain,
        epochs: run.epochs as number,
        batchSize: run.batchSize as number,
        learningRate: run.learningRate as number,
        validationSplit: o.validationSplit,
        patience: o.patience ?? null,
        threads: o.threads,
        ...(Object.keys(vectorizer).length ? { vectorizer } : {}),
        backend: activeBackend(),
      },
      seed: o.seed,
      startedOn,
      finishedOn: new Date(),
      ...(privateKey ? { privateKey } : {}),
    });
    printTrained(
      o,
      kind,
      model.spec,
      numRecords(loaded.dataset),
      model.history!,
      privateKey !== undefined,
      {
        domain: model.domain,
        features: model.classifier.inputShape[0],
        classes: model.classes,
      },
    );
  } finally {
    model.dispose();
  }
}
