/*
 * Our wasm32 kernels: int8 linears y = dequant(quant_rows(x · in_scale) · W) + bias with the int8 graphs' arithmetic
 * (QuantizeLinear + MatMulIntegerToFloat + Mul + Add, tool/graphs/layers.ts: activations quantized per row to
 * [-128, 127], round half to even as onnxruntime; 7-bit per-column int8 weights; int32 sums), onnxruntime's FastGelu,
 * and a ConvNeXt block's depthwise 7×7 convolution on NHWC maps.
 *
 * Two GEMMs over the same quantized rows:
 *  - plain SIMD128: 4 or 5 rows × 8 columns (`gemm_plain`, `gemm_plain5`), i32x4.dot_i16x8_s on 16-bit pairs (8
 *    products an instruction), any CPU;
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
/* Scratch inside a kernel: a trap (a JS RuntimeError) when memory cannot grow, never a write through a null pointer. */
static void *need(uint32_t bytes) {
  void *p = alloc(bytes);
  if (!p) __builtin_trap();
  return p;
}
/*
 * A splat of c that V8 keeps in a register: workerd's V8 builds a v128 constant anew at every use (movabs, vmovq,
 * punpcklqdq: three instructions each, seen in its code for fast_gelu's 17 constants), so hot loops take theirs
 * through a volatile read, once, which the compiler cannot fold back into a constant.
 */
static inline v128_t held(float c) {
  volatile float v = c;
  return wasm_f32x4_splat(v);
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
      // pmax/pmin are one maxps/minps each; V8 lowers f32x4.max/min (NaN and ±0 rules) to several instructions, and
      // this loop ran 3.4× slower with them. A NaN is then left out of the row's scale (and quantizes to 127 below).
      hi = wasm_f32x4_pmax(hi, v);
      lo = wasm_f32x4_pmin(lo, v);
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
    v128_t top = held(127.0f), bottom = held(-128.0f), magic = held(12582912.0f);
    for (int j = 0; j < k; j += 4) {
      v128_t v = wasm_v128_load(row + j);
      if (in_scale) v = wasm_f32x4_mul(v, wasm_v128_load(in_scale + j));
      /* Clamped to integer bounds, then rounded half to even by adding 1.5·2^23, whose float's low bits are then the
         integer: the same as rint and a saturating conversion, in two instructions (V8's trunc_sat is about eight). NaN
         (a row holding an infinity) becomes 127, where the conversion gave 0: either is garbage for such a row. */
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
__attribute__((export_name("fast_gelu"))) void fast_gelu(float *x, int n) {
  const v128_t b = held(0.7978845608028654f), c = held(0.035677408136300125f), half = held(0.5f), one = held(1.0f);
  const v128_t hi = held(9.0f), lo = held(-9.0f);
  const v128_t p13 = held(-2.76076847742355e-16f), p11 = held(2.00018790482477e-13f), p9 = held(-8.60467152213735e-11f),
               p7 = held(5.12229709037114e-08f), p5 = held(1.48572235717979e-05f), p3 = held(6.37261928875436e-04f),
               p1 = held(4.89352455891786e-03f);
  const v128_t q6 = held(1.19825839466702e-06f), q4 = held(1.18534705686654e-04f), q2 = held(2.26843463243900e-03f),
               q0 = held(4.89352518554385e-03f);
#define MADD(acc, by, plus) wasm_f32x4_add(wasm_f32x4_mul(acc, by), plus)
  for (int i = 0; i < n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    v128_t u = wasm_f32x4_mul(v, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(c, v), v), b));
    // MLAS's tanh: u clamped to ±9, then p(u²)·u / q(u²).
    u = wasm_f32x4_pmax(wasm_f32x4_pmin(u, hi), lo);
    v128_t u2 = wasm_f32x4_mul(u, u);
    v128_t p = MADD(MADD(MADD(MADD(MADD(MADD(p13, u2, p11), u2, p9), u2, p7), u2, p5), u2, p3), u2, p1);
    v128_t q = MADD(MADD(MADD(q6, u2, q4), u2, q2), u2, q0);
    v128_t t = wasm_f32x4_div(wasm_f32x4_mul(p, u), q);
    wasm_v128_store(x + i, wasm_f32x4_mul(wasm_f32x4_mul(half, v), wasm_f32x4_add(t, one)));
  }
#undef MADD
}

