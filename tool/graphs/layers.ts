/** Layer emitters shared by both towers: linear (fp32 or int8), LayerNorm, exact GELU. */
import type { Precision } from '../../src/contracts/manifest.ts';
import type { GraphBuilder } from '../onnx/graph-builder.ts';
import { type ChannelPlan, type Norm, planAfterHidden, planAfterNorm } from './smoothing.ts';

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

/** Initializer names of one linear: int8 weights come with their per-column scales. */
interface LinearInitializers {
  weight: string;
  scale?: string;
  bias?: string;
  inputScale?: string;
  fp32Channels?: string;
  fp32Weight?: string;
}

export class Layers {
  private readonly constants = new Map<string, string>();
  constructor(
    readonly g: GraphBuilder,
    readonly precision: Precision,
  ) {}

  private constant(name: string, dtype: 'uint8' | 'int8', value: number, dims: number[] = []): string {
    let c = this.constants.get(name);
    if (!c) {
      c = this.g.init(name, dtype, dims, dtype === 'uint8' ? Uint8Array.of(value) : Int8Array.of(value));
      this.constants.set(name, c);
    }
    return c;
  }

  /**
   * Symmetric u8 quantization with one scale per row (token / pixel position) and zero point 128. Per-row scales make
   * every row's result independent of the rest of the batch (DynamicQuantizeLinear's per-tensor scale does not: a
   * prompt's embedding would change with its batch-mates). The rows are quantized by one per-axis QuantizeLinear on
   * the flattened [rows, K] view, and the row maximum comes from ReduceMax/ReduceMin: no full-size temporaries besides
   * the u8 result, which is what bounds a segment's activation memory.
   */
  private quantizeRows(x: string, k: number): { xq: string; xs: string } {
    const { g } = this;
    const keep = { axes: { ints: [-1] }, keepdims: { i: 1 } };
    const absMax = g.op1('Max', [g.op1('ReduceMax', [x], keep), g.op1('Neg', [g.op1('ReduceMin', [x], keep)])]);
    const xs = g.op1('Max', [g.op1('Div', [absMax, g.scalar(127)]), g.scalar(1e-30)]);
    const flatScale = g.op1('Reshape', [xs, g.i64([-1])]);
    const zp = g.op1('Expand', [this.constant('act_zp_1d', 'uint8', 128, [1]), g.op1('Shape', [flatScale])]);
    const rows = g.op1('Reshape', [x, g.i64([-1, k])]);
    const xq = g.op1('Reshape', [
      g.op1('QuantizeLinear', [rows, flatScale, zp], { axis: { i: 0 } }),
      g.op1('Shape', [x]),
    ]);
    return { xq, xs };
  }

  /** Initializers of each linear by name, so that applying one linear to several slices stores its weights once. */
  private readonly linears = new Map<string, LinearInitializers>();

  private linearWeights(name: string, w: LinearWeights, plan?: ChannelPlan): LinearInitializers {
    let names = this.linears.get(name);
    if (!names) {
      const { g } = this;
      if (this.precision === 'int8') {
        const fp32 = plan?.fp32Channels ?? [];
        // Outlier columns leave the int8 weights (zeroed, so they do not set the per-column scales) for an fp32 side.
        const kept = { ...w, weight: w.weight.map((v, k) => (fp32.includes(k % w.in) ? 0 : v)) };
        const { q, scale } = quantizeColumns(kept);
        names = {
          weight: g.init(`${name}.weight_q`, 'int8', [w.in, w.out], q),
          scale: g.f32(`${name}.weight_scale`, [w.out], scale),
        };
        if (plan?.inputScale) names.inputScale = g.f32(`${name}.input_scale`, [w.in], plan.inputScale);
        if (fp32.length) {
          const side = new Float32Array(fp32.length * w.out);
          fp32.forEach((j, r) => {
            for (let o = 0; o < w.out; o++) side[r * w.out + o] = w.weight[o * w.in + j];
          });
          names.fp32Channels = g.i64(fp32);
          names.fp32Weight = g.f32(`${name}.weight_fp32_rows`, [fp32.length, w.out], side);
        }
      } else {
        names = { weight: g.f32(`${name}.weight_t`, [w.in, w.out], transpose2d(w.weight, w.out, w.in)) };
      }
      if (w.bias) names.bias = g.f32(`${name}.bias`, [w.out], w.bias);
      this.linears.set(name, names);
    }
    return names;
  }

  /** The weights of LayerNorm → linear as the graph uses them, with the int8 channel plan (see smoothing.ts). */
  planNormLinear(norm: Norm, w: LinearWeights): { norm: Norm; w: LinearWeights; plan?: ChannelPlan } {
    return this.precision === 'int8' ? planAfterNorm(norm, w) : { norm, w };
  }

