/**
 * How records are prepared for an ONNX model (issue 17, part 4): the input layout (NCHW or NHWC,
 * read from the input shape unless overridden) and the per-channel normalisation (from the
 * sidecar JSON, overridden field by field by the caller's options, e.g. the CLI's `--layout`,
 * `--scale`, `--mean`, `--std`). Also what a report records of it ({@link OnnxPreprocessing}).
 * No ONNX Runtime here: the CLI imports these types without loading it.
 */
import { AntidoteError } from '../../errors.js';
import type { OnnxLayout } from './onnx-graph.js';
import type { OnnxNormalization } from './onnx-sidecar.js';

/** Image layouts a caller may force (a flat input has no layout to choose). */
export type OnnxImageLayout = 'nchw' | 'nhwc';

/**
 * What a caller may set when loading an ONNX model; each field overrides what Antidote reads
 * from the model (`layout`) or its sidecar (each normalisation field on its own).
 */
export interface OnnxLoadOptions {
  /** The input layout of a rank-4 input, instead of the one read from its shape. */
  readonly layout?: OnnxImageLayout;
  /** Multiplies every value before `mean` and `std` (e.g. 255 for a model fed 0..255). */
  readonly scale?: number;
  /** Per-channel means (one value: every channel). */
  readonly mean?: readonly number[];
  /** Per-channel standard deviations (one value: every channel). */
  readonly std?: readonly number[];
}

/**
 * Where a setting came from: the model file, its sidecar, the caller's options, the sidecar with
 * some fields replaced by options, or nowhere.
 */
export type OnnxSettingSource = 'model' | 'sidecar' | 'options' | 'sidecar+options' | 'none';

/**
 * The preprocessing an ONNX model applies to raw records, as reports record it (JSON data):
 * the layout and where it came from, the normalisation (null: none) and where it came from, and
 * for text models how texts become token ids.
 */
export interface OnnxPreprocessing {
  readonly layout: OnnxLayout | 'tokens';
  readonly layoutSource: OnnxSettingSource;
  readonly normalization: OnnxNormalization | null;
  readonly normalizationSource: OnnxSettingSource;
  readonly text?: {
    readonly tokenizer: string;
    readonly vocabulary: number;
    readonly maxTokens: number;
    readonly padId: number;
    readonly unknownId: number | null;
  };
}

/** True when `o` sets anything (so that a non-ONNX model can refuse it). */
export function hasOnnxOptions(o: OnnxLoadOptions | undefined): boolean {
  return (
    o !== undefined &&
    (o.layout !== undefined || o.scale !== undefined || o.mean !== undefined || o.std !== undefined)
  );
}

/**
 * The layout of an input whose record shape is `recordShape` and whose detected layout is
 * `detected`: `override` when given, which only a rank-3 record (an image) takes;
 * `INVALID_ARGUMENT` naming `where` otherwise.
 */
export function resolveLayout(
  recordShape: readonly number[],
  detected: OnnxLayout,
  override: OnnxImageLayout | undefined,
  where: string,
): { layout: OnnxLayout; source: OnnxSettingSource } {
  if (override === undefined) return { layout: detected, source: 'model' };
  if (recordShape.length !== 3) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `layout ${override} needs an image input ([N, C, H, W] or [N, H, W, C]); ${where} reads [N, ${recordShape.join(', ')}]`,
      { path: where, field: 'layout' },
    );
  }
  return { layout: override, source: 'options' };
}

/** Number of channels of a record of `recordShape` in `layout` (1 for flat inputs). */
export function channelsOf(recordShape: readonly number[], layout: OnnxLayout): number {
  if (layout === 'nchw') return recordShape[0]!;
  if (layout === 'nhwc') return recordShape[2]!;
  return 1;
}

/**
 * The normalisation to apply: the sidecar's, each field replaced by `options`' where set
 * (defaults `scale` 1, `mean` [0], `std` [1]); null when neither sets any. `INVALID_ARGUMENT`
 * for a non-positive scale or std, a non-finite value, or a mean/std whose length is neither 1
 * nor `channels` (naming `where` and where the values came from).
 */
export function resolveNormalization(
  sidecar: OnnxNormalization | undefined,
  options: OnnxLoadOptions | undefined,
  channels: number,
  where: string,
): { normalization: OnnxNormalization | null; source: OnnxSettingSource } {
  const fromOptions =
    options?.scale !== undefined || options?.mean !== undefined || options?.std !== undefined;
  if (!sidecar && !fromOptions) return { normalization: null, source: 'none' };
  const norm: OnnxNormalization = {
    scale: options?.scale ?? sidecar?.scale ?? 1,
    mean: [...(options?.mean ?? sidecar?.mean ?? [0])],
    std: [...(options?.std ?? sidecar?.std ?? [1])],
  };
  const bad = (field: string, why: string) =>
    new AntidoteError('INVALID_ARGUMENT', `${field} ${why} (${where})`, { path: where, field });
  if (!(Number.isFinite(norm.scale) && norm.scale > 0)) throw bad('scale', 'must be > 0');
  for (const [field, values, positive] of [
    ['mean', norm.mean, false],
    ['std', norm.std, true],
  ] as const) {
    if (values.length !== 1 && values.length !== channels) {
      throw bad(
        field,
        `has ${values.length} values; the model has ${channels} channel(s): give 1 or ${channels}`,
      );
    }
    if (values.some((v) => !Number.isFinite(v) || (positive && v <= 0))) {
      throw bad(field, positive ? 'values must be > 0' : 'values must be finite');
    }
  }
  const source = !fromOptions ? 'sidecar' : sidecar ? 'sidecar+options' : 'options';
  return { normalization: norm, source };
}
