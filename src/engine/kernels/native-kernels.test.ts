import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxRelativeError, oursAndReference, randomTensor } from '../../testing/kernel-check.js';
import { Rng } from '../../util/rng.js';
import { initEngine } from '../backend.js';
import { FusedAdam } from '../data-parallel-step.js';
import { maxPoolReluGrad } from './max-pool-grad.js';
import { nativeKernels, useKernelsModule } from './native.js';

/** Gradient of Σ f(x) ⊙ w w.r.t. x, read out. */
function gradOf(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, w: tf.Tensor): Float32Array {
  const g = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(f(z), w)))(x);
  const out = g.dataSync() as Float32Array;
  g.dispose();
  return out;
}

const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng.uniform() * (hi - lo + 1));

/** Random convolution shapes (seeded) on which the native kernels take over. */
function convShape(seed: number) {
  const rng = new Rng(seed);
  const kh = int(rng, 1, 4);
  const kw = int(rng, 1, 4);
  return {
    x: [int(rng, 1, 3), int(rng, kh, 12), int(rng, kw, 12), int(rng, 1, 6)] as [
      number,
      number,
      number,
      number,
    ],
    k: [kh, kw] as [number, number],
    co: 4 * int(rng, 1, 5),
    pad: rng.uniform() < 0.5 ? ('same' as const) : ('valid' as const),
  };
}

