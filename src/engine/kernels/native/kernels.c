// Antidote's WebAssembly SIMD kernels (issue 10): the loops that TF.js's wasm backend runs slowly
// or not at all, written against the backend's own memory. The module imports TF.js's
// WebAssembly.Memory and works on tensors in place: every argument that is a pointer is a byte
// offset into that memory. No static data, no stack, no libc: nothing of the module's own lives
// in TF.js's memory. Rebuild with `npm run build:kernels` (Debian: apt-get install clang lld).
//
// All tensors are float32, images NHWC. Sums run in a fixed order: results are deterministic.

#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name))) name

typedef unsigned int u32;

static inline v128_t madd(v128_t acc, v128_t a, v128_t b) {
  return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b));
}

// out[b][c][r] = a[b][r][c] for `batch` matrices of rows × cols, in 8 × 8 tiles.
void EXPORT(transpose)(const float *a, float *out, u32 batch, u32 rows, u32 cols) {
  for (u32 b = 0; b < batch; b++) {
    const float *src = a + (unsigned long)b * rows * cols;
    float *dst = out + (unsigned long)b * rows * cols;
    for (u32 r0 = 0; r0 < rows; r0 += 8) {
      u32 r1 = r0 + 8 < rows ? r0 + 8 : rows;
      for (u32 c0 = 0; c0 < cols; c0 += 8) {
        u32 c1 = c0 + 8 < cols ? c0 + 8 : cols;
        for (u32 c = c0; c < c1; c++)
          for (u32 r = r0; r < r1; r++) dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
}

// Copies x [n, h, w, c] into xp [n, h + top + bottom, w + left + right, c] with zero borders.
void EXPORT(pad_nhwc)(const float *x, float *xp, u32 n, u32 h, u32 w, u32 c, u32 top, u32 bottom,
                      u32 left, u32 right) {
  u32 hp = h + top + bottom, wp = w + left + right;
  u32 rowp = wp * c, row = w * c;
  for (u32 b = 0; b < n; b++) {
    for (u32 i = 0; i < hp; i++) {
      float *dst = xp + ((unsigned long)b * hp + i) * rowp;
      if (i < top || i >= top + h) {
        for (u32 k = 0; k < rowp; k++) dst[k] = 0;
        continue;
      }
      const float *src = x + ((unsigned long)b * h + (i - top)) * row;
      for (u32 k = 0; k < left * c; k++) dst[k] = 0;
      for (u32 k = 0; k < row; k++) dst[left * c + k] = src[k];
      for (u32 k = (left + w) * c; k < rowp; k++) dst[k] = 0;
    }
  }
}

// dst[r·co + k] += the 4 × 4 tile whose column k is v_k (rows r < rows are stored): the
// transposed accumulators of the filter gradient, added into row-major dw.
static inline void add_tile_transposed(float *dst, u32 co, u32 rows, v128_t v0, v128_t v1,
                                       v128_t v2, v128_t v3) {
  v128_t a = wasm_i32x4_shuffle(v0, v1, 0, 4, 1, 5), b = wasm_i32x4_shuffle(v2, v3, 0, 4, 1, 5);
  v128_t c = wasm_i32x4_shuffle(v0, v1, 2, 6, 3, 7), d = wasm_i32x4_shuffle(v2, v3, 2, 6, 3, 7);
  v128_t r0 = wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), r1 = wasm_i32x4_shuffle(a, b, 2, 3, 6, 7);
  v128_t r2 = wasm_i32x4_shuffle(c, d, 0, 1, 4, 5), r3 = wasm_i32x4_shuffle(c, d, 2, 3, 6, 7);
  wasm_v128_store(dst, wasm_f32x4_add(wasm_v128_load(dst), r0));
  if (rows > 1) wasm_v128_store(dst + co, wasm_f32x4_add(wasm_v128_load(dst + co), r1));
  if (rows > 2) wasm_v128_store(dst + 2 * co, wasm_f32x4_add(wasm_v128_load(dst + 2 * co), r2));
  if (rows > 3) wasm_v128_store(dst + 3 * co, wasm_f32x4_add(wasm_v128_load(dst + 3 * co), r3));
}

// A tile of conv2d_filter_grad of `rows` (1–4) rows from r0 (one vector of inputs) × 8 (wide)
// or 4 channels from o0 (each dy value splatted), accumulated over every pixel of one image and
// added into dwi (filter row i's block).
__attribute__((always_inline)) static inline void filter_tile4(const float *xb, const float *dyb,
                                                               float *dwi, u32 i, u32 r0,
                                                               u32 rows, u32 o0, u32 wide, u32 oh,
                                                               u32 ow, u32 wp, u32 ci, u32 co) {
  v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
  v128_t a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (u32 y = 0; y < oh; y++) {
    const float *xr = xb + ((y + i) * wp) * ci + r0;
    const float *dr = dyb + (y * ow) * co + o0;
    for (u32 x = 0; x < ow; x++) {
      v128_t xv = wasm_v128_load(xr + x * ci);
      const float *d = dr + x * co;
      a0 = madd(a0, xv, wasm_v128_load32_splat(d));
      a1 = madd(a1, xv, wasm_v128_load32_splat(d + 1));
      a2 = madd(a2, xv, wasm_v128_load32_splat(d + 2));
      a3 = madd(a3, xv, wasm_v128_load32_splat(d + 3));
      if (wide) {
        a4 = madd(a4, xv, wasm_v128_load32_splat(d + 4));
        a5 = madd(a5, xv, wasm_v128_load32_splat(d + 5));
        a6 = madd(a6, xv, wasm_v128_load32_splat(d + 6));
        a7 = madd(a7, xv, wasm_v128_load32_splat(d + 7));
      }
    }
  }
  add_tile_transposed(dwi + r0 * co + o0, co, rows, a0, a1, a2, a3);
  if (wide) add_tile_transposed(dwi + r0 * co + o0 + 4, co, rows, a4, a5, a6, a7);
}

// Gradient of a stride-1 convolution w.r.t. its filter, from the padded input xp
// [n, oh + kh − 1, ow + kw − 1, ci] and dy [n, oh, ow, co] (co a multiple of 4):
//   dw[i, j, c, o] = Σ_{b, y, x} xp[b, y + i, x + j, c] · dy[b, y, x, o]
// For a filter row i, the (j, c) pairs are kw·ci consecutive floats of a padded input row: a
// tile of 8 of them (two vectors) × 4 output channels (each dy value splatted) accumulates in
// registers over every pixel of an image, transposed, then is added into dw. Fewer than 8 rows
// left: tiles of 4 rows × 8 (then 4) channels. Every dw value is summed in the same order
// (pixels of an image in row-major order, then images in order), whatever the tile. dw is
// overwritten. xp needs 3 floats of slack after its end (a 4-row tile's tail may read past the
// row; those lanes are discarded).
void EXPORT(conv2d_filter_grad)(const float *xp, const float *dy, float *dw, u32 n, u32 oh,
                                u32 ow, u32 kh, u32 kw, u32 ci, u32 co) {
  u32 wp = ow + kw - 1, hp = oh + kh - 1;
  u32 m = kw * ci;  // rows of a filter-row block
  for (u32 k = 0; k < kh * m * co; k++) dw[k] = 0;
  for (u32 b = 0; b < n; b++) {
    const float *xb = xp + (unsigned long)b * hp * wp * ci;
    const float *dyb = dy + (unsigned long)b * oh * ow * co;
    for (u32 i = 0; i < kh; i++) {
      float *dwi = dw + i * m * co;
      u32 r0 = 0;
      for (; r0 + 8 <= m; r0 += 8) {
        for (u32 o0 = 0; o0 < co; o0 += 4) {
          v128_t l0 = wasm_f32x4_splat(0), l1 = l0, l2 = l0, l3 = l0;
          v128_t h0 = l0, h1 = l0, h2 = l0, h3 = l0;
          for (u32 y = 0; y < oh; y++) {
            const float *xr = xb + ((y + i) * wp) * ci + r0;
            const float *dr = dyb + (y * ow) * co + o0;
            for (u32 x = 0; x < ow; x++) {
              v128_t xl = wasm_v128_load(xr + x * ci);
              v128_t xh = wasm_v128_load(xr + x * ci + 4);
              const float *d = dr + x * co;
              v128_t s0 = wasm_v128_load32_splat(d), s1 = wasm_v128_load32_splat(d + 1);
              v128_t s2 = wasm_v128_load32_splat(d + 2), s3 = wasm_v128_load32_splat(d + 3);
              l0 = madd(l0, xl, s0);
              h0 = madd(h0, xh, s0);
              l1 = madd(l1, xl, s1);
              h1 = madd(h1, xh, s1);
              l2 = madd(l2, xl, s2);
              h2 = madd(h2, xh, s2);
              l3 = madd(l3, xl, s3);
              h3 = madd(h3, xh, s3);
            }
          }
          add_tile_transposed(dwi + r0 * co + o0, co, 4, l0, l1, l2, l3);
          add_tile_transposed(dwi + (r0 + 4) * co + o0, co, 4, h0, h1, h2, h3);
        }
      }
      for (; r0 < m; r0 += 4) {
        u32 rows = m - r0 < 4 ? m - r0 : 4;
        u32 o0 = 0;
        for (; o0 + 8 <= co; o0 += 8)
          filter_tile4(xb, dyb, dwi, i, r0, rows, o0, 1, oh, ow, wp, ci, co);
        if (o0 < co) filter_tile4(xb, dyb, dwi, i, r0, rows, o0, 0, oh, ow, wp, ci, co);
      }
    }
  }
}

// Gradient of a stride-1 convolution w.r.t. its input for few input channels, from the padded
// output gradient dyp [n, h + kh − 1, w + kw − 1, co] (padded by kh − 1 − top above, kw − 1 − left
// on the left) and the filter wt [kh, kw, ci, co] (co a multiple of 4):
//   dx[b, y, x, c] = Σ_{i, j, o} dyp[b, y + kh − 1 − i, x + kw − 1 − j, o] · wt[i, j, c, o]
// One dot product of kh·kw·co terms per input value, in 4 lanes summed at the end.
void EXPORT(conv2d_input_grad_dot)(const float *dyp, const float *wt, float *dx, u32 n, u32 h,
                                   u32 w, u32 kh, u32 kw, u32 ci, u32 co) {
  u32 hp = h + kh - 1, wp = w + kw - 1;
  for (u32 b = 0; b < n; b++) {
    const float *db = dyp + (unsigned long)b * hp * wp * co;
    for (u32 y = 0; y < h; y++) {
      for (u32 x = 0; x < w; x++) {
        float *out = dx + (((unsigned long)b * h + y) * w + x) * ci;
        for (u32 c = 0; c < ci; c++) {
          v128_t acc0 = wasm_f32x4_splat(0), acc1 = acc0;
          for (u32 i = 0; i < kh; i++) {
            const float *drow = db + ((y + kh - 1 - i) * wp + x + kw - 1) * co;
            for (u32 j = 0; j < kw; j++) {
              const float *d = drow - j * co;
              const float *f = wt + ((i * kw + j) * ci + c) * co;
              u32 o = 0;
              for (; o + 8 <= co; o += 8) {
                acc0 = madd(acc0, wasm_v128_load(d + o), wasm_v128_load(f + o));
                acc1 = madd(acc1, wasm_v128_load(d + o + 4), wasm_v128_load(f + o + 4));
              }
              for (; o < co; o += 4) acc0 = madd(acc0, wasm_v128_load(d + o), wasm_v128_load(f + o));
            }
          }
          v128_t s = wasm_f32x4_add(acc0, acc1);
          out[c] = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) +
                   (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3));
        }
      }
    }
  }
}

