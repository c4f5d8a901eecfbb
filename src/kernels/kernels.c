/*
 * Our wasm32 kernels: int8 linears y = dequant(quant_rows(x · in_scale) · W) + bias with the int8 graphs' arithmetic
 * (QuantizeLinear + MatMulIntegerToFloat + Mul + Add, tool/graphs/layers.ts: activations quantized per row to
 * [-128, 127], round half to even as onnxruntime; 7-bit per-column int8 weights; int32 sums), onnxruntime's FastGelu,
 * and a ConvNeXt block's depthwise 7×7 convolution on NHWC maps.
 *
 * Two GEMMs over the same quantized rows:
 *  - plain SIMD128: 4 rows × 8 columns, i32x4.dot_i16x8_s on 16-bit pairs (8 products an instruction), any CPU;
 *  - relaxed SIMD: 6 rows × 8 columns, i32x4.relaxed_dot_i8x16_i7x16_add_s (16 products an instruction). Its second
 *    operand is defined only for values in [0, 127]: weights are stored + 64 and 64 × the row's sum is subtracted,
 *    so the integers are the plain kernel's exactly. Built only into kernels-relaxed.wasm.
 *
 * Weights are packed once (`pack_plain` / `pack_relaxed`) in blocks of 8 columns; K must be a multiple of 4 and N of
 * 8 (every linear of the image and text towers is). Memory is a bump allocator: JS keeps weights below a mark and
 * releases per-call scratch above it. Build: `npm run build:kernels` (scripts/build-kernels.ts).
 */
#include <stdint.h>
#include <wasm_simd128.h>

extern unsigned char __heap_base;
static uintptr_t heap_top = (uintptr_t)&__heap_base;

/* 16-byte aligned bytes, or 0 when memory cannot grow. */
__attribute__((export_name("alloc"))) void *alloc(uint32_t bytes) {
  uintptr_t p = (heap_top + 15) & ~(uintptr_t)15;
  uintptr_t end = p + bytes;
  if (end < p) return 0;
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (__SIZE_TYPE__)-1) return 0;
  heap_top = end;
  return (void *)p;
}
__attribute__((export_name("mark"))) uint32_t mark(void) { return (uint32_t)heap_top; }
__attribute__((export_name("release"))) void release(uint32_t to) { heap_top = to; }

/*
 * Per row: v = x · in_scale (when given), xs = max(max|v| / 127, 1e-30), q = rint(v / xs) in [-128, 127] (a true
 * division, as the graphs' Div: no reciprocal, so the integers are onnxruntime's); q as int16 (plain kernel) and int8
 * (relaxed), and the row sums of q (relaxed correction). k is a multiple of 4.
 */
__attribute__((export_name("quantize_rows"))) void quantize_rows(const float *x, const float *in_scale, int m, int k,
                                                                  int16_t *q16, int8_t *q8, int32_t *row_sum,
                                                                  float *xs) {
  for (int r = 0; r < m; r++) {
    const float *row = x + r * k;
    v128_t hi = wasm_f32x4_splat(0.0f), lo = hi;
    for (int j = 0; j < k; j += 4) {
      v128_t v = wasm_v128_load(row + j);
      if (in_scale) v = wasm_f32x4_mul(v, wasm_v128_load(in_scale + j));
      hi = wasm_f32x4_max(hi, v);
      lo = wasm_f32x4_min(lo, v);
    }
    float hv[4], lv[4];
    wasm_v128_store(hv, hi);
    wasm_v128_store(lv, lo);
    float h = hv[0], l = lv[0];
    for (int i = 1; i < 4; i++) {
      h = hv[i] > h ? hv[i] : h;
      l = lv[i] < l ? lv[i] : l;
    }
    float amax = h > -l ? h : -l;
    float s = amax / 127.0f;
    s = s > 1e-30f ? s : 1e-30f;
    xs[r] = s;
    v128_t sv = wasm_f32x4_splat(s), sum = wasm_i32x4_splat(0);
    v128_t top = wasm_f32x4_splat(127.0f), bottom = wasm_f32x4_splat(-128.0f), magic = wasm_f32x4_splat(12582912.0f);
    for (int j = 0; j < k; j += 4) {
      v128_t v = wasm_v128_load(row + j);
      if (in_scale) v = wasm_f32x4_mul(v, wasm_v128_load(in_scale + j));
      /* Clamped to integer bounds, then rounded half to even by adding 1.5·2^23, whose float's low bits are then the
         integer: the same as rint and a saturating conversion, in two instructions (V8's trunc_sat is about eight). NaN
         becomes 127. */
      v128_t t = wasm_f32x4_pmax(bottom, wasm_f32x4_pmin(top, wasm_f32x4_div(v, sv)));
      v128_t qi = wasm_i32x4_sub(wasm_f32x4_add(t, magic), magic);
      sum = wasm_i32x4_add(sum, qi);
      v128_t q16v = wasm_i16x8_narrow_i32x4(qi, qi);
      wasm_v128_store64_lane(q16 + r * k + j, q16v, 0);
      if (q8) wasm_v128_store32_lane(q8 + r * k + j, wasm_i8x16_narrow_i16x8(q16v, q16v), 0);
    }
    if (row_sum)
      row_sum[r] = wasm_i32x4_extract_lane(sum, 0) + wasm_i32x4_extract_lane(sum, 1) + wasm_i32x4_extract_lane(sum, 2) +
                   wasm_i32x4_extract_lane(sum, 3);
  }
}

