import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { addBatchNormFlag, batchNormOption } from './batch-norm-flag.js';

function parse(args: string[]): { batchNorm?: string } {
  const cmd = addBatchNormFlag(new Command('x').exitOverride(), 'test');
  cmd.configureOutput({ writeErr: () => undefined });
  cmd.parse(args, { from: 'user' });
  return cmd.opts();
}

describe('--batch-norm', () => {
  it('takes train or frozen, and nothing by default (the library decides)', () => {
    expect(parse(['--batch-norm', 'frozen']).batchNorm).toBe('frozen');
    expect(parse(['--batch-norm', 'train']).batchNorm).toBe('train');
    expect(parse([]).batchNorm).toBeUndefined();
    expect(() => parse(['--batch-norm', 'eval'])).toThrow(/Allowed choices are train, frozen/);
  });

  it('is passed on for an ONNX model and refused for another', () => {
    expect(batchNormOption({ batchNorm: 'frozen' }, 'onnx')).toEqual({ batchNorm: 'frozen' });
    expect(batchNormOption({}, 'cnn')).toEqual({});
    let error: unknown;
    try {
      batchNormOption({ batchNorm: 'train' }, 'cnn');
    } catch (e) {
      error = e;
    }
    expect(isAntidoteError(error, 'INVALID_ARGUMENT'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/--batch-norm applies to ONNX models.*cnn model/);
  });
});