// Gradient of a 2 × 2, stride-2 max pool whose windows lie inside x [n, h, w, c] (c a multiple
// of 4; dy [n, oh, ow, c]): each window's gradient goes to its first maximum in row-major order.
// max_pool_relu_grad_2x2: x is a ReLU's output, and the gradient is passed back through the ReLU as well (a
// window whose maximum is not positive passes nothing), as relu_grad would after this kernel.
// dx is overwritten (rows and columns outside every window get zeros).
static inline void max_pool_grad(const float *x, const float *dy, float *dx, u32 n, u32 h, u32 w,
                                 u32 c, u32 oh, u32 ow, u32 relu) {
  // Windows that tile x leave nothing to zero.
  if (2 * oh != h || 2 * ow != w) {
    unsigned long total = (unsigned long)n * h * w * c;
    for (unsigned long k = 0; k < total; k++) dx[k] = 0;
  }
  u32 row = w * c;
  v128_t zero = wasm_f32x4_splat(0);
  for (u32 b = 0; b < n; b++) {
    for (u32 y = 0; y < oh; y++) {
      const float *x0 = x + ((unsigned long)b * h + 2 * y) * row;
      float *d0 = dx + ((unsigned long)b * h + 2 * y) * row;
      const float *g = dy + (((unsigned long)b * oh + y) * ow) * c;
      for (u32 xo = 0; xo < ow; xo++) {
        u32 p = 2 * xo * c;
        for (u32 ch = 0; ch < c; ch += 4) {
          v128_t a = wasm_v128_load(x0 + p + ch);
          v128_t bb = wasm_v128_load(x0 + p + c + ch);
          v128_t cc = wasm_v128_load(x0 + row + p + ch);
          v128_t dd = wasm_v128_load(x0 + row + p + c + ch);
          v128_t gv = wasm_v128_load(g + xo * c + ch);
          // Strictly greater: ties keep the earlier candidate.
          v128_t gtb = wasm_f32x4_gt(bb, a);
          v128_t best = wasm_v128_bitselect(bb, a, gtb);
          v128_t gtc = wasm_f32x4_gt(cc, best);
          best = wasm_v128_bitselect(cc, best, gtc);
          v128_t gtd = wasm_f32x4_gt(dd, best);
          v128_t notd = wasm_v128_not(gtd);
          v128_t selc = wasm_v128_and(gtc, notd);
          v128_t later = wasm_v128_or(gtc, gtd);
          v128_t selb = wasm_v128_andnot(gtb, later);
          v128_t sela = wasm_v128_not(wasm_v128_or(gtb, later));
          // 0 + g keeps −0 gradients as +0, like adding onto a zero-filled output.
          v128_t gz = wasm_f32x4_add(zero, gv);
          if (relu) gz = wasm_v128_and(gz, wasm_f32x4_gt(wasm_v128_bitselect(dd, best, gtd), zero));
          wasm_v128_store(d0 + p + ch, wasm_v128_and(gz, sela));
          wasm_v128_store(d0 + p + c + ch, wasm_v128_and(gz, selb));
          wasm_v128_store(d0 + row + p + ch, wasm_v128_and(gz, selc));
          wasm_v128_store(d0 + row + p + c + ch, wasm_v128_and(gz, gtd));
        }
      }
    }
  }
}