/*
 * Depthwise 7×7 convolution, stride 1, zero padding 3, on an NHWC map [h, w, c] with weights [7, 7, c] (the graphs'
 * [c, 1, 7, 7] repacked) and a bias: a ConvNeXt block's spatial mixing, without the NCHW round trip the graphs make.
 * Accumulators stay in registers across the 49 taps (six outputs of a row at a time); c is a multiple of 4.
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
 * Channels go through in groups of DW_GROUP, each copied out first to a compact [h, w, DW_GROUP] map, and its weights
 * to [49, DW_GROUP]. Two reasons: every input and weight a group of outputs reads is then a constant offset from one
 * pointer (on the map's own stride V8 kept twelve offsets live, each added to per kernel row); and neighbouring
 * positions of a 768- or 1536-channel map are 3 or 6 KiB apart, so the 84 inputs and 49 weights fell into two to four
 * L1 sets and evicted each other (128 bytes apart they spread). workerd, the tower's 36 convolutions: 40 → 30 ms.
 */
#define DW_GROUP 32

/*
 * Six (or four: `six` is a constant at each call, so each gets its own loop) neighbouring outputs of one row, four
 * channels at a time, over `rows` kernel rows from xr (the compact map at the first row's input column ox − 3) and kr
 * (that row's seven weights): per kernel row, its seven weights are loaded once and each of the twelve (ten) inputs
 * the outputs read is loaded once and used for every output that needs it (19 loads for 42 multiply-adds), and the
 * accumulators keep six (four) independent chains of adds in flight. Inputs outside the map (t outside [tl, th), t
 * counting from column ox − 3) are skipped with their taps, and each output sums its taps in (i, j) order: the results
 * equal the one-output loop's. The tests on tl and th also keep each input's multiply-adds in its own block: without
 * them (zero columns for the padding instead) TurboFan scheduled all twelve loads first and spilled: 15–20 % slower.
 */
static inline void depthwise7_row(const float *xr, int xrow, const float *kr, int rows, const float *bias, float *out,
                                  int ostride, int tl, int th, int six) {
  v128_t a0 = wasm_v128_load(bias), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  for (int r = 0; r < rows; r++, xr += xrow, kr += 7 * DW_GROUP) {
    v128_t k0 = wasm_v128_load(kr), k1 = wasm_v128_load(kr + DW_GROUP), k2 = wasm_v128_load(kr + 2 * DW_GROUP);
    v128_t k3 = wasm_v128_load(kr + 3 * DW_GROUP), k4 = wasm_v128_load(kr + 4 * DW_GROUP);
    v128_t k5 = wasm_v128_load(kr + 5 * DW_GROUP), k6 = wasm_v128_load(kr + 6 * DW_GROUP), v;
#define MAC(a, kw) a = wasm_f32x4_add(a, wasm_f32x4_mul(v, kw))
#define IN(t) if (t >= tl && t < th && (v = wasm_v128_load(xr + (t) * DW_GROUP), 1))
    IN(0) MAC(a0, k0);
    IN(1) MAC(a0, k1), MAC(a1, k0);
    IN(2) MAC(a0, k2), MAC(a1, k1), MAC(a2, k0);
    IN(3) MAC(a0, k3), MAC(a1, k2), MAC(a2, k1), MAC(a3, k0);
    IN(4) {
      MAC(a0, k4), MAC(a1, k3), MAC(a2, k2), MAC(a3, k1);
      if (six) MAC(a4, k0);
    }
    IN(5) {
      MAC(a0, k5), MAC(a1, k4), MAC(a2, k3), MAC(a3, k2);
      if (six) MAC(a4, k1), MAC(a5, k0);
    }
    IN(6) {
      MAC(a0, k6), MAC(a1, k5), MAC(a2, k4), MAC(a3, k3);
      if (six) MAC(a4, k2), MAC(a5, k1);
    }
    IN(7) {
      MAC(a1, k6), MAC(a2, k5), MAC(a3, k4);
      if (six) MAC(a4, k3), MAC(a5, k2);
    }
    IN(8) {
      MAC(a2, k6), MAC(a3, k5);
      if (six) MAC(a4, k4), MAC(a5, k3);
    }
    IN(9) {
      MAC(a3, k6);
      if (six) MAC(a4, k5), MAC(a5, k4);
    }
    if (six) {
      IN(10) MAC(a4, k6), MAC(a5, k5);
      IN(11) MAC(a5, k6);
    }
#undef IN
#undef MAC
  }
  wasm_v128_store(out, a0);
  wasm_v128_store(out + ostride, a1);
  wasm_v128_store(out + 2 * ostride, a2);
  wasm_v128_store(out + 3 * ostride, a3);
  if (six) {
    wasm_v128_store(out + 4 * ostride, a4);
    wasm_v128_store(out + 5 * ostride, a5);
  }
}

