/**
 * The int8 linear in scalar float32 arithmetic (Math.fround at every step), as the int8 graphs compute it: per-row
 * scales max|x·s| / 127, q = round-half-even(v / scale) in [-128, 127], int32 sums, then
 * (float(sum) · wScale[n]) · rowScale + bias[n]. The kernels must match it bit for bit.
 */
const f = Math.fround;

/** Round half to even, as wasm's f32.nearest and onnxruntime's QuantizeLinear. */
function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface LinearCase {
  m: number;
  k: number;
  n: number;
  x: Float32Array;
  weight: Int8Array;
  wScale: Float32Array;
  bias?: Float32Array;
  inScale?: Float32Array;
  /** Input channels kept in fp32, with their weight rows [channels, n]: added before the bias, as the graphs do. */
  side?: { channels: number[]; weight: Float32Array };
}

export function referenceLinear({ m, k, n, x, weight, wScale, bias, inScale, side }: LinearCase): Float32Array {
  const y = new Float32Array(m * n);
  const q = new Int32Array(k);
  for (let r = 0; r < m; r++) {
    let amax = 0;
    const v = new Float32Array(k);
    for (let j = 0; j < k; j++) {
      v[j] = inScale ? f(x[r * k + j] * inScale[j]) : x[r * k + j];
      amax = Math.max(amax, Math.abs(v[j]));
    }
    const s = Math.max(f(amax / 127), f(1e-30));
    for (let j = 0; j < k; j++) q[j] = Math.min(127, Math.max(-128, rint(f(v[j] / s))));
    for (let c = 0; c < n; c++) {
      let acc = 0;
      for (let j = 0; j < k; j++) acc += q[j] * weight[j * n + c];
      let out = f(f(f(acc) * wScale[c]) * s);
      if (side) {
        let extra = 0;
        for (const [i, ch] of side.channels.entries()) extra = f(extra + f(x[r * k + ch] * side.weight[i * n + c]));
        out = f(out + extra);
      }
      if (bias) out = f(out + bias[c]);
      y[r * n + c] = out;
    }
  }
  return y;
}

/** Values of a row whose scale is exactly 1 (max |v| = 127), halves among them: rounding ties. */
const TIES = [127, 2.5, -2.5, 126.5, -126.5, 0.5, -0.5, 1.5, -1.5, -127];

/** A family of linears: shapes with remainder rows, zero and one-signed rows, outlier values, with and without bias. */
export function linearFamily(seed: number): LinearCase[] {
  let state = seed >>> 0 || 1;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const cases: LinearCase[] = [];
  const few = [1, 3, 4, 5, 6, 7, 13];
  // The last two: sizes like the towers', with row counts that are not whole tiles (4 or 5 rows plain, 6 relaxed);
  // 16–19 rows are the first the plain GEMM widens the weights for, with every remainder of both plain tiles.
  for (const [k, n, ms] of [
    [4, 8, few],
    [12, 16, few],
    [64, 40, few],
    [192, 64, few],
    [768, 24, few],
    [192, 128, [16, 17, 18, 19, 131]],
    [768, 256, [259]],
  ] as const)
    for (const m of ms) {
      const x = Float32Array.from({ length: m * k }, () => (rand() - 0.5) * 4);
      if (m > 2) x.fill(0, 0, k); // an all-zero row
      if (m > 3) for (let j = k; j < 2 * k; j++) x[j] = -Math.abs(x[j]) - 0.1; // an all-negative row
      x[Math.floor(rand() * x.length)] = 300; // an outlier
      // A row whose scale is exactly 1 (max |v| = 127) and whose values are halves: rounding ties, half to even.
      if (m > 5) for (let j = 0; j < k; j++) x[2 * k + j] = TIES[j % TIES.length];
      const weight = Int8Array.from({ length: k * n }, () => Math.round((rand() - 0.5) * 126));
      const wScale = Float32Array.from({ length: n }, () => 0.001 + rand() * 0.05);
      const withBias = rand() < 0.7;
      const withScale = rand() < 0.5;
      const sideChannels = rand() < 0.4 ? [0, Math.floor(k / 2), k - 1] : [];
      cases.push({
        m,
        k,
        n,
        x,
        weight,
        wScale,
        bias: withBias ? Float32Array.from({ length: n }, () => rand() - 0.5) : undefined,
        inScale: withScale ? Float32Array.from({ length: k }, (_, j) => (j % 5 === 0 ? 0 : 0.5 + rand())) : undefined,
        side: sideChannels.length
          ? { channels: sideChannels, weight: Float32Array.from({ length: 3 * n }, () => rand() - 0.5) }
          : undefined,
      });
    }
  return cases;
}