  /**
   * Attention's linears as the graph uses them: in_proj fed by the LayerNorm, out_proj fed by the weighted sum of the
   * value rows (the last third of in_proj), each with its int8 channel plan.
   */
  planAttention(
    norm: Norm,
    inProj: LinearWeights,
    outProj: LinearWeights,
  ): { norm: Norm; inProj: LinearWeights; outProj: LinearWeights; inPlan?: ChannelPlan; outPlan?: ChannelPlan } {
    if (this.precision !== 'int8') return { norm, inProj, outProj };
    const first = planAfterNorm(norm, inProj);
    const width = outProj.in;
    const values = {
      weight: inProj.weight.subarray(2 * width * inProj.in),
      bias: inProj.bias?.subarray(2 * width),
      out: width,
      in: inProj.in,
    };
    const second = planAfterHidden(norm, values, outProj);
    return { norm: first.norm, inProj: first.w, outProj: second.w, inPlan: first.plan, outPlan: second.plan };
  }

  /** The weights of LayerNorm → fc1 → GELU → fc2 as the graph uses them, with both linears' int8 channel plans. */
  planMlp(
    norm: Norm,
    fc1: LinearWeights,
    fc2: LinearWeights,
  ): { norm: Norm; fc1: LinearWeights; fc2: LinearWeights; fc1Plan?: ChannelPlan; fc2Plan?: ChannelPlan } {
    if (this.precision !== 'int8') return { norm, fc1, fc2 };
    const first = planAfterNorm(norm, fc1);
    const second = planAfterHidden(norm, fc1, fc2);
    return { norm: first.norm, fc1: first.w, fc2: second.w, fc1Plan: first.plan, fc2Plan: second.plan };
  }

  /** x·Wᵀ + b; int8 linears follow `plan` (smoothing, outlier channels in fp32). */
  linear(x: string, name: string, w: LinearWeights, plan?: ChannelPlan): string {
    const { g } = this;
    const { weight, scale, bias, inputScale, fp32Channels, fp32Weight } = this.linearWeights(name, w, plan);
    let y: string;
    if (scale) {
      const { xq, xs } = this.quantizeRows(inputScale ? g.op1('Mul', [x, inputScale]) : x, w.in);
      // onnxruntime's fused u8×s8 → float kernel applies the per-column weight scales; the per-row activation scale
      // (which its a_scale cannot express) is one broadcast Mul after it.
      const acc = g.op1(
        'MatMulIntegerToFloat',
        [
          xq,
          weight,
          this.floatOne(),
          scale,
          this.constant('act_zp', 'uint8', 128),
          this.constant('weight_zp', 'int8', 0),
        ],
        {},
        'com.microsoft',
      );
      y = g.op1('Mul', [acc, xs]);
      if (fp32Channels && fp32Weight)
        y = g.op1('Add', [y, g.op1('MatMul', [g.op1('Gather', [x, fp32Channels], { axis: { i: -1 } }), fp32Weight])]);
    } else {
      y = g.op1('MatMul', [x, weight]);
    }
    return bias ? g.op1('Add', [y, bias]) : y;
  }

  private floatOne(): string {
    let c = this.constants.get('one');
    if (!c) {
      c = this.g.f32('one', [], Float32Array.of(1));
      this.constants.set('one', c);
    }
    return c;
  }

  layerNorm(x: string, name: string, weight: Float32Array, bias: Float32Array, eps: number): string {
    const { g } = this;
    const scale = g.f32(`${name}.weight`, [weight.length], weight);
    const shift = g.f32(`${name}.bias`, [bias.length], bias);
    return g.op1('LayerNormalization', [x, scale, shift], { axis: { i: -1 }, epsilon: { f: eps } });
  }

  /**
   * GELU. fp32: exact (erf), written in the Div→Erf→Add→Mul→Mul form onnxruntime fuses into one (Bias)Gelu kernel.
   * int8: the tanh form (com.microsoft FastGelu, bias fused by onnxruntime): 2× faster in the wasm build (measured:
   * 4.7 vs 9.5 ms on 400×3072), at most 5e-4 from erf, far below int8's own rounding; the image tower spends ~10 % of
   * its time in GELU (docs/PERFORMANCE.md, bench:profile).
   */
  gelu(x: string): string {
    const { g } = this;
    if (this.precision === 'int8') return g.op1('FastGelu', [x], {}, 'com.microsoft');
    const erf = g.op1('Erf', [g.op1('Div', [x, g.scalar(Math.SQRT2)])]);
    return g.op1('Mul', [g.op1('Mul', [x, g.op1('Add', [erf, g.scalar(1)])]), g.scalar(0.5)]);
  }
}
