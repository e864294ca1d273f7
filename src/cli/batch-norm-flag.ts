/**
 * `--batch-norm train|frozen`: how an imported ONNX model's BatchNormalization runs while a
 * command fine-tunes it (docs/onnx.md, "Batch normalization while fine-tuning").
 */
import { type Command, Option } from 'commander';
import { AntidoteError } from '../errors.js';

/** The parsed `--batch-norm` flag (see {@link addBatchNormFlag}). */
export interface BatchNormCliOptions {
  batchNorm?: 'train' | 'frozen';
}

/**
 * Adds `--batch-norm train|frozen` to a command that fine-tunes an imported ONNX model: how its
 * BatchNormalization runs while training (docs/onnx.md; the library's default, `train`, when
 * not given). Returns `cmd`.
 */
export function addBatchNormFlag(cmd: Command, what: string): Command {
  return cmd.addOption(
    new Option(
      '--batch-norm <mode>',
      `ONNX models, ${what}: BatchNormalization in training mode (batch statistics, running mean/variance updated, as PyTorch's model.train(); the default) or frozen (running statistics kept)`,
    ).choices(['train', 'frozen']),
  );
}

/**
 * The `batchNorm` training option `o` asks for (none when the flag is not given).
 * `INVALID_ARGUMENT` when it is given for a model of another `kind` than `onnx`.
 */
export function batchNormOption(
  o: BatchNormCliOptions,
  kind: string,
): { batchNorm?: 'train' | 'frozen' } {
  if (o.batchNorm === undefined) return {};
  if (kind !== 'onnx') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--batch-norm applies to ONNX models fine-tuned by Antidote; this is a ${kind} model`,
      { field: 'batch-norm' },
    );
  }
  return { batchNorm: o.batchNorm };
}
