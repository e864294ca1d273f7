/**
 * The flags every command taking `--model` offers for ONNX models (issue 17, part 4): the input
 * layout and the per-channel normalisation, each overriding what Antidote reads from the model
 * and its sidecar JSON (see docs/onnx.md). Refused for other models by `loadModel`.
 */
import { type Command, Option } from 'commander';
import type { LoadModelOptions } from '../engine/model.js';
import type { OnnxLoadOptions } from '../engine/onnx/onnx-preprocess.js';
import { parseNumber, parseNumberList } from './options.js';

/** The parsed ONNX flags. */
export interface OnnxCliOptions {
  layout?: 'nchw' | 'nhwc';
  scale?: number;
  mean?: number[];
  std?: number[];
}

/** Adds `--layout`, `--scale`, `--mean` and `--std` to `cmd`; returns it. */
export function addOnnxFlags(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--layout <layout>',
        'ONNX models: the input layout, instead of the one read from its shape',
      ).choices(['nchw', 'nhwc']),
    )
    .option(
      '--scale <n>',
      'ONNX models: multiply values by n before mean/std (e.g. 255); overrides the sidecar',
      parseNumber,
    )
    .option(
      '--mean <values>',
      'ONNX models: per-channel means, comma-separated (one: every channel); overrides the sidecar',
      parseNumberList,
    )
    .option(
      '--std <values>',
      'ONNX models: per-channel standard deviations, comma-separated; overrides the sidecar',
      parseNumberList,
    );
}

/** The `loadModel` options the flags of `o` ask for. */
export function onnxLoadOptions(o: OnnxCliOptions): LoadModelOptions {
  const onnx: OnnxLoadOptions = {
    ...(o.layout ? { layout: o.layout } : {}),
    ...(o.scale !== undefined ? { scale: o.scale } : {}),
    ...(o.mean ? { mean: o.mean } : {}),
    ...(o.std ? { std: o.std } : {}),
  };
  return Object.keys(onnx).length ? { onnx } : {};
}