void EXPORT(max_pool_grad_2x2)(const float *x, const float *dy, float *dx, u32 n, u32 h, u32 w,
                               u32 c, u32 oh, u32 ow) {
  max_pool_grad(x, dy, dx, n, h, w, c, oh, ow, 0);
}
void EXPORT(max_pool_relu_grad_2x2)(const float *x, const float *dy, float *dx, u32 n, u32 h,
                                    u32 w, u32 c, u32 oh, u32 ow) {
  max_pool_grad(x, dy, dx, n, h, w, c, oh, ow, 1);
}

// Column sums of x [rows, cols] (cols a multiple of 4) into out [cols]: float32 partial sums over
// blocks of 64 rows, added into float64 totals. Sixteen columns at a time, then four.
static inline void add_f32_to_f64(v128_t p, v128_t *lo, v128_t *hi) {
  *lo = wasm_f64x2_add(*lo, wasm_f64x2_promote_low_f32x4(p));
  *hi = wasm_f64x2_add(*hi, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(p, p, 2, 3, 0, 1)));
}
static inline void store_f64_pair(float *out, v128_t lo, v128_t hi) {
  v128_t a = wasm_f32x4_demote_f64x2_zero(lo), b = wasm_f32x4_demote_f64x2_zero(hi);
  wasm_v128_store(out, wasm_i32x4_shuffle(a, b, 0, 1, 4, 5));
}
void EXPORT(sum_rows)(const float *x, float *out, u32 rows, u32 cols) {
  u32 c0 = 0;
  for (; c0 + 16 <= cols; c0 += 16) {
    v128_t z = wasm_f64x2_splat(0);
    v128_t t0 = z, t1 = z, t2 = z, t3 = z, t4 = z, t5 = z, t6 = z, t7 = z;
    for (u32 r0 = 0; r0 < rows; r0 += 64) {
      u32 r1 = r0 + 64 < rows ? r0 + 64 : rows;
      v128_t p0 = wasm_f32x4_splat(0), p1 = p0, p2 = p0, p3 = p0;
      for (u32 r = r0; r < r1; r++) {
        const float *src = x + (unsigned long)r * cols + c0;
        p0 = wasm_f32x4_add(p0, wasm_v128_load(src));
        p1 = wasm_f32x4_add(p1, wasm_v128_load(src + 4));
        p2 = wasm_f32x4_add(p2, wasm_v128_load(src + 8));
        p3 = wasm_f32x4_add(p3, wasm_v128_load(src + 12));
      }
      add_f32_to_f64(p0, &t0, &t1);
      add_f32_to_f64(p1, &t2, &t3);
      add_f32_to_f64(p2, &t4, &t5);
      add_f32_to_f64(p3, &t6, &t7);
    }
    store_f64_pair(out + c0, t0, t1);
    store_f64_pair(out + c0 + 4, t2, t3);
    store_f64_pair(out + c0 + 8, t4, t5);
    store_f64_pair(out + c0 + 12, t6, t7);
  }
  for (; c0 < cols; c0 += 4) {
    v128_t t0 = wasm_f64x2_splat(0), t1 = t0;
    for (u32 r0 = 0; r0 < rows; r0 += 64) {
      u32 r1 = r0 + 64 < rows ? r0 + 64 : rows;
      v128_t p0 = wasm_f32x4_splat(0);
      for (u32 r = r0; r < r1; r++)
        p0 = wasm_f32x4_add(p0, wasm_v128_load(x + (unsigned long)r * cols + c0));
      add_f32_to_f64(p0, &t0, &t1);
    }
    store_f64_pair(out + c0, t0, t1);
  }
}

