import type { Command } from 'commander';
import { summarizeAttackRecord, summarizeDataset } from '../../data/summary.js';
import type { OnnxInfo, OnnxTensorInfo } from '../../engine/onnx/onnx-info.js';
import { addDataOptions, type DataCliOptions, loadDataArg } from '../data-arg.js';
import { optionOrOperand, parseInteger } from '../options.js';
import { type OutputOptions, printResult } from '../output.js';

interface InfoCliOptions extends OutputOptions, DataCliOptions {
  data?: string;
  limit?: number;
}

/**
 * `antidote info --data DATA` (or `antidote info DATA`): shape, classes with counts, sources and any attack record of a dataset
 * (a dataset directory, a built-in such as `mnist:test`, a PNG folder, a CSV or JSONL file); or,
 * given a `.onnx` file, its inputs, outputs, candidate layers and op counts.
 */
export function registerInfoCommand(program: Command): void {
  const cmd = program
    .command('info')
    .description('describe a dataset: shape, classes and counts, sources, attack record')
    .argument('[data]', 'the same as --data (kept as an alias)')
    .option(
      '--data <data>',
      'dataset directory, PNG class folder, .csv/.jsonl/.npz/.npy file, built-in (mnist, mnist:train, mnist:test), or a .onnx model',
    )
    .option('--limit <n>', 'only the first n records', parseInteger)
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no notices');
  addDataOptions(cmd).action(async (positional: string | undefined, o: InfoCliOptions) => {
    const data = optionOrOperand('--data <data>', o.data, positional);
    if (data.toLowerCase().endsWith('.onnx')) {
      // Read from the protobuf alone: no inference runtime is loaded.
      const { describeOnnx } = await import('../../engine/onnx/onnx-info.js');
      const info = await describeOnnx(data);
      printResult(o, () => formatOnnxInfo(info), info);
      return;
    }
    const loaded = await loadDataArg(data, o);
    const summary = summarizeDataset(loaded.dataset);
    const attack = summarizeAttackRecord(loaded.attack);
    const result = {
      data,
      kind: loaded.kind,
      ...summary,
      ...(attack ? { attack } : {}),
      ...(loaded.meta ? { meta: loaded.meta } : {}),
      ...(loaded.notices?.length ? { notices: loaded.notices } : {}),
    };
    printResult(o, () => formatInfo(result), result);
  });
}

function formatInfo(
  r: ReturnType<typeof summarizeDataset> & {
    data: string;
    kind: string;
    attack?: Record<string, unknown>;
  },
): string {
  const lines = [
    `${r.data} (${r.kind})`,
    `records: ${r.records}`,
    `shape:   [${r.shape.join(', ')}]${r.text ? ' (text records)' : ''}`,
  ];
  if (r.featureRange) lines.push(`values:  ${r.featureRange.min} .. ${r.featureRange.max}`);
  const width = Math.max(...r.classes.map((c) => c.name.length), 5);
  lines.push(`classes: ${r.classes.length}`);
  for (const c of r.classes) {
    const share = r.records ? ((100 * c.count) / r.records).toFixed(1) : '0.0';
    lines.push(`  ${c.name.padEnd(width)}  ${String(c.count).padStart(7)}  ${share.padStart(5)}%`);
  }
  if (r.sources) {
    lines.push(`sources: ${r.sources.distinct}`);
    for (const s of r.sources.top) lines.push(`  ${s.source}  ${s.count}`);
  } else {
    lines.push('sources: none recorded');
  }
  if (r.attack) {
    lines.push('attack record:');
    for (const [k, v] of Object.entries(r.attack)) {
      lines.push(`  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    }
  }
  return lines.join('\n');
}

function tensorLine(t: OnnxTensorInfo): string {
  const shape = t.shape ? `[${t.shape.map((d) => d ?? '?').join(', ')}]` : '(shape not recorded)';
  const type = t.elemType === 1 ? 'float32' : t.elemType === 7 ? 'int64' : null;
  return `  ${t.name}  ${shape}${type ? ` ${type}` : ` (ONNX type ${t.elemType})`}`;
}

function formatOnnxInfo(r: OnnxInfo): string {
  const lines = [
    `${r.path} (ONNX model${r.producer ? `, from ${r.producer}` : ''}, IR ${r.irVersion}, opset ${Object.entries(
      r.opsets,
    )
      .map(([d, v]) => (d ? `${d} ${v}` : String(v)))
      .join(', ')})`,
    'inputs:',
    ...r.inputs.map(tensorLine),
    `layout:  ${r.layout ?? 'not an input Antidote reads'}`,
    'outputs:',
    ...r.outputs.map(tensorLine),
    'error' in r.classifier
      ? `classifier: none (${r.classifier.error})`
      : `classifier: ${r.classifier.name}, ${r.classifier.numClasses} classes, ${r.classifier.probabilities ? 'probabilities (final Softmax)' : 'logits'}`,
    `classes: ${r.classes ? r.classes.join(', ') : 'not named (0..K-1)'}`,
    `sidecar: ${r.sidecar ?? 'none'}`,
    ...(r.normalization
      ? [
          `normalization: (value · ${r.normalization.scale} − mean) / std, mean [${r.normalization.mean.join(', ')}], std [${r.normalization.std.join(', ')}]`,
        ]
      : []),
    ...(r.text
      ? [
          `text: tokenizer ${typeof r.text.tokenizer === 'string' ? r.text.tokenizer : `antidote ${JSON.stringify(r.text.tokenizer)}`}, vocabulary ${typeof r.text.vocabulary === 'string' ? r.text.vocabulary : `${r.text.vocabulary.length} tokens inline`}, pad id ${r.text.padId}, unknown id ${r.text.unknownId ?? 'none (dropped)'}${r.text.maxTokens ? `, ${r.text.maxTokens} tokens` : ''}`,
        ]
      : []),
    `layers:${r.layers.length ? '' : '  none'}`,
    ...r.layers.map((l) => `  ${l}${l === r.defaultLayer ? '  (default)' : ''}`),
    `nodes:   ${r.nodes}, weights: ${r.weights}`,
    'ops:',
    ...Object.entries(r.ops)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([op, n]) => `  ${op.padEnd(20)} ${String(n).padStart(5)}`),
  ];
  return lines.join('\n');
}