describe("Antidote's native (WebAssembly SIMD) kernels match TF.js's cpu kernels", () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm' });
  });

  it('are available on the wasm backend', () => {
    expect(nativeKernels('wasm', tf.backend())).toBeDefined();
  });

  for (let seed = 0; seed < 12; seed++) {
    const c = convShape(seed);
    const name = `x=[${c.x}] k=${c.k.join('x')} co=${c.co} ${c.pad}`;
    it(`Conv2DBackpropFilter on random shapes: ${name}`, async () => {
      const { ours, reference } = await oursAndReference(
        'Conv2DBackpropFilter',
        'wasm',
        1000 + seed,
        (rng) =>
          tf.tidy(() => {
            const x = randomTensor(c.x, rng);
            const f = randomTensor([c.k[0], c.k[1], c.x[3], c.co], rng);
            const conv = (ff: tf.Tensor) =>
              tf.conv2d(x as tf.Tensor4D, ff as tf.Tensor4D, 1, c.pad);
            return gradOf(conv, f, randomTensor(conv(f).shape, rng));
          }),
      );
      expect(ours.length).toBe(c.k[0] * c.k[1] * c.x[3] * c.co);
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-4);
    });
    it(`Conv2DBackpropInput and Conv2D on random shapes: ${name}`, async () => {
      const { ours, reference } = await oursAndReference(
        'Conv2DBackpropInput',
        'wasm',
        2000 + seed,
        (rng) =>
          tf.tidy(() => {
            const x = randomTensor(c.x, rng);
            const f = randomTensor([c.k[0], c.k[1], c.x[3], c.co], rng);
            const conv = (z: tf.Tensor) => tf.conv2d(z as tf.Tensor4D, f as tf.Tensor4D, 1, c.pad);
            const y = conv(x);
            const g = gradOf(conv, x, randomTensor(y.shape, rng));
            const out = new Float32Array(g.length + y.size);
            out.set(g);
            out.set(y.dataSync() as Float32Array, g.length);
            return out;
          }),
      );
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-4);
    });
  }

  for (let seed = 0; seed < 6; seed++) {
    const c = convShape(100 + seed);
    const activation = seed % 2 === 0 ? ('relu' as const) : ('linear' as const);
    it(`FusedConv2D (bias, ${activation}) on random shapes: x=[${c.x}] k=${c.k.join('x')} co=${c.co} ${c.pad}`, async () => {
      // The fused kernel is not replaced on cpu: its own kernel is the reference.
      const compute = (rng: Rng) =>
        tf.tidy(() => {
          const x = randomTensor(c.x, rng) as tf.Tensor4D;
          const filter = randomTensor([c.k[0], c.k[1], c.x[3], c.co], rng) as tf.Tensor4D;
          const bias = randomTensor([c.co], rng);
          return tf.fused
            .conv2d({ x, filter, bias, strides: 1, pad: c.pad, activation })
            .dataSync() as Float32Array;
        });
      const ours = compute(new Rng(6000 + seed));
      await tf.setBackend('cpu');
      const reference = compute(new Rng(6000 + seed));
      await tf.setBackend('wasm');
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-4);
    });
  }

  for (let seed = 0; seed < 6; seed++) {
    const rng = new Rng(3000 + seed);
    const shape = [int(rng, 1, 3), int(rng, 2, 13), int(rng, 2, 13), 4 * int(rng, 1, 6)];
    it(`MaxPool and MaxPoolGrad 2×2 stride 2 on random shapes: x=[${shape}]`, async () => {
      const { ours, reference } = await oursAndReference('MaxPoolGrad', 'wasm', 3100 + seed, (r) =>
        tf.tidy(() => {
          // Rounded values: ties inside windows are common.
          const x = tf.round(tf.mul(randomTensor(shape, r), 2));
          const pool = (z: tf.Tensor) => tf.maxPool(z as tf.Tensor4D, 2, 2, 'valid');
          const y = pool(x);
          const g = gradOf(pool, x, randomTensor(y.shape, r));
          // The pooled values too (MaxPool's native kernel; not replaced on cpu).
          const out = new Float32Array(g.length + y.size);
          out.set(g);
          out.set(y.dataSync() as Float32Array, g.length);
          return out;
        }),
      );
      // Equal values (−0 and +0 are equal maxima: either may be reported).
      expect(ours.every((v, k) => v === reference[k])).toBe(true);
    });
  }

  for (let seed = 0; seed < 6; seed++) {
    const rng = new Rng(3500 + seed);
    const shape = [int(rng, 1, 3), int(rng, 2, 13), int(rng, 2, 13), 4 * int(rng, 1, 6)];
    it(`maxPoolReluGrad is MaxPoolGrad then the ReLU's gradient, bit for bit: x=[${shape}]`, () => {
      tf.tidy(() => {
        // A ReLU's output with many zeros and ties; gradients of both signs, zeros included.
        const h = tf.relu(tf.round(tf.mul(randomTensor(shape, rng), 2)));
        const y = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
        const dy = tf.round(tf.mul(randomTensor(y.shape, rng), 2));
        const attrs = {
          filterSize: [2, 2] as [number, number],
          strides: [2, 2] as [number, number],
          pad: 'valid' as const,
        };
        const pooled = tf
          .engine()
          .runKernel('MaxPoolGrad', { dy, input: h, output: y }, attrs) as tf.Tensor;
        // The ReLU's gradient as the lean passes take it: +0 where h is not positive.
        const expected = tf.where(tf.greater(h, 0), pooled, tf.zerosLike(pooled));
        const fused = maxPoolReluGrad('wasm', tf.backend(), h, dy, attrs);
        expect(fused).toBeDefined();
        const got = tf.engine().makeTensorFromTensorInfo(fused!);
        const bits = (t: tf.Tensor) =>
          new Uint32Array((t.dataSync() as Float32Array).slice().buffer);
        expect(bits(got)).toEqual(bits(expected));
      });
    });
  }

  for (let seed = 0; seed < 6; seed++) {
    const rng = new Rng(4000 + seed);
    const shape = [int(rng, 1, 300), int(rng, 1, 5), 4 * int(rng, 1, 12)];
    it(`Sum over leading axes on random shapes: x=[${shape}]`, async () => {
      const { ours, reference } = await oursAndReference('Sum', 'wasm', 4100 + seed, (r) =>
        tf.tidy(() => tf.sum(randomTensor(shape, r), [0, 1]).dataSync() as Float32Array),
      );
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-5);
    });
  }

  for (let seed = 0; seed < 8; seed++) {
    const rng = new Rng(5000 + seed);
    const [m, k, n] = [int(rng, 1, 70), int(rng, 1, 70), int(rng, 1, 70)];
    const ta = seed % 2 === 1;
    const tb = seed % 4 >= 2;
    const batch = seed >= 4 ? [int(rng, 2, 3)] : [];
    const sa = [...batch, ...(ta ? [k, m] : [m, k])];
    const sb = [...batch, ...(tb ? [n, k] : [k, n])];
    it(`BatchMatMul with transposes on random shapes: a=[${sa}]${ta ? 'ᵀ' : ''} b=[${sb}]${tb ? 'ᵀ' : ''}`, async () => {
      const { ours, reference } = await oursAndReference('BatchMatMul', 'wasm', 5100 + seed, (r) =>
        tf.tidy(
          () =>
            tf.matMul(randomTensor(sa, r), randomTensor(sb, r), ta, tb).dataSync() as Float32Array,
        ),
      );
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-4);
    });
  }

  // Shapes that reach the native matmul (column counts multiples of 4) and aᵀ·b as a 1×1 filter
  // gradient (both column counts multiples of 4), including a tail of rows.
  const nativeMm: Array<[number[], number[], boolean, boolean]> = [
    [[64, 784], [784, 256], false, false],
    [[7, 33], [33, 12], false, false],
    [[1, 30, 16], [1, 16, 8], false, false],
    [[64, 784], [64, 256], true, false],
    [[9, 12], [9, 20], true, false],
    [[64, 256], [64, 10], true, false],
    [[6, 20], [36, 20], false, true],
    [[64, 128], [1568, 128], false, true],
  ];
  for (const [i, [sa, sb, ta, tb]] of nativeMm.entries()) {
    it(`BatchMatMul on the native kernels: a=[${sa}]${ta ? 'ᵀ' : ''} b=[${sb}]${tb ? 'ᵀ' : ''}`, async () => {
      const { ours, reference } = await oursAndReference('BatchMatMul', 'wasm', 5200 + i, (r) =>
        tf.tidy(
          () =>
            tf.matMul(randomTensor(sa, r), randomTensor(sb, r), ta, tb).dataSync() as Float32Array,
        ),
      );
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-4);
    });
  }

  for (const [i, [m, k, n, activation]] of (
    [
      [64, 784, 256, 'relu'],
      [5, 17, 12, 'linear'],
      [3, 9, 8, 'relu'],
    ] as const
  ).entries()) {
    it(`_FusedMatMul (bias, ${activation}) on the native kernel: [${m}, ${k}]·[${k}, ${n}]`, async () => {
      // The fused kernel is not replaced on cpu: its own kernel is the reference.
      const compute = (rng: Rng) =>
        tf.tidy(
          () =>
            tf.fused
              .matMul({
                a: randomTensor([m, k], rng) as tf.Tensor2D,
                b: randomTensor([k, n], rng) as tf.Tensor2D,
                bias: randomTensor([n], rng),
                activation,
              })
              .dataSync() as Float32Array,
        );
      const ours = compute(new Rng(5300 + i));
      await tf.setBackend('cpu');
      const reference = compute(new Rng(5300 + i));
      await tf.setBackend('wasm');
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-4);
    });
  }

  it('FusedAdam follows tf.train.adam (native on wasm, JavaScript on cpu), several parts summed', async () => {
    const run = (fused: boolean) => {
      const rng = new Rng(7);
      const vars = [
        tf.variable(randomTensor([13, 7], rng), true, `fa-${fused}-a`),
        tf.variable(randomTensor([5], rng), true, `fa-${fused}-b`),
      ];
      const adam = new FusedAdam(0.01);
      const reference = tf.train.adam(0.01);
      for (let step = 0; step < 5; step++) {
        const parts = vars.map((v) => [0, 1, 2].map(() => randomTensor(v.shape, rng)));
        if (fused) {
          adam.apply(vars, (i) => parts[i]!.map((t) => t.dataSync() as Float32Array));
        } else {
          tf.tidy(() => {
            reference.applyGradients(
              vars.map((v, i) => ({ name: v.name, tensor: tf.addN(parts[i]!) })),
            );
          });
        }
        tf.dispose(parts.flat());
      }
      const out = Float32Array.from(vars.flatMap((v) => Array.from(v.dataSync())));
      adam.dispose();
      reference.dispose();
      tf.dispose(vars);
      return out;
    };
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      expect(maxRelativeError(run(true), run(false))).toBeLessThan(1e-4);
    }
    await tf.setBackend('wasm');
  });

  it('Identity and same-dtype Cast share data and survive the original being disposed', () => {
    const x = tf.tensor([1, 2, 3]);
    const y = tf.clone(x);
    const z = tf.cast(x, 'float32');
    const i = tf.cast(x, 'int32');
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(z.dataSync())).toEqual([1, 2, 3]);
    expect(i.dtype).toBe('int32');
    tf.dispose([y, z, i]);
  });
});