// dst[k] += src[k] for k < count.
void EXPORT(add_into)(float *dst, const float *src, u32 count) {
  u32 k = 0;
  for (; k + 4 <= count; k += 4)
    wasm_v128_store(dst + k, wasm_f32x4_add(wasm_v128_load(dst + k), wasm_v128_load(src + k)));
  for (; k < count; k++) dst[k] += src[k];
}

// One Adam step over count values: m and v (the moments) in place, the new weights into out:
//   m = β₁m + (1 − β₁)g,  v = β₂v + (1 − β₂)g²,  out = w − lr · (m · c1) / (√(v · c2) + ε)
// with c1 = 1 / (1 − β₁ᵗ), c2 = 1 / (1 − β₂ᵗ). Float32 arithmetic, 4 lanes at a time.
void EXPORT(adam)(const float *g, const float *w, float *m, float *v, float *out, u32 count,
                  float beta1, float beta2, float c1, float c2, float lr, float eps) {
  v128_t b1 = wasm_f32x4_splat(beta1), b1c = wasm_f32x4_splat(1 - beta1);
  v128_t b2 = wasm_f32x4_splat(beta2), b2c = wasm_f32x4_splat(1 - beta2);
  v128_t vc1 = wasm_f32x4_splat(c1), vc2 = wasm_f32x4_splat(c2);
  v128_t vlr = wasm_f32x4_splat(lr), veps = wasm_f32x4_splat(eps);
  u32 k = 0;
  for (; k + 4 <= count; k += 4) {
    v128_t gv = wasm_v128_load(g + k);
    v128_t mv = madd(wasm_f32x4_mul(b1, wasm_v128_load(m + k)), b1c, gv);
    v128_t vv = madd(wasm_f32x4_mul(b2, wasm_v128_load(v + k)), b2c, wasm_f32x4_mul(gv, gv));
    wasm_v128_store(m + k, mv);
    wasm_v128_store(v + k, vv);
    v128_t den = wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_mul(vv, vc2)), veps);
    v128_t step = wasm_f32x4_div(wasm_f32x4_mul(vlr, wasm_f32x4_mul(mv, vc1)), den);
    wasm_v128_store(out + k, wasm_f32x4_sub(wasm_v128_load(w + k), step));
  }
  for (; k < count; k++) {
    float gk = g[k];
    float mk = beta1 * m[k] + (1 - beta1) * gk;
    float vk = beta2 * v[k] + (1 - beta2) * (gk * gk);
    m[k] = mk;
    v[k] = vk;
    out[k] = w[k] - (lr * (mk * c1)) / (__builtin_sqrtf(vk * c2) + eps);
  }
}