/*
 * onnxruntime's FastGelu, in place: u = v · (C·v² + B), tanh by MLAS's rational approximation (clamped to ±9, its
 * coefficients and evaluation order), then 0.5·v·(tanh + 1). n is a multiple of 4.
 */
static inline v128_t mlas_tanh(v128_t v) {
  v = wasm_f32x4_pmax(wasm_f32x4_pmin(v, wasm_f32x4_splat(9.0f)), wasm_f32x4_splat(-9.0f));
  v128_t x2 = wasm_f32x4_mul(v, v);
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), wasm_f32x4_splat(c))
  v128_t p = MADD(wasm_f32x4_splat(-2.76076847742355e-16f), x2, 2.00018790482477e-13f);
  p = MADD(p, x2, -8.60467152213735e-11f);
  p = MADD(p, x2, 5.12229709037114e-08f);
  p = MADD(p, x2, 1.48572235717979e-05f);
  p = MADD(p, x2, 6.37261928875436e-04f);
  p = MADD(p, x2, 4.89352455891786e-03f);
  p = wasm_f32x4_mul(p, v);
  v128_t q = MADD(wasm_f32x4_splat(1.19825839466702e-06f), x2, 1.18534705686654e-04f);
  q = MADD(q, x2, 2.26843463243900e-03f);
  q = MADD(q, x2, 4.89352518554385e-03f);
#undef MADD
  return wasm_f32x4_div(p, q);
}

__attribute__((export_name("fast_gelu"))) void fast_gelu(float *x, int n) {
  const v128_t b = wasm_f32x4_splat(0.7978845608028654f), c = wasm_f32x4_splat(0.035677408136300125f);
  const v128_t half = wasm_f32x4_splat(0.5f), one = wasm_f32x4_splat(1.0f);
  for (int i = 0; i < n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    v128_t u = wasm_f32x4_mul(v, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(c, v), v), b));
    v128_t t = mlas_tanh(u);
    wasm_v128_store(x + i, wasm_f32x4_mul(wasm_f32x4_mul(half, v), wasm_f32x4_add(t, one)));
  }
}

/*
 * Depthwise 7×7 convolution, stride 1, zero padding 3, on an NHWC map [h, w, c] with weights [7, 7, c] (the graphs'
 * [c, 1, 7, 7] repacked) and a bias: a ConvNeXt block's spatial mixing, without the NCHW round trip the graphs make.
 * Accumulators stay in registers across the 49 taps (the interior four outputs at a time); c is a multiple of 4.
 */
/* Rows [i0, i1) and columns [j0, j1) of the 7×7 kernel that fall inside an h × w map for output (oy, ox). */
static inline void window(int oy, int ox, int h, int w, int *i0, int *i1, int *j0, int *j1) {
  *i0 = oy < 3 ? 3 - oy : 0;
  *i1 = oy + 4 > h ? h - oy + 3 : 7;
  *j0 = ox < 3 ? 3 - ox : 0;
  *j1 = ox + 4 > w ? w - ox + 3 : 7;
}

#define TAP(a, xp, kp) a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xp), wasm_v128_load(kp)))

/*
 * Six neighbouring outputs of one row, four channels at a time: per kernel row, its seven weights are loaded once and
 * each of the twelve inputs the six outputs read is loaded once and used for every output that needs it (19 loads for
 * 42 multiply-adds), and six accumulators keep six independent chains of adds in flight. Inputs outside the map (t
 * outside [tl, th), t counting from column ox − 3) are skipped with their taps, as the one-output loop skips them,
 * and each output sums its taps in (i, j) order: the results equal the one-output loop's.
 */
