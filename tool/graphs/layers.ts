/** Layer emitters shared by both towers: linear (fp32 or int8), LayerNorm, exact GELU. */
import type { Precision } from '../../src/shared/manifest.ts';
import type { GraphBuilder } from '../onnx/graph-builder.ts';

/**
 * int8 weights use 7 bits ([-63, 63]). onnxruntime's u8×s8 kernels on AVX2 without VNNI add pairs of u8·s8 products in
 * 16 bits with saturation; 255·63·2 stays below 32767, 255·127·2 does not (measured: 18.7 % error with 8-bit weights).
 */
const WEIGHT_QMAX = 63;

/** Reads a checkpoint tensor as float32 by its state-dict name. */
export type WeightSource = (name: string) => Float32Array;

/** Name of the activation passed from unit `boundary - 1` to unit `boundary` (between segments of a tower). */
export const hiddenName = (boundary: number): string => `hidden_${boundary}`;

export interface LinearWeights {
  /** torch layout [out, in] */
  weight: Float32Array;
  bias?: Float32Array;
  out: number;
  in: number;
}

/** [out,in] → [in,out] so that the graph computes x·Wᵀ as MatMul(x, Wt). */
export function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

/** Symmetric per-output-channel quantization of a [out,in] weight into an [in,out] int8 matrix. */
export function quantizeColumns(w: LinearWeights): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(w.out);
  const q = new Int8Array(w.out * w.in);
  for (let o = 0; o < w.out; o++) {
    let max = 0;
    const row = o * w.in;
    for (let i = 0; i < w.in; i++) max = Math.max(max, Math.abs(w.weight[row + i]));
    const s = max > 0 ? max / WEIGHT_QMAX : 1;
    scale[o] = s;
    for (let i = 0; i < w.in; i++) q[i * w.out + o] = Math.round(w.weight[row + i] / s);
  }
  return { q, scale };
}

export class Layers {
  private readonly constants = new Map<string, string>();
  constructor(
    readonly g: GraphBuilder,
    readonly precision: Precision,
  ) {}

  private constant(name: string, dtype: 'uint8' | 'int8', value: number): string {
    let c = this.constants.get(name);
    if (!c) {
      c = this.g.init(name, dtype, [], dtype === 'uint8' ? Uint8Array.of(value) : Int8Array.of(value));
      this.constants.set(name, c);
    }
    return c;
  }

  /**
   * Symmetric u8 quantization with one scale per row (token / pixel position) and zero point 128. Per-row scales make
   * every row's result independent of the rest of the batch (DynamicQuantizeLinear's per-tensor scale does not: a
   * prompt's embedding would change with its batch-mates), and the fixed zero point keeps MatMulInteger's scalar
   * a_zero_point form that every onnxruntime backend implements.
   */
  private quantizeRows(x: string): { xq: string; xs: string } {
    const { g } = this;
    const absMax = g.op1('ReduceMax', [g.op1('Abs', [x])], { axes: { ints: [-1] }, keepdims: { i: 1 } });
    const xs = g.op1('Max', [g.op1('Div', [absMax, g.scalar(127)]), g.scalar(1e-30)]);
    const shifted = g.op1('Add', [g.op1('Round', [g.op1('Div', [x, xs])]), g.scalar(128)]);
    const xq = g.op1('Cast', [g.op1('Clip', [shifted, g.scalar(0), g.scalar(255)])], { to: { i: 2 } });
    return { xq, xs };
  }

  linear(x: string, name: string, w: LinearWeights): string {
    const { g } = this;
    let y: string;
    if (this.precision === 'int8') {
      const { q, scale } = quantizeColumns(w);
      const qw = g.init(`${name}.weight_q`, 'int8', [w.in, w.out], q);
      const ws = g.f32(`${name}.weight_scale`, [w.out], scale);
      const { xq, xs } = this.quantizeRows(x);
      const acc = g.op1('MatMulInteger', [
        xq,
        qw,
        this.constant('act_zp', 'uint8', 128),
        this.constant('weight_zp', 'int8', 0),
      ]);
      y = g.op1('Mul', [g.op1('Mul', [g.op1('Cast', [acc], { to: { i: 1 } }), xs]), ws]);
    } else {
      y = g.op1('MatMul', [x, g.f32(`${name}.weight_t`, [w.in, w.out], transpose2d(w.weight, w.out, w.in))]);
    }
    return w.bias ? g.op1('Add', [y, g.f32(`${name}.bias`, [w.out], w.bias)]) : y;
  }

  layerNorm(x: string, name: string, weight: Float32Array, bias: Float32Array, eps: number): string {
    const { g } = this;
    const scale = g.f32(`${name}.weight`, [weight.length], weight);
    const shift = g.f32(`${name}.bias`, [bias.length], bias);
    return g.op1('LayerNormalization', [x, scale, shift], { axis: { i: -1 }, epsilon: { f: eps } });
  }

  /** Exact (erf) GELU, written in the Div→Erf→Add→Mul→Mul form onnxruntime fuses into one Gelu kernel. */
  gelu(x: string): string {
    const { g } = this;
    const erf = g.op1('Erf', [g.op1('Div', [x, g.scalar(Math.SQRT2)])]);
    return g.op1('Mul', [g.op1('Mul', [x, g.op1('Add', [erf, g.scalar(1)])]), g.scalar(0.5)]);
  }
}
