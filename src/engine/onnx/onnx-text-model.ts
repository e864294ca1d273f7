/**
 * The {@link M.Model} adapter of ONNX text classifiers (issue 17): a model whose one input is
 * `int64` token ids `[N, L]` (0 or the sidecar's `padId` for padding), e.g. a PyTorch
 * `nn.Embedding` / `nn.EmbeddingBag` model. The sidecar's `text` section says how texts become
 * ids (`./onnx-sidecar.ts`): Antidote's tokenizer (`data/tokenizer.ts`), a vocabulary (one token
 * per line, line i = id i), the unknown and padding ids, the sequence length. Records are
 * featurized once into `[N, L]` ids (carried as float32, exact integers) that the classifier
 * feeds as int64; the representation for detectors is, as for image models, the input of the last
 * Gemm/MatMul (the averaged embedding of a fastText-style model). Inference only.
 */
import { type Dataset, numRecords } from '../../data/dataset.js';
import type { LoadedDataset } from '../../data/load.js';
import { type TokenizerOptions, tokenize } from '../../data/tokenizer.js';
import { AntidoteError } from '../../errors.js';
import { readBytes, readText } from '../../util/fs.js';
import { checkInferenceThreads } from '../data-parallel.js';
import { checkModelReadsData } from '../model-data.js';
import type * as M from '../model-interface.js';
import { OnnxClassifier } from './onnx-classifier.js';
import { checkStandardOps, classifierOutput, dataInputs, ONNX_INT64 } from './onnx-graph.js';
import { hasOnnxOptions, type OnnxLoadOptions, type OnnxPreprocessing } from './onnx-preprocess.js';
import { decodeOnnx, type ProtoModel } from './onnx-proto.js';
import { type OnnxTextSidecar, readSidecar, vocabularyPath } from './onnx-sidecar.js';

/** How texts become token ids (the sidecar's `text` section, resolved). */
export interface OnnxTokenization {
  readonly tokenizer: TokenizerOptions;
  /** Token → id (the first line naming a token wins). */
  readonly ids: ReadonlyMap<string, number>;
  /** Number of vocabulary entries. */
  readonly size: number;
  readonly maxTokens: number;
  readonly padId: number;
  readonly unknownId: number | undefined;
  /** The vocabulary file, when it is one (a model file: hashed and signed). */
  readonly file?: string;
}

/** True when the graph's data input holds token ids (an int64 tensor). */
export function readsTokenIds(model: ProtoModel): boolean {
  return dataInputs(model)[0]?.elemType === ONNX_INT64;
}

/** The vocabulary lines of `text` (a final newline ends the last line; `\r\n` allowed). */
function vocabularyLines(text: string): string[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * The tokenisation of `text` (a sidecar's text section) for an input of `seqLen` ids (undefined:
 * not fixed by the model). The vocabulary file is read from the sidecar's folder.
 * `INVALID_FORMAT` naming the sidecar for a sequence length that is missing or differs from the
 * model's, or ids outside the vocabulary; `NOT_FOUND` for a missing vocabulary file.
 */
export async function resolveTokenization(
  text: OnnxTextSidecar,
  seqLen: number | undefined,
  sidecarPath: string,
): Promise<OnnxTokenization> {
  const bad = (why: string) =>
    new AntidoteError('INVALID_FORMAT', `${sidecarPath}: ${why}`, { path: sidecarPath });
  let tokens: readonly string[];
  let file: string | undefined;
  if (typeof text.vocabulary === 'string') {
    file = vocabularyPath(sidecarPath, text.vocabulary);
    tokens = vocabularyLines(await readText(file));
  } else {
    tokens = text.vocabulary;
  }
  if (text.maxTokens !== undefined && seqLen !== undefined && text.maxTokens !== seqLen) {
    throw bad(`text.maxTokens is ${text.maxTokens} but the model reads ${seqLen} token ids`);
  }
  const maxTokens = seqLen ?? text.maxTokens;
  if (maxTokens === undefined) {
    throw bad('the model does not fix its sequence length: set text.maxTokens');
  }
  for (const [field, id] of [
    ['padId', text.padId],
    ['unknownId', text.unknownId],
  ] as const) {
    if (id !== undefined && id >= Math.max(tokens.length, 1) && !(field === 'padId' && id === 0)) {
      throw bad(`text.${field} ${id} is outside the vocabulary (${tokens.length} tokens)`);
    }
  }
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!ids.has(t)) ids.set(t, i);
  });
  return {
    tokenizer: text.tokenizer === 'antidote' ? {} : text.tokenizer,
    ids,
    size: tokens.length,
    maxTokens,
    padId: text.padId,
    unknownId: text.unknownId,
    ...(file ? { file } : {}),
  };
}