static inline void depthwise7_six(const float *x, int w, int c, const float *k, const float *bias, float *y, int cy,
                                  int oy, int ox, int i0, int i1, int c0, int tl, int th) {
  v128_t a0 = wasm_v128_load(bias + c0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  for (int i = i0; i < i1; i++) {
    const float *at = x + ((oy + i - 3) * w + ox) * c + c0, *kp = k + i * 7 * c + c0;
    v128_t k0 = wasm_v128_load(kp), k1 = wasm_v128_load(kp + c), k2 = wasm_v128_load(kp + 2 * c);
    v128_t k3 = wasm_v128_load(kp + 3 * c), k4 = wasm_v128_load(kp + 4 * c), k5 = wasm_v128_load(kp + 5 * c);
    v128_t k6 = wasm_v128_load(kp + 6 * c), v;
#define MAC(a, kw) a = wasm_f32x4_add(a, wasm_f32x4_mul(v, kw))
#define IN(t) if (t >= tl && t < th && (v = wasm_v128_load(at + (t - 3) * c), 1))
    IN(0) MAC(a0, k0);
    IN(1) MAC(a0, k1), MAC(a1, k0);
    IN(2) MAC(a0, k2), MAC(a1, k1), MAC(a2, k0);
    IN(3) MAC(a0, k3), MAC(a1, k2), MAC(a2, k1), MAC(a3, k0);
    IN(4) MAC(a0, k4), MAC(a1, k3), MAC(a2, k2), MAC(a3, k1), MAC(a4, k0);
    IN(5) MAC(a0, k5), MAC(a1, k4), MAC(a2, k3), MAC(a3, k2), MAC(a4, k1), MAC(a5, k0);
    IN(6) MAC(a0, k6), MAC(a1, k5), MAC(a2, k4), MAC(a3, k3), MAC(a4, k2), MAC(a5, k1);
    IN(7) MAC(a1, k6), MAC(a2, k5), MAC(a3, k4), MAC(a4, k3), MAC(a5, k2);
    IN(8) MAC(a2, k6), MAC(a3, k5), MAC(a4, k4), MAC(a5, k3);
    IN(9) MAC(a3, k6), MAC(a4, k5), MAC(a5, k4);
    IN(10) MAC(a4, k6), MAC(a5, k5);
    IN(11) MAC(a5, k6);
#undef IN
#undef MAC
  }
  float *out = y + (oy * w + ox) * cy + c0;
  wasm_v128_store(out, a0);
  wasm_v128_store(out + cy, a1);
  wasm_v128_store(out + 2 * cy, a2);
  wasm_v128_store(out + 3 * cy, a3);
  wasm_v128_store(out + 4 * cy, a4);
  wasm_v128_store(out + 5 * cy, a5);
}

/* One output, all channels: the map's borders, and any width. */
static inline void depthwise7_one(const float *x, int h, int w, int c, const float *k, const float *bias, float *y,
                                  int oy, int ox) {
  int i0, i1, j0, j1;
  window(oy, ox, h, w, &i0, &i1, &j0, &j1);
  float *out = y + (oy * w + ox) * c;
  int c0 = 0;
  for (; c0 + 16 <= c; c0 += 16) {
    v128_t a0 = wasm_v128_load(bias + c0), a1 = wasm_v128_load(bias + c0 + 4);
    v128_t a2 = wasm_v128_load(bias + c0 + 8), a3 = wasm_v128_load(bias + c0 + 12);
    for (int i = i0; i < i1; i++)
      for (int j = j0; j < j1; j++) {
        const float *xp = x + ((oy + i - 3) * w + ox + j - 3) * c + c0, *kp = k + (i * 7 + j) * c + c0;
        TAP(a0, xp, kp);
        TAP(a1, xp + 4, kp + 4);
        TAP(a2, xp + 8, kp + 8);
        TAP(a3, xp + 12, kp + 12);
      }
    wasm_v128_store(out + c0, a0);
    wasm_v128_store(out + c0 + 4, a1);
    wasm_v128_store(out + c0 + 8, a2);
    wasm_v128_store(out + c0 + 12, a3);
  }
  for (; c0 < c; c0 += 4) {
    v128_t a = wasm_v128_load(bias + c0);
    for (int i = i0; i < i1; i++)
      for (int j = j0; j < j1; j++) TAP(a, x + ((oy + i - 3) * w + ox + j - 3) * c + c0, k + (i * 7 + j) * c + c0);
    wasm_v128_store(out + c0, a);
  }
}

/* n floats (a multiple of 4) from `from` to `to`, per item of `count`, with the given strides. */
static void copy_strided(float *to, int to_stride, const float *from, int from_stride, int count, int n) {
  for (int i = 0; i < count; i++)
    for (int j = 0; j < n; j += 4) wasm_v128_store(to + i * to_stride + j, wasm_v128_load(from + i * from_stride + j));
}

/*
 * Channels go through in groups of DW_GROUP. From 256 channels on, each group is first copied out to a compact
 * [h, w, group] map with its weights: neighbouring positions of a 768- or 1536-channel map are 3 or 6 KiB apart, so
 * the 84 inputs and 49 weights a group of outputs reads fall into two to four L1 sets and evict each other (measured:
 * twice as fast on the 20×20×768 maps); 128 bytes apart they spread. Narrower maps gain nothing from the copy.
 */
#define DW_GROUP 32
#define DW_PACK_FROM 256
__attribute__((export_name("depthwise7"))) void depthwise7(const float *x, int h, int w, int c, const float *k,
                                                            const float *bias, float *y) {
  if (w < 6) {
    for (int oy = 0; oy < h; oy++)
      for (int ox = 0; ox < w; ox++) depthwise7_one(x, h, w, c, k, bias, y, oy, ox);
    return;
  }
  uintptr_t top = heap_top;
  float *xg = c >= DW_PACK_FROM ? alloc((uint32_t)h * w * DW_GROUP * 4) : 0, *kg = xg ? alloc(49 * DW_GROUP * 4) : 0;
  for (int g = 0; g < c; g += DW_GROUP) {
    int n = c - g < DW_GROUP ? c - g : DW_GROUP, cx = c;
    const float *xs = x + g, *ks = k + g;
    if (kg) {
      copy_strided(xg, n, x + g, c, h * w, n);
      copy_strided(kg, n, k + g, c, 49, n);
      xs = xg, ks = kg, cx = n;
    }
    for (int oy = 0; oy < h; oy++) {
      int i0 = oy < 3 ? 3 - oy : 0, i1 = oy + 4 > h ? h - oy + 3 : 7;
      // Six outputs at a time; a last group that would pass the row's end starts at w − 6 instead (recomputing up
      // to five outputs, to the same values).
      for (int ox = 0; ox < w; ox += 6) {
        int at = ox + 6 <= w ? ox : w - 6, tl = at < 3 ? 3 - at : 0, th = at + 9 > w ? w - at + 3 : 12;
        for (int c0 = 0; c0 < n; c0 += 4)
          depthwise7_six(xs, w, cx, ks, bias + g, y + g, c, oy, at, i0, i1, c0, tl, th);
      }
    }
  }
  heap_top = top;
}

/* LayerNorm over the last axis of m rows of c values (c a multiple of 4), in place: mean, then variance about it. */
__attribute__((export_name("layer_norm"))) void layer_norm(float *x, int m, int c, const float *gain, const float *bias,
                                                            float eps) {
  for (int r = 0; r < m; r++) {
    float *row = x + r * c;
    v128_t s = wasm_f32x4_splat(0.0f);
    for (int j = 0; j < c; j += 4) s = wasm_f32x4_add(s, wasm_v128_load(row + j));
    float mean = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) + wasm_f32x4_extract_lane(s, 2) +
                  wasm_f32x4_extract_lane(s, 3)) /
                 (float)c;
    v128_t mv = wasm_f32x4_splat(mean), q = wasm_f32x4_splat(0.0f);
    for (int j = 0; j < c; j += 4) {
      v128_t d = wasm_f32x4_sub(wasm_v128_load(row + j), mv);
      q = wasm_f32x4_add(q, wasm_f32x4_mul(d, d));
    }
    float var = (wasm_f32x4_extract_lane(q, 0) + wasm_f32x4_extract_lane(q, 1) + wasm_f32x4_extract_lane(q, 2) +
                 wasm_f32x4_extract_lane(q, 3)) /
                (float)c;
    v128_t inv = wasm_f32x4_splat(1.0f / __builtin_sqrtf(var + eps));
    for (int j = 0; j < c; j += 4) {
      v128_t d = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(row + j), mv), inv);
      wasm_v128_store(row + j, wasm_f32x4_add(wasm_f32x4_mul(d, wasm_v128_load(gain + j)), wasm_v128_load(bias + j)));
    }
  }
}