// ReLU's backward pass from its output: dx = h > 0 ? dh : 0, for count values.
void EXPORT(relu_grad)(const float *h, const float *dh, float *dx, u32 count) {
  v128_t zero = wasm_f32x4_splat(0);
  u32 k = 0;
  for (; k + 4 <= count; k += 4) {
    v128_t mask = wasm_f32x4_gt(wasm_v128_load(h + k), zero);
    wasm_v128_store(dx + k, wasm_v128_and(wasm_v128_load(dh + k), mask));
  }
  for (; k < count; k++) dx[k] = h[k] > 0 ? dh[k] : 0;
}

// Stores a register tile of up to 4 rows (`rows`) × 8 (wide) or 4 columns, row r in cr0 and
// cr1 (cr1: columns 4–7), after ReLU when relu ≠ 0; rows lie `stride` floats apart.
__attribute__((always_inline)) static inline void store_tile(float *p, u32 stride, u32 rows,
                                                             u32 wide, u32 relu, v128_t c00,
                                                             v128_t c01, v128_t c10, v128_t c11,
                                                             v128_t c20, v128_t c21, v128_t c30,
                                                             v128_t c31) {
  if (relu) {
    v128_t zero = wasm_f32x4_splat(0);
    c00 = wasm_f32x4_max(c00, zero);
    c01 = wasm_f32x4_max(c01, zero);
    c10 = wasm_f32x4_max(c10, zero);
    c11 = wasm_f32x4_max(c11, zero);
    c20 = wasm_f32x4_max(c20, zero);
    c21 = wasm_f32x4_max(c21, zero);
    c30 = wasm_f32x4_max(c30, zero);
    c31 = wasm_f32x4_max(c31, zero);
  }
  wasm_v128_store(p, c00);
  if (wide) wasm_v128_store(p + 4, c01);
  if (rows > 1) {
    wasm_v128_store(p + stride, c10);
    if (wide) wasm_v128_store(p + stride + 4, c11);
  }
  if (rows > 2) {
    wasm_v128_store(p + 2 * stride, c20);
    if (wide) wasm_v128_store(p + 2 * stride + 4, c21);
  }
  if (rows > 3) {
    wasm_v128_store(p + 3 * stride, c30);
    if (wide) wasm_v128_store(p + 3 * stride + 4, c31);
  }
}