/** onnxruntime's FastGelu in scalar float32: MLAS's rational tanh (clamped to ±9) of v·(C·v² + B), then 0.5·v·(t + 1). */
export function referenceFastGelu(x: Float32Array): Float32Array {
  const coeff = (v: number) => f(v);
  const [a13, a11, a9, a7, a5, a3, a1] = [
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-8, 1.48572235717979e-5,
    6.37261928875436e-4, 4.89352455891786e-3,
  ].map(coeff);
  const [b6, b4, b2, b0] = [1.19825839466702e-6, 1.18534705686654e-4, 2.268434632439e-3, 4.89352518554385e-3].map(
    coeff,
  );
  const B = f(0.7978845608028654);
  const C = f(0.035677408136300125);
  return x.map((v) => {
    const u = f(v * f(f(f(C * v) * v) + B));
    const c = Math.min(9, Math.max(-9, u));
    const x2 = f(c * c);
    let p = f(f(a13 * x2) + a11);
    for (const a of [a9, a7, a5, a3, a1]) p = f(f(p * x2) + a);
    p = f(p * c);
    let q = f(f(b6 * x2) + b4);
    for (const b of [b2, b0]) q = f(f(q * x2) + b);
    const t = f(p / q);
    return f(f(f(0.5) * v) * f(t + 1));
  });
}

/** An MLP of two family-style linears (fc1: k → 4k, fc2: 4k → k) with biases, for the fused MLP step. */
export function mlpCase(m: number, k: number, seed: number): { fc1: LinearCase; fc2: LinearCase } {
  let state = seed >>> 0 || 1;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const linear = (kk: number, n: number, rows: number): LinearCase => ({
    m: rows,
    k: kk,
    n,
    x: Float32Array.from({ length: rows * kk }, () => (rand() - 0.5) * 4),
    weight: Int8Array.from({ length: kk * n }, () => Math.round((rand() - 0.5) * 126)),
    wScale: Float32Array.from({ length: n }, () => 0.001 + rand() * 0.02),
    bias: Float32Array.from({ length: n }, () => rand() - 0.5),
  });
  return { fc1: linear(k, 4 * k, m), fc2: linear(4 * k, k, m) };
}

/** fc2(FastGelu(fc1(x))) in scalar float32. */
export function referenceMlp({ fc1, fc2 }: { fc1: LinearCase; fc2: LinearCase }): Float32Array {
  return referenceLinear({ ...fc2, x: referenceFastGelu(referenceLinear(fc1)) });
}

/** A depthwise 7×7 convolution (stride 1, padding 3) of an NHWC map in scalar float32, bias first, taps row by row. */
export function referenceDepthwise(x: Float32Array, h: number, w: number, weight: Float32Array, bias: Float32Array) {
  const c = bias.length;
  const y = new Float32Array(h * w * c);
  for (let oy = 0; oy < h; oy++)
    for (let ox = 0; ox < w; ox++)
      for (let ch = 0; ch < c; ch++) {
        let acc = bias[ch];
        for (let i = 0; i < 7; i++)
          for (let j = 0; j < 7; j++) {
            const [iy, ix] = [oy + i - 3, ox + j - 3];
            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
              acc = f(acc + f(x[(iy * w + ix) * c + ch] * weight[ch * 49 + i * 7 + j]));
          }
        y[(oy * w + ox) * c + ch] = acc;
      }
  return y;
}