/**
 * The `[n, maxTokens]` token ids of `texts` (float32): tokenised, looked up (unknown tokens to
 * `unknownId`, or dropped without one), truncated to the first `maxTokens`, padded with `padId`.
 */
export function tokenIds(texts: readonly string[], t: OnnxTokenization): Float32Array {
  const L = t.maxTokens;
  const out = new Float32Array(texts.length * L).fill(t.padId);
  texts.forEach((text, i) => {
    let j = 0;
    for (const token of tokenize(text, t.tokenizer)) {
      if (j >= L) break;
      const id = t.ids.get(token) ?? t.unknownId;
      if (id !== undefined) out[i * L + j++] = id;
    }
  });
  return out;
}

/** The token-id input of `graph`: its name and sequence length (undefined when not fixed). */
function tokenInput(graph: ProtoModel, where: string): { name: string; seqLen?: number } {
  const inputs = dataInputs(graph);
  const input = inputs[0];
  const shape = input?.shape ?? [];
  if (!input || inputs.length !== 1 || input.elemType !== ONNX_INT64 || shape.length !== 2) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where}: a text model reads one int64 input of token ids [N, L]; this one has ${inputs.length} input(s)${input ? `, ${input.name} of shape [${shape.map((d) => d ?? '?').join(', ')}]` : ''}`,
      { path: where },
    );
  }
  const seqLen = shape[1];
  return { name: input.name, ...(typeof seqLen === 'number' && seqLen > 0 ? { seqLen } : {}) };
}

const CAPABILITIES: M.ModelCapabilities = Object.freeze({
  threads: true,
  training: false,
  gradients: false,
  pixels: false,
});

/** An ONNX text classifier as a {@link M.Model} (see the module comment). */
export class OnnxTextModel implements M.Model {
  readonly domain = 'text' as const;
  readonly kind = 'onnx';
  readonly capabilities = CAPABILITIES;
  readonly input: M.ModelInput = { kind: 'text' };
  readonly training: ReadonlyArray<Record<string, unknown>> = [];
  /** How texts become ids, for reports. */
  readonly preprocessing: OnnxPreprocessing;

  private constructor(
    /** The `.onnx` file. */
    readonly path: string,
    /** The model file, its sidecar and its vocabulary file. */
    readonly files: readonly string[],
    readonly classifier: OnnxClassifier,
    readonly classes: readonly string[],
    /** How texts become token ids. */
    readonly tokenization: OnnxTokenization,
  ) {
    this.preprocessing = {
      layout: 'tokens',
      layoutSource: 'model',
      normalization: null,
      normalizationSource: 'none',
      text: {
        tokenizer: 'antidote',
        vocabulary: tokenization.size,
        maxTokens: tokenization.maxTokens,
        padId: tokenization.padId,
        unknownId: tokenization.unknownId ?? null,
      },
    };
  }

  /**
   * Loads `path` (a `.onnx` file reading token ids) with its sidecar and vocabulary.
   * `INVALID_FORMAT` for a sidecar without a `text` section or one that does not fit the model,
   * and as `OnnxModel.load`; `INVALID_ARGUMENT` for layout or normalisation options (a text
   * model has neither).
   */
  static async load(path: string, options?: OnnxLoadOptions): Promise<OnnxTextModel> {
    if (hasOnnxOptions(options)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${path} is a text model (token-id input): layout and normalisation options do not apply`,
        { path },
      );
    }
    const bytes = await readBytes(path);
    const graph = decodeOnnx(bytes, path);
    checkStandardOps(graph, path);
    const input = tokenInput(graph, path);
    const out = classifierOutput(graph, path);
    const { sidecar, path: sidecarPath } = await readSidecar(path);
    if (!sidecar.text || !sidecarPath) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${path} reads token ids: its sidecar (${sidecarPath ?? `${path}.json`}) must say how to tokenise, e.g. {"classes": [...], "text": {"vocabulary": "vocab.txt", "unknownId": 1}} (see docs/onnx.md)`,
        { path: sidecarPath ?? path },
      );
    }
    if (sidecar.classes && sidecar.classes.length !== out.numClasses) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${sidecarPath} names ${sidecar.classes.length} classes but ${path} outputs ${out.numClasses}`,
        { path: sidecarPath },
      );
    }
    const tokenization = await resolveTokenization(sidecar.text, input.seqLen, sidecarPath);
    const classifier = await OnnxClassifier.create({
      bytes,
      model: graph,
      inputName: input.name,
      recordShape: [tokenization.maxTokens],
      inputType: 'int64',
      where: path,
    });
    const classes = sidecar.classes ?? Array.from({ length: out.numClasses }, (_, k) => String(k));
    const files = [path, sidecarPath, ...(tokenization.file ? [tokenization.file] : [])];
    return new OnnxTextModel(path, files, classifier, classes, tokenization);
  }

  /**
   * Text records as `[N, maxTokens]` token ids (labels, ids and texts kept).
   * `INVALID_ARGUMENT` for records without text.
   */
  featurize(ds: Dataset): Dataset {
    if (!ds.text) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${this.path} is a text model: it reads text records, not arrays of shape [${ds.shape.slice(1).join(', ')}]`,
        { path: this.path },
      );
    }
    const x = tokenIds(ds.text, this.tokenization);
    return { ...ds, x, shape: [numRecords(ds), this.tokenization.maxTokens] };
  }

  checkReads(loaded: LoadedDataset): void {
    checkModelReadsData(this, this.path, loaded);
  }

  /** The token ids of `ds` and their number, as the classifier takes them. */
  private ids(ds: Dataset): [Float32Array, number] {
    const f = this.featurize(ds);
    return [f.x, numRecords(f)];
  }

  async predictProba(ds: Dataset): Promise<Float32Array> {
    return this.classifier.predictProba(...this.ids(ds));
  }

  /** The tokenizer settings the model reads texts with (for keyword discovery). */
  get tokenizer(): TokenizerOptions {
    return this.tokenization.tokenizer;
  }

  /**
   * Class probabilities or logits (`OnnxClassifier.logits`) of raw texts, `[texts, K]`: what
   * keyword discovery (`kw`) asks of a text model.
   */
  async predictTexts(
    texts: readonly string[],
    output: 'probabilities' | 'logits',
  ): Promise<Float32Array> {
    const x = tokenIds(texts, this.tokenization);
    return output === 'logits'
      ? this.classifier.logits(x, texts.length)
      : this.classifier.predictProba(x, texts.length);
  }

  async predict(ds: Dataset): Promise<Int32Array> {
    return this.classifier.predict(...this.ids(ds));
  }

  /** `INVALID_STATE`: Antidote does not train ONNX text models. */
  trainLike(): Promise<M.DisposableClassifier> {
    const why = `${this.path} is an ONNX text model: Antidote cannot train or fine-tune it (see docs/onnx.md)`;
    return Promise.reject(new AntidoteError('INVALID_STATE', why, { path: this.path }));
  }

  /**
   * Runs inference with `threads` intra-op threads in ONNX Runtime (`OnnxClassifier.setThreads`;
   * new sessions, created lazily). `INVALID_ARGUMENT` outside [1, MAX_ENGINE_THREADS].
   */
  useThreads(threads: number): this {
    checkInferenceThreads(threads);
    this.classifier.setThreads(threads);
    return this;
  }

  /** Releases the ONNX Runtime sessions (in the background). */
  dispose(): void {
    void this.classifier.release().catch(() => undefined);
  }
}