// c [m, n] = act(a [m, k] · b [k, n] + bias [n]) (bias = 0: none; relu ≠ 0: ReLU), n a multiple
// of 4, all row-major. Unlike XNNPACK, b is used as it lies (no packing): a dense layer's weights
// change every training step, and packing them costs about as much as the product. Tiles of
// 4 rows × 8 (then 4) columns accumulate in registers over k; the column panel of b stays in
// cache while every row block of a passes over it.
void EXPORT(matmul)(const float *a, const float *b, const float *bias, float *c, u32 m, u32 k,
                    u32 n, u32 relu) {
  v128_t zero = wasm_f32x4_splat(0);
  for (u32 o0 = 0; o0 < n; o0 += 8) {
    u32 wide = o0 + 8 <= n;
    v128_t bias0 = bias ? wasm_v128_load(bias + o0) : zero;
    v128_t bias1 = bias && wide ? wasm_v128_load(bias + o0 + 4) : zero;
    for (u32 r0 = 0; r0 < m; r0 += 4) {
      u32 rows = m - r0 < 4 ? m - r0 : 4;
      // Rows past the end repeat the last one (their results are not stored).
      const float *a0 = a + (unsigned long)r0 * k;
      const float *a1 = a + (unsigned long)(rows > 1 ? r0 + 1 : r0) * k;
      const float *a2 = a + (unsigned long)(rows > 2 ? r0 + 2 : r0) * k;
      const float *a3 = a + (unsigned long)(rows > 3 ? r0 + 3 : r0) * k;
      v128_t c00 = bias0, c01 = bias1, c10 = bias0, c11 = bias1;
      v128_t c20 = bias0, c21 = bias1, c30 = bias0, c31 = bias1;
      const float *bp = b + o0;
      if (wide) {
        for (u32 t = 0; t < k; t++) {
          v128_t d0 = wasm_v128_load(bp + (unsigned long)t * n);
          v128_t d1 = wasm_v128_load(bp + (unsigned long)t * n + 4);
          v128_t s0 = wasm_v128_load32_splat(a0 + t);
          v128_t s1 = wasm_v128_load32_splat(a1 + t);
          v128_t s2 = wasm_v128_load32_splat(a2 + t);
          v128_t s3 = wasm_v128_load32_splat(a3 + t);
          c00 = madd(c00, s0, d0);
          c01 = madd(c01, s0, d1);
          c10 = madd(c10, s1, d0);
          c11 = madd(c11, s1, d1);
          c20 = madd(c20, s2, d0);
          c21 = madd(c21, s2, d1);
          c30 = madd(c30, s3, d0);
          c31 = madd(c31, s3, d1);
        }
      } else {
        for (u32 t = 0; t < k; t++) {
          v128_t d0 = wasm_v128_load(bp + (unsigned long)t * n);
          c00 = madd(c00, wasm_v128_load32_splat(a0 + t), d0);
          c10 = madd(c10, wasm_v128_load32_splat(a1 + t), d0);
          c20 = madd(c20, wasm_v128_load32_splat(a2 + t), d0);
          c30 = madd(c30, wasm_v128_load32_splat(a3 + t), d0);
        }
      }
      store_tile(c + (unsigned long)r0 * n + o0, n, rows, wide, relu, c00, c01, c10, c11, c20, c21,
                 c30, c31);
    }
  }
}