describe('the shipped kernels module', () => {
  it('embeds exactly the committed kernels.wasm (rebuilt together by npm run build:kernels)', async () => {
    const { readFileSync } = await import('node:fs');
    const { KERNELS_WASM_BASE64 } = await import('./native/kernels-wasm.js');
    const wasm = readFileSync(new URL('./native/kernels.wasm', import.meta.url));
    expect(Buffer.from(KERNELS_WASM_BASE64, 'base64').equals(wasm)).toBe(true);
  });
});

describe('useKernelsModule', () => {
  it('binds the backend to another build, and back to the shipped one, with the same results', async () => {
    const { readFileSync } = await import('node:fs');
    await initEngine({ backend: 'wasm' });
    const shipped = nativeKernels('wasm', tf.backend());
    const product = () =>
      tf.tidy(() => {
        const rng = new Rng(7);
        const a = randomTensor([9, 13], rng);
        const b = randomTensor([13, 8], rng);
        return Array.from(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D).dataSync());
      });
    const before = product();
    try {
      useKernelsModule(readFileSync(new URL('./native/kernels.wasm', import.meta.url)));
      const other = nativeKernels('wasm', tf.backend());
      expect(other).toBeDefined();
      expect(other!.k).not.toBe(shipped!.k);
      expect(product()).toEqual(before);
    } finally {
      useKernelsModule();
    }
    const again = nativeKernels('wasm', tf.backend());
    expect(again!.k).not.toBe(shipped!.k);
    expect(product()).toEqual(before);
  });
});