/*
 * e^x for x ≤ 0 (softmax's shifted scores; −inf gives 0): Cephes' expf, n = round(x·log2 e), a degree-6 polynomial of
 * the remainder, then 2^n from the exponent bits. Within 2 ulp of the true value; -nostdlib has no libm.
 */
static inline float exp_nonpositive(float x) {
  if (x < -87.0f) return 0.0f;
  float n = __builtin_rintf(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union {
    float f;
    int32_t i;
  } two = {.i = ((int32_t)n + 127) << 23};
  return p * two.f;
}

static inline float hsum_f32(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

/*
 * Causal multi-head self-attention of one sequence, as onnxruntime's MultiHeadAttention with the causal mask:
 * qkv [rows, 3·width] (q, k, v side by side, each `heads` heads of width/heads values, a multiple of 4); per head and
 * row i, softmax over j ≤ i of q_i·k_j / √d, then the weighted sum of v_j, into out [rows, width]. `p` holds one row
 * of scores (rows floats).
 */
__attribute__((export_name("attention"))) void attention(const float *qkv, int rows, int width, int heads, float *out,
                                                          float *p) {
  int d = width / heads, stride = 3 * width;
  float scale = 1.0f / __builtin_sqrtf((float)d);
  for (int h = 0; h < heads; h++)
    for (int i = 0; i < rows; i++) {
      const float *q = qkv + i * stride + h * d;
      float top = -3.4e38f;
      for (int j = 0; j <= i; j++) {
        const float *k = qkv + j * stride + width + h * d;
        v128_t acc = wasm_f32x4_splat(0.0f);
        for (int t = 0; t < d; t += 4) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(q + t), wasm_v128_load(k + t)));
        p[j] = hsum_f32(acc) * scale;
        top = p[j] > top ? p[j] : top;
      }
      float sum = 0.0f;
      for (int j = 0; j <= i; j++) {
        p[j] = exp_nonpositive(p[j] - top);
        sum += p[j];
      }
      float *o = out + i * width + h * d;
      for (int t = 0; t < d; t += 4) wasm_v128_store(o + t, wasm_f32x4_splat(0.0f));
      for (int j = 0; j <= i; j++) {
        const float *v = qkv + j * stride + 2 * width + h * d;
        v128_t w = wasm_f32x4_splat(p[j]);
        for (int t = 0; t < d; t += 4)
          wasm_v128_store(o + t, wasm_f32x4_add(wasm_v128_load(o + t), wasm_f32x4_mul(w, wasm_v128_load(v + t))));
      }
      v128_t inv = wasm_f32x4_splat(1.0f / sum);
      for (int t = 0; t < d; t += 4) wasm_v128_store(o + t, wasm_f32x4_mul(wasm_v128_load(o + t), inv));
    }
}

/* x += y · gamma per channel: a ConvNeXt block's layer scale and residual. */
__attribute__((export_name("scale_add"))) void scale_add(float *x, const float *y, const float *gamma, int m, int c) {
  for (int r = 0; r < m; r++)
    for (int j = 0; j < c; j += 4) {
      float *xp = x + r * c + j;
      v128_t t = wasm_f32x4_mul(wasm_v128_load(y + r * c + j), wasm_v128_load(gamma + j));
      wasm_v128_store(xp, wasm_f32x4_add(wasm_v128_load(xp), t));
    }
}

/* y[m, n] = x[m, k] · w[k, n] + bias (may be 0), float32; n a multiple of 4. */
__attribute__((export_name("fp32_linear"))) void fp32_linear(const float *x, int m, int k, const float *w,
                                                              const float *bias, int n, float *y) {
  for (int r = 0; r < m; r++)
    for (int n0 = 0; n0 < n; n0 += 4) {
      v128_t a = bias ? wasm_v128_load(bias + n0) : wasm_f32x4_splat(0.0f);
      for (int j = 0; j < k; j++)
        a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_f32x4_splat(x[r * k + j]), wasm_v128_load(w + j * n + n0)));
      wasm_v128_store(y + r * n + n0, a);
    }
}