// One output tile of conv2d_tiled: P (1–4) consecutive pixels of an output row × 8 channels
// (wide) or 4, accumulated in registers over the filter rows and the kw·ci inputs of each, from
// bias0/bias1, then ReLU (relu ≠ 0), stored. a0 points at the tile's first input of filter row 0,
// wr at the tile's first weight of filter row 0. Called with constant P and wide, so each variant
// keeps only its own accumulators.
__attribute__((always_inline)) static inline void conv_tile(
    const float *a0, const float *wr, float *yp, u32 P, u32 wide, u32 kh, u32 span, u32 rowp,
    u32 ci, u32 co, v128_t bias0, v128_t bias1, u32 relu) {
  v128_t zero = wasm_f32x4_splat(0);
  v128_t c00 = bias0, c01 = bias1, c10 = bias0, c11 = bias1;
  v128_t c20 = bias0, c21 = bias1, c30 = bias0, c31 = bias1;
  u32 s1 = ci, s2 = 2 * ci, s3 = 3 * ci;
  for (u32 i = 0; i < kh; i++) {
    const float *a = a0 + i * rowp;
    const float *wi = wr + (unsigned long)i * span * co;
    for (u32 t = 0; t < span; t++) {
      v128_t d0 = wasm_v128_load(wi + t * co);
      v128_t d1 = wide ? wasm_v128_load(wi + t * co + 4) : zero;
      v128_t q0 = wasm_v128_load32_splat(a + t);
      c00 = madd(c00, q0, d0);
      if (wide) c01 = madd(c01, q0, d1);
      if (P > 1) {
        v128_t q1 = wasm_v128_load32_splat(a + s1 + t);
        c10 = madd(c10, q1, d0);
        if (wide) c11 = madd(c11, q1, d1);
      }
      if (P > 2) {
        v128_t q2 = wasm_v128_load32_splat(a + s2 + t);
        c20 = madd(c20, q2, d0);
        if (wide) c21 = madd(c21, q2, d1);
      }
      if (P > 3) {
        v128_t q3 = wasm_v128_load32_splat(a + s3 + t);
        c30 = madd(c30, q3, d0);
        if (wide) c31 = madd(c31, q3, d1);
      }
    }
  }
  store_tile(yp, co, P, wide, relu, c00, c01, c10, c11, c20, c21, c30, c31);
}

