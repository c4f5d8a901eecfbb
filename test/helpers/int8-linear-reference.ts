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
}

export function referenceLinear({ m, k, n, x, weight, wScale, bias, inScale }: LinearCase): Float32Array {
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
      if (bias) out = f(out + bias[c]);
      y[r * n + c] = out;
    }
  }
  return y;
}

/** A family of linears: shapes with remainder rows, zero and one-signed rows, outlier values, with and without bias. */
export function linearFamily(seed: number): LinearCase[] {
  let state = seed >>> 0 || 1;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const cases: LinearCase[] = [];
  for (const [k, n] of [
    [4, 8],
    [12, 16],
    [64, 40],
    [192, 64],
    [768, 24],
  ])
    for (const m of [1, 3, 4, 5, 6, 7, 13]) {
      const x = Float32Array.from({ length: m * k }, () => (rand() - 0.5) * 4);
      if (m > 2) x.fill(0, 0, k); // an all-zero row
      if (m > 3) for (let j = k; j < 2 * k; j++) x[j] = -Math.abs(x[j]) - 0.1; // an all-negative row
      x[Math.floor(rand() * x.length)] = 300; // an outlier
      const weight = Int8Array.from({ length: k * n }, () => Math.round((rand() - 0.5) * 126));
      const wScale = Float32Array.from({ length: n }, () => 0.001 + rand() * 0.05);
      const withBias = rand() < 0.7;
      const withScale = rand() < 0.5;
      cases.push({
        m,
        k,
        n,
        x,
        weight,
        wScale,
        bias: withBias ? Float32Array.from({ length: n }, () => rand() - 0.5) : undefined,
        inScale: withScale ? Float32Array.from({ length: k }, (_, j) => (j % 5 === 0 ? 0 : 0.5 + rand())) : undefined,
      });
    }
  return cases;
}