/* y += (x[:, idx] · w) + bias: the fp32 side of a linear whose outlier input channels left the int8 weights. */
__attribute__((export_name("side_channels"))) void side_channels(const float *x, int m, int k, const int32_t *idx,
                                                                  int nf, const float *w, const float *bias, int n,
                                                                  float *y) {
  for (int r = 0; r < m; r++)
    for (int n0 = 0; n0 < n; n0 += 4) {
      v128_t a = wasm_f32x4_splat(0.0f);
      for (int f = 0; f < nf; f++)
        a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_f32x4_splat(x[r * k + idx[f]]), wasm_v128_load(w + f * n + n0)));
      float *yp = y + r * n + n0;
      v128_t v = wasm_f32x4_add(wasm_v128_load(yp), a);
      if (bias) v = wasm_f32x4_add(v, wasm_v128_load(bias + n0));
      wasm_v128_store(yp, v);
    }
}

/* [h, h, c] → [h/2, h/2, 4c] with (kh, kw, c) order: the downsampling 2×2 stride-2 convolution as a linear's input. */
__attribute__((export_name("patchify2"))) void patchify2(const float *x, int h, int c, float *out) {
  int half = h / 2;
  for (int py = 0; py < half; py++)
    for (int px = 0; px < half; px++)
      for (int kh = 0; kh < 2; kh++)
        for (int kw = 0; kw < 2; kw++) {
          const float *src = x + ((2 * py + kh) * h + 2 * px + kw) * c;
          float *dst = out + (py * half + px) * 4 * c + (kh * 2 + kw) * c;
          for (int j = 0; j < c; j += 4) wasm_v128_store(dst + j, wasm_v128_load(src + j));
        }
}

/* NCHW [3, s, s] pixels → [(s/4)², 48] patches in (channel, kh, kw) order: the stem's 4×4 stride-4 convolution. */
__attribute__((export_name("stem_patches"))) void stem_patches(const float *x, int s, float *out) {
  int q = s / 4;
  for (int py = 0; py < q; py++)
    for (int px = 0; px < q; px++) {
      float *dst = out + (py * q + px) * 48;
      for (int ch = 0; ch < 3; ch++)
        for (int kh = 0; kh < 4; kh++)
          for (int kw = 0; kw < 4; kw++) dst[ch * 16 + kh * 4 + kw] = x[(ch * s + 4 * py + kh) * s + 4 * px + kw];
    }
}

/* Plain layout: per block of 8 columns, per pair of k, 16 bytes: b(k,n) b(k+1,n) for n = n0 … n0+7. */
__attribute__((export_name("pack_plain"))) void pack_plain(const int8_t *w, int k, int n, int8_t *out) {
  for (int n0 = 0; n0 < n; n0 += 8)
    for (int kk = 0; kk < k; kk += 2)
      for (int c = 0; c < 8; c++) {
        *out++ = w[kk * n + n0 + c];
        *out++ = w[(kk + 1) * n + n0 + c];
      }
}

/* Relaxed layout: per block of 8 columns, per quad of k, 32 bytes: b(k…k+3, n) + 64 for n = n0 … n0+7. */
__attribute__((export_name("pack_relaxed"))) void pack_relaxed(const int8_t *w, int k, int n, int8_t *out) {
  for (int n0 = 0; n0 < n; n0 += 8)
    for (int kk = 0; kk < k; kk += 4)
      for (int c = 0; c < 8; c++)
        for (int d = 0; d < 4; d++) *out++ = (int8_t)(w[(kk + d) * n + n0 + c] + 64);
}

/* y = (float(acc) · w_scale[n]) · xs[m] + bias[n], the order of onnxruntime's int8 graph (bias may be 0). */
static inline void store(float *y, int n, int m_, int n0, v128_t a0, v128_t a1, const float *w_scale, const float *xs,
                         const float *bias) {
  v128_t s = wasm_f32x4_splat(xs[m_]);
  v128_t y0 = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(a0), wasm_v128_load(w_scale + n0)), s);
  v128_t y1 = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(a1), wasm_v128_load(w_scale + n0 + 4)), s);
  if (bias) {
    y0 = wasm_f32x4_add(y0, wasm_v128_load(bias + n0));
    y1 = wasm_f32x4_add(y1, wasm_v128_load(bias + n0 + 4));
  }
  wasm_v128_store(y + m_ * n + n0, y0);
  wasm_v128_store(y + m_ * n + n0 + 4, y1);
}

#define DOT(acc, a, b) acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(a, b))

/*
 * Eight columns' values at one k pair, as int16: packed int8 widened in the loop, or a block already widened (the
 * widening is ~10 % of the loop's instructions, so the GEMMs widen each 8-column block once and reuse it for every
 * row). `wide` is a constant at each call, so each caller gets its own loop.
 */
static inline void b_pair(const void *bp, int kk, int wide, v128_t *b0, v128_t *b1) {
  if (wide) {
    *b0 = wasm_v128_load((const int16_t *)bp + kk * 8);
    *b1 = wasm_v128_load((const int16_t *)bp + kk * 8 + 8);
  } else {
    *b0 = wasm_i16x8_load8x8((const int8_t *)bp + kk * 8);
    *b1 = wasm_i16x8_load8x8((const int8_t *)bp + kk * 8 + 8);
  }
}