// A whole output row of conv2d_tiled for one block of 8 (wide) or 4 channels: tiles of 4
// pixels, then one of the 1–3 left.
__attribute__((always_inline)) static inline void conv_row(
    const float *xr, const float *wr, float *yr, u32 ow, u32 wide, u32 kh, u32 span, u32 rowp,
    u32 ci, u32 co, v128_t bias0, v128_t bias1, u32 relu) {
  u32 x0 = 0;
  for (; x0 + 4 <= ow; x0 += 4)
    conv_tile(xr + x0 * ci, wr, yr + x0 * co, 4, wide, kh, span, rowp, ci, co, bias0, bias1, relu);
  const float *a = xr + x0 * ci;
  float *yp = yr + x0 * co;
  u32 left = ow - x0;
  if (left == 3) conv_tile(a, wr, yp, 3, wide, kh, span, rowp, ci, co, bias0, bias1, relu);
  if (left == 2) conv_tile(a, wr, yp, 2, wide, kh, span, rowp, ci, co, bias0, bias1, relu);
  if (left == 1) conv_tile(a, wr, yp, 1, wide, kh, span, rowp, ci, co, bias0, bias1, relu);
}

// Stride-1 convolution from the padded input xp [n, oh + kh − 1, ow + kw − 1, ci] and the filter
// wt [kh, kw, ci, co] (co a multiple of 4), with an optional bias [co] (bias = 0: none) and ReLU
// (relu ≠ 0):
//   y[b, y, x, o] = act(bias[o] + Σ_{i, j, c} xp[b, y + i, x + j, c] · wt[i, j, c, o])
// in tiles of 4 output pixels of a row (the row's last tile: the 1–3 left) × 8 (then 4) output
// channels. For a filter row i, the kw·ci inputs of a pixel are consecutive floats of a padded
// input row (and the next pixel's start ci floats later), so each tile is a small matrix product
// accumulated in registers; every output is summed in the same order whatever its tile.
void EXPORT(conv2d_tiled)(const float *xp, const float *wt, const float *bias, float *y, u32 n,
                          u32 oh, u32 ow, u32 kh, u32 kw, u32 ci, u32 co, u32 relu) {
  u32 wp = ow + kw - 1, hp = oh + kh - 1;
  u32 span = kw * ci, rowp = wp * ci;
  v128_t zero = wasm_f32x4_splat(0);
  for (u32 b = 0; b < n; b++) {
    const float *xb = xp + (unsigned long)b * hp * wp * ci;
    for (u32 r = 0; r < oh; r++) {
      float *yr = y + (((unsigned long)b * oh + r) * ow) * co;
      const float *xr = xb + r * rowp;
      u32 o0 = 0;
      for (; o0 + 8 <= co; o0 += 8) {
        v128_t bias0 = bias ? wasm_v128_load(bias + o0) : zero;
        v128_t bias1 = bias ? wasm_v128_load(bias + o0 + 4) : zero;
        conv_row(xr, wt + o0, yr + o0, ow, 1, kh, span, rowp, ci, co, bias0, bias1, relu);
      }
      if (o0 < co) {
        v128_t bias0 = bias ? wasm_v128_load(bias + o0) : zero;
        conv_row(xr, wt + o0, yr + o0, ow, 0, kh, span, rowp, ci, co, bias0, zero, relu);
      }
    }
  }
}

// 2 × 2, stride-2 max pool whose windows lie inside x [n, h, w, c] (c a multiple of 4) into
// y [n, oh, ow, c].
void EXPORT(max_pool_2x2)(const float *x, float *y, u32 n, u32 h, u32 w, u32 c, u32 oh, u32 ow) {
  u32 row = w * c;
  for (u32 b = 0; b < n; b++) {
    for (u32 r = 0; r < oh; r++) {
      const float *x0 = x + ((unsigned long)b * h + 2 * r) * row;
      float *yr = y + (((unsigned long)b * oh + r) * ow) * c;
      for (u32 xo = 0; xo < ow; xo++) {
        u32 p = 2 * xo * c;
        for (u32 ch = 0; ch < c; ch += 4) {
          v128_t m0 = wasm_f32x4_max(wasm_v128_load(x0 + p + ch), wasm_v128_load(x0 + p + c + ch));
          v128_t m1 = wasm_f32x4_max(wasm_v128_load(x0 + row + p + ch),
                                     wasm_v128_load(x0 + row + p + c + ch));
          wasm_v128_store(yr + xo * c + ch, wasm_f32x4_max(m0, m1));
        }
      }
    }
  }
}