/* One output, all channels: rows narrower than four outputs. */
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

__attribute__((export_name("depthwise7"))) void depthwise7(const float *x, int h, int w, int c, const float *k,
                                                            const float *bias, float *y) {
  if (w < 4) {
    for (int oy = 0; oy < h; oy++)
      for (int ox = 0; ox < w; ox++) depthwise7_one(x, h, w, c, k, bias, y, oy, ox);
    return;
  }
  uintptr_t top = heap_top;
  int xrow = w * DW_GROUP;
  // Three spare columns before the map: a row pointer starts at column −3 (the taps there are skipped, never read).
  float *xg = (float *)need((uint32_t)(h * w + 3) * DW_GROUP * 4) + 3 * DW_GROUP, *kg = need(49 * DW_GROUP * 4);
  for (int g = 0; g < c; g += DW_GROUP) {
    int n = c - g < DW_GROUP ? c - g : DW_GROUP;
    copy_strided(xg, DW_GROUP, x + g, c, h * w, n);
    copy_strided(kg, DW_GROUP, k + g, c, 49, n);
    for (int oy = 0; oy < h; oy++) {
      int i0 = oy < 3 ? 3 - oy : 0, i1 = oy + 4 > h ? h - oy + 3 : 7;
      const float *xr = xg + (oy + i0 - 3) * xrow - 3 * DW_GROUP, *kr = kg + i0 * 7 * DW_GROUP;
      // Six outputs at a time, then fours: even widths split exactly (the towers' 20 = 6 + 6 + 4 + 4); an odd one
      // ends with a group started early that recomputes one to three outputs, to the same values.
      int fours = (w % 6 == 4) + 2 * (w % 6 == 2 && w >= 8);
      for (int ox = 0; ox < w;) {
        int six = ox + 4 * fours < w - 5, size = six ? 6 : 4, at = ox + size <= w ? ox : w - size;
        int tl = at < 3 ? 3 - at : 0, th = at + size + 3 > w ? w - at + 3 : size + 6;
        const float *xa = xr + at * DW_GROUP;
        float *out = y + (oy * w + at) * c + g;
        for (int c0 = 0; c0 < n; c0 += 4)
          if (six) depthwise7_row(xa + c0, xrow, kr + c0, i1 - i0, bias + g + c0, out + c0, c, tl, th, 1);
          else depthwise7_row(xa + c0, xrow, kr + c0, i1 - i0, bias + g + c0, out + c0, c, tl, th, 0);
        ox += size;
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
 * `rows` (a constant at each use) rows × one block of 8 columns, its weights either widened to int16 already
 * (`widened`, a constant at each call) or extended from the packed int8 pairs in the loop.
 */
static inline __attribute__((always_inline)) void gemm_plain_tile(const int16_t *a, int rows, const float *xs, int k,
                                                                  const int8_t *bp0, const v128_t *wide,
                                                                  const float *w_scale, const float *bias, int n,
                                                                  int r, int n0, float *y, int widened) {
  v128_t c[5][2];
  for (int i = 0; i < rows; i++) c[i][0] = c[i][1] = wasm_i32x4_splat(0);
  // wp walks the widened block (kept as a pointer walk: indexing it from kk cost workerd 4 %).
  const v128_t *wp = wide;
  for (int kk = 0; kk < k; kk += 2, wp += 2) {
    v128_t b0, b1;
    if (widened) b0 = wp[0], b1 = wp[1];
    else {
      v128_t b = wasm_v128_load(bp0 + kk * 8);
      b0 = wasm_i16x8_extend_low_i8x16(b), b1 = wasm_i16x8_extend_high_i8x16(b);
    }
    for (int i = 0; i < rows; i++) {
      v128_t x = wasm_v128_load32_splat(a + i * k + kk);
      DOT(c[i][0], x, b0);
      DOT(c[i][1], x, b1);
    }
  }
  for (int i = 0; i < rows; i++) store(y, n, r + i, n0, c[i][0], c[i][1], w_scale, xs, bias);
}

/*
 * One block of 8 columns for all m rows: tiles of five rows (`five`), then of four, then single rows. A 5-row tile
 * holds 10 accumulators, 2 weight vectors, a row's pair and a product: 14 of the 15 SIMD registers V8 allocates on
 * x64, for 7 loads per 10 dots instead of 6 per 8. That pays where each load carries a bounds check (workerd) and
 * spills in Node 20's V8 (`pickKernels` chooses at start-up). Only with widened weights: extending them in the loop
 * takes a 16th register.
 */
static inline __attribute__((always_inline)) void gemm_plain_block(const int16_t *q16, const float *xs, int m, int k,
                                                                   const int8_t *bp0, const v128_t *wide,
                                                                   const float *w_scale, const float *bias, int n,
                                                                   int n0, float *y, int widened, int five) {
  int r = 0;
  if (five)
    for (; r + 5 <= m; r += 5) gemm_plain_tile(q16 + r * k, 5, xs, k, bp0, wide, w_scale, bias, n, r, n0, y, widened);
  for (; r + 4 <= m; r += 4) gemm_plain_tile(q16 + r * k, 4, xs, k, bp0, wide, w_scale, bias, n, r, n0, y, widened);
  for (; r < m; r++) gemm_plain_tile(q16 + r * k, 1, xs, k, bp0, wide, w_scale, bias, n, r, n0, y, widened);
}

/*
 * From WIDEN_FROM rows on, each block of 8 columns is widened to int16 once per call (k × 16 bytes of scratch), not
 * once per group of rows: the image tower 1,853 → 1,676 ms in Node, 1,949 → 1,876 ms in workerd (bench:kernel-ab).
 * Fewer rows do not repay the widening: a 7-token prompt's text tower went 27.5 → 34.7 ms in Node with it.
 */
#define WIDEN_FROM 16
static inline __attribute__((always_inline)) void gemm_plain_rows(const int16_t *q16, const float *xs, int m, int k,
                                                                   const int8_t *packed, const float *w_scale,
                                                                   const float *bias, int n, float *y, int five) {
  if (m < WIDEN_FROM) {
    for (int n0 = 0; n0 < n; n0 += 8) gemm_plain_block(q16, xs, m, k, packed + n0 * k, 0, w_scale, bias, n, n0, y, 0, 0);
    return;
  }
  uintptr_t top = heap_top;
  v128_t *wide = need((uint32_t)k * 16);
  for (int n0 = 0; n0 < n; n0 += 8) {
    const int8_t *bp0 = packed + n0 * k;
    for (int kk = 0; kk < k; kk += 2) {
      v128_t b = wasm_v128_load(bp0 + kk * 8);
      wide[kk] = wasm_i16x8_extend_low_i8x16(b);
      wide[kk + 1] = wasm_i16x8_extend_high_i8x16(b);
    }
    gemm_plain_block(q16, xs, m, k, bp0, wide, w_scale, bias, n, n0, y, 1, five);
  }
  heap_top = top;
}

/* The plain GEMM in tiles of four rows, and in tiles of five from WIDEN_FROM rows on (`gemm_plain_block`). */
__attribute__((export_name("gemm_plain"))) void gemm_plain(const int16_t *q16, const float *xs, int m, int k,
                                                            const int8_t *packed, const float *w_scale,
                                                            const float *bias, int n, float *y) {
  gemm_plain_rows(q16, xs, m, k, packed, w_scale, bias, n, y, 0);
}
__attribute__((export_name("gemm_plain5"))) void gemm_plain5(const int16_t *q16, const float *xs, int m, int k,
                                                              const int8_t *packed, const float *w_scale,
                                                              const float *bias, int n, float *y) {
  gemm_plain_rows(q16, xs, m, k, packed, w_scale, bias, n, y, 1);
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