/* c[2i], c[2i+1] = row i of a 4×8 tile: four rows of int16 A (stride lda) times one 8-column block of B. */
static inline void tile4(const int16_t *a, int lda, int k, const void *bp, int wide, v128_t c[8]) {
  const int16_t *a0p = a, *a1p = a0p + lda, *a2p = a1p + lda, *a3p = a2p + lda;
  for (int i = 0; i < 8; i++) c[i] = wasm_i32x4_splat(0);
  for (int kk = 0; kk < k; kk += 2) {
    v128_t b0, b1;
    b_pair(bp, kk, wide, &b0, &b1);
    v128_t x = wasm_v128_load32_splat(a0p + kk);
    DOT(c[0], x, b0);
    DOT(c[1], x, b1);
    x = wasm_v128_load32_splat(a1p + kk);
    DOT(c[2], x, b0);
    DOT(c[3], x, b1);
    x = wasm_v128_load32_splat(a2p + kk);
    DOT(c[4], x, b0);
    DOT(c[5], x, b1);
    x = wasm_v128_load32_splat(a3p + kk);
    DOT(c[6], x, b0);
    DOT(c[7], x, b1);
  }
}

static inline void tile1(const int16_t *a, int k, const void *bp, int wide, v128_t c[2]) {
  c[0] = c[1] = wasm_i32x4_splat(0);
  for (int kk = 0; kk < k; kk += 2) {
    v128_t b0, b1, x = wasm_v128_load32_splat(a + kk);
    b_pair(bp, kk, wide, &b0, &b1);
    DOT(c[0], x, b0);
    DOT(c[1], x, b1);
  }
}

/* An 8-column block of packed int8 (8k values) widened to int16 into `out`. */
static void widen_block(const int8_t *bp, int k, int16_t *out) {
  for (int e = 0; e < 8 * k; e += 8) wasm_v128_store(out + e, wasm_i16x8_load8x8(bp + e));
}

static void gemm_direct(const int16_t *q16, const float *xs, int m, int k, const int8_t *packed, const float *w_scale,
                        const float *bias, int n, float *y) {
  uintptr_t top = heap_top;
  int16_t *wide = m >= 8 ? alloc(16 * k) : 0;
  for (int n0 = 0; n0 < n; n0 += 8) {
    const int8_t *bp = packed + n0 * k;
    if (wide) widen_block(bp, k, wide);
    v128_t c[8];
    int r = 0;
    for (; r + 4 <= m; r += 4) {
      if (wide) tile4(q16 + r * k, k, k, wide, 1, c);
      else tile4(q16 + r * k, k, k, bp, 0, c);
      for (int i = 0; i < 4; i++) store(y, n, r + i, n0, c[2 * i], c[2 * i + 1], w_scale, xs, bias);
    }
    for (; r < m; r++) {
      if (wide) tile1(q16 + r * k, k, wide, 1, c);
      else tile1(q16 + r * k, k, bp, 0, c);
      store(y, n, r, n0, c[0], c[1], w_scale, xs, bias);
    }
  }
  heap_top = top;
}

/*
 * Strassen's seven products instead of eight, one or two levels deep, over the plain GEMM's integers. SIMD128 has no
 * multiply-accumulate cheaper than dot_i16x8 + add (a quarter of an instruction per product, which the kernel above
 * nearly reaches), so fewer products is what is left: 7/8 of them per level, for sums of quadrants that cost per
 * element of A, B and C. Sums of 8-bit values stay exact in 16 bits and every identity holds modulo 2^32, so the
 * results are the direct kernel's bit for bit. Operands: rows of int16 A with a row stride; B in the plain layout
 * (per 8 columns, per k pair, 16 values), the packed int8 weights at the top and widened int16 sums below, with a
 * stride between 8-column blocks. Products accumulate with a sign into quadrants of y's own storage used as int32 (up
 * to four at the second level); the row scales, column scales and bias come last, in place.
 */
typedef struct {
  int32_t *c[4];
  int32_t sign[4];
  int count, ld;
} Dest;

typedef struct {
  const void *p;
  int stride; /* values between 8-column blocks */
  int wide;   /* int16 (1) or the packed int8 weights (0) */
} BView;

static inline void dest_add(const Dest *d, int row, int col, v128_t lo, v128_t hi) {
  for (int i = 0; i < d->count; i++) {
    int32_t *p = d->c[i] + row * d->ld + col;
    v128_t a = wasm_v128_load(p), b = wasm_v128_load(p + 4);
    if (d->sign[i] > 0) {
      a = wasm_i32x4_add(a, lo);
      b = wasm_i32x4_add(b, hi);
    } else {
      a = wasm_i32x4_sub(a, lo);
      b = wasm_i32x4_sub(b, hi);
    }
    wasm_v128_store(p, a);
    wasm_v128_store(p + 4, b);
  }
}

/* The direct kernel's tiles on widened B, accumulated into the destinations. */
static void leaf(const int16_t *a, int lda, int m, int k, const int16_t *b, int stride, int n, const Dest *d) {
  for (int n0 = 0; n0 < n; n0 += 8) {
    const int16_t *bp = b + (n0 / 8) * stride;
    v128_t c[8];
    int r = 0;
    for (; r + 4 <= m; r += 4) {
      tile4(a + r * lda, lda, k, bp, 1, c);
      for (int i = 0; i < 4; i++) dest_add(d, r + i, n0, c[2 * i], c[2 * i + 1]);
    }
    for (; r < m; r++) {
      tile1(a + r * lda, k, bp, 1, c);
      dest_add(d, r, n0, c[0], c[1]);
    }
  }
}

/* out[m, k] (row stride k) = x ± y, rows of int16 with stride ld. */
static void sum_a(int16_t *out, const int16_t *x, const int16_t *y, int ld, int m, int k, int sign) {
  for (int r = 0; r < m; r++)
    for (int j = 0; j < k; j += 8) {
      v128_t u = wasm_v128_load(x + r * ld + j), v = wasm_v128_load(y + r * ld + j);
      wasm_v128_store(out + r * k + j, sign > 0 ? wasm_i16x8_add(u, v) : wasm_i16x8_sub(u, v));
    }
}

/* Eight values at offset e of a B view's 8-column block, as int16. */
static inline v128_t load_b(const BView *v, int block, int e) {
  if (v->wide) return wasm_v128_load((const int16_t *)v->p + block * v->stride + e);
  return wasm_i16x8_load8x8((const int8_t *)v->p + block * v->stride + e);
}

/* out = x ± y (or x alone when y has no p) for a k × n view, widened to int16, blocks contiguous. */
static void sum_b(int16_t *out, const BView *x, const BView *y, int k, int n, int sign) {
  for (int blk = 0; blk < n / 8; blk++)
    for (int e = 0; e < 8 * k; e += 8) {
      v128_t u = load_b(x, blk, e);
      if (y->p) u = sign > 0 ? wasm_i16x8_add(u, load_b(y, blk, e)) : wasm_i16x8_sub(u, load_b(y, blk, e));
      wasm_v128_store(out + blk * 8 * k + e, u);
    }
}

/* Quadrant (i, j) of a k × n B view: 8-column blocks from j·n/16, k pairs from i·k/4 (16 values each). */
static inline BView b_part(BView v, int k, int n, int i, int j) {
  int e = (j * (n / 16)) * v.stride + i * (k / 4) * 16;
  v.p = v.wide ? (const void *)((const int16_t *)v.p + e) : (const void *)((const int8_t *)v.p + e);
  return v;
}

/* d's destinations moved to quadrant (i, j) times `sign`, and to quadrant (i2, j2) times sign2 when it is not 0. */
static Dest dest_to(const Dest *d, int mh, int nh, int i, int j, int sign, int i2, int j2, int sign2) {
  Dest out = {.count = 0, .ld = d->ld};
  for (int t = 0; t < d->count; t++) {
    out.c[out.count] = d->c[t] + i * mh * d->ld + j * nh;
    out.sign[out.count++] = d->sign[t] * sign;
    if (sign2) {
      out.c[out.count] = d->c[t] + i2 * mh * d->ld + j2 * nh;
      out.sign[out.count++] = d->sign[t] * sign2;
    }
  }
  return out;
}

/* One product's operands (either sum may be a quadrant alone), then its seven or eight sub-products. */
static void strassen(const int16_t *a, int lda, BView b, int m, int k, int n, const Dest *d, int levels);

static void product(const int16_t *a, int lda, const int16_t *a2, int sign_a, const BView *b, const BView *b2,
                    int sign_b, int m, int k, int n, const Dest *d, int levels, int16_t *sa, int16_t *sb) {
  if (a2) {
    sum_a(sa, a, a2, lda, m, k, sign_a);
    a = sa;
    lda = k;
  }
  BView s = *b;
  if (b2->p || !b->wide) {
    sum_b(sb, b, b2, k, n, sign_b);
    s = (BView){sb, 8 * k, 1};
  }
  strassen(a, lda, s, m, k, n, d, levels);
}

static void strassen(const int16_t *a, int lda, BView b, int m, int k, int n, const Dest *d, int levels) {
  if (!levels) {
    leaf(a, lda, m, k, (const int16_t *)b.p, b.stride, n, d);
    return;
  }
  int mh = m / 2, kh = k / 2, nh = n / 2, L = levels - 1;
  const int16_t *a11 = a, *a12 = a + kh, *a21 = a + mh * lda, *a22 = a21 + kh;
  BView b11 = b_part(b, k, n, 0, 0), b12 = b_part(b, k, n, 0, 1), b21 = b_part(b, k, n, 1, 0);
  BView b22 = b_part(b, k, n, 1, 1), none = {0, 0, 0};
  uintptr_t top = heap_top;
  int16_t *sa = alloc(mh * kh * 2), *sb = alloc(kh * nh * 2);
  Dest t;
  t = dest_to(d, mh, nh, 0, 0, 1, 1, 1, 1); /* M1 = (A11 + A22)(B11 + B22): C11 +, C22 + */
  product(a11, lda, a22, 1, &b11, &b22, 1, mh, kh, nh, &t, L, sa, sb);
  t = dest_to(d, mh, nh, 1, 0, 1, 1, 1, -1); /* M2 = (A21 + A22) B11: C21 +, C22 − */
  product(a21, lda, a22, 1, &b11, &none, 1, mh, kh, nh, &t, L, sa, sb);
  t = dest_to(d, mh, nh, 0, 1, 1, 1, 1, 1); /* M3 = A11 (B12 − B22): C12 +, C22 + */
  product(a11, lda, 0, 0, &b12, &b22, -1, mh, kh, nh, &t, L, sa, sb);
  t = dest_to(d, mh, nh, 0, 0, 1, 1, 0, 1); /* M4 = A22 (B21 − B11): C11 +, C21 + */
  product(a22, lda, 0, 0, &b21, &b11, -1, mh, kh, nh, &t, L, sa, sb);
  t = dest_to(d, mh, nh, 0, 0, -1, 0, 1, 1); /* M5 = (A11 + A12) B22: C11 −, C12 + */
  product(a11, lda, a12, 1, &b22, &none, 1, mh, kh, nh, &t, L, sa, sb);
  t = dest_to(d, mh, nh, 1, 1, 1, 0, 0, 0); /* M6 = (A21 − A11)(B11 + B12): C22 + */
  product(a21, lda, a11, -1, &b11, &b12, 1, mh, kh, nh, &t, L, sa, sb);
  t = dest_to(d, mh, nh, 0, 0, 1, 0, 0, 0); /* M7 = (A12 − A22)(B21 + B22): C11 + */
  product(a12, lda, a22, -1, &b21, &b22, 1, mh, kh, nh, &t, L, sa, sb);
  heap_top = top;
}

/*
 * Levels that pay on an m × k × n product (measured on the towers' shapes, docs/PERFORMANCE.md): a level halves every
 * dimension. B's quadrant sums cost per weight, shared by the m / 2^L rows of a leaf, so a leaf keeps at least 64
 * rows; each 4×8 tile updates 2^L destinations once per k / 2^L pairs, so k / 4^L stays at least 48. Quadrants of k
 * and n stay whole 8-value vectors.
 */
enum { STRASSEN_MAX = 2, STRASSEN_MIN_ROWS = 64, STRASSEN_MIN_K_PER_DEST = 48, STRASSEN_MIN_COLS = 64 };
_Static_assert(1 << STRASSEN_MAX <= sizeof(((Dest *)0)->c) / sizeof(int32_t *), "a leaf updates 2^levels quadrants");
__attribute__((export_name("gemm_plain_levels"))) int strassen_levels(int m, int k, int n) {
  int levels = 0;
  for (int next = 1; next <= STRASSEN_MAX; next++) {
    if (m >> next < STRASSEN_MIN_ROWS || k >> 2 * next < STRASSEN_MIN_K_PER_DEST || n >> next < STRASSEN_MIN_COLS) break;
    if (k % (8 << next) || n % (8 << next)) break;
    levels = next;
  }
  return levels;
}

__attribute__((export_name("gemm_plain"))) void gemm_plain(const int16_t *q16, const float *xs, int m, int k,
                                                            const int8_t *packed, const float *w_scale,
                                                            const float *bias, int n, float *y) {
  int levels = strassen_levels(m, k, n);
  int ms = m & ~((1 << levels) - 1);
  /* Scratch: a quadrant of A and one of B, 16-bit, per level (each level's a quarter of the one above); when it
     cannot be had, the direct kernel. */
  uintptr_t top = heap_top;
  int ok = levels && alloc((uint32_t)((ms / 2) * (k / 2) + (k / 2) * (n / 2)) * 2 * 2);
  heap_top = top;
  if (!ok) {
    gemm_direct(q16, xs, m, k, packed, w_scale, bias, n, y);
    return;
  }
  int32_t *c = (int32_t *)y;
  __builtin_memset(c, 0, (uint32_t)ms * n * 4);
  Dest d = {.c = {c}, .sign = {1}, .count = 1, .ld = n};
  strassen(q16, k, (BView){packed, 8 * k, 0}, ms, k, n, &d, levels);
  for (int r = 0; r < ms; r++)
    for (int n0 = 0; n0 < n; n0 += 8)
      store(y, n, r, n0, wasm_v128_load(c + r * n + n0), wasm_v128_load(c + r * n + n0 + 4), w_scale, xs, bias);
  if (ms < m) gemm_direct(q16 + ms * k, xs + ms, m - ms, k, packed, w_scale, bias, n, y + ms * n);
}

#ifdef __wasm_relaxed_simd__
#define RDOT(acc, a, b) acc = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(a, b, acc)

/* acc − 64 · row sum: undoes the + 64 on the weights. */
static inline v128_t fix(v128_t acc, int32_t sum) { return wasm_i32x4_sub(acc, wasm_i32x4_splat(64 * sum)); }

__attribute__((export_name("gemm_relaxed"))) void gemm_relaxed(const int8_t *q8, const int32_t *row_sum,
                                                                const float *xs, int m, int k, const int8_t *packed,
                                                                const float *w_scale, const float *bias, int n,
                                                                float *y) {
  for (int n0 = 0; n0 < n; n0 += 8) {
    const int8_t *bp0 = packed + n0 * k;
    int r = 0;
    for (; r + 6 <= m; r += 6) {
      const int8_t *ap = q8 + r * k;
      v128_t c[6][2];
      for (int i = 0; i < 6; i++) c[i][0] = c[i][1] = wasm_i32x4_splat(0);
      const int8_t *bp = bp0;
      for (int kk = 0; kk < k; kk += 4, bp += 32) {
        v128_t b0 = wasm_v128_load(bp), b1 = wasm_v128_load(bp + 16);
        for (int i = 0; i < 6; i++) {
          v128_t a = wasm_v128_load32_splat(ap + i * k + kk);
          RDOT(c[i][0], a, b0);
          RDOT(c[i][1], a, b1);
        }
      }
      for (int i = 0; i < 6; i++)
        store(y, n, r + i, n0, fix(c[i][0], row_sum[r + i]), fix(c[i][1], row_sum[r + i]), w_scale, xs, bias);
    }
    for (; r < m; r++) {
      const int8_t *ap = q8 + r * k;
      v128_t c0 = wasm_i32x4_splat(0), c1 = c0;
      const int8_t *bp = bp0;
      for (int kk = 0; kk < k; kk += 4, bp += 32) {
        v128_t a = wasm_v128_load32_splat(ap + kk);
        RDOT(c0, a, wasm_v128_load(bp));
        RDOT(c1, a, wasm_v128_load(bp + 16));
      }
      store(y, n, r, n0, fix(c0, row_sum[r]), fix(c1, row_sum[r]), w_scale, xs, bias);
    }
  }
}
#endif
