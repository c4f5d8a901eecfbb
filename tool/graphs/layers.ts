/** Layer emitters shared by both towers: linear (fp32 or int8), LayerNorm, exact GELU. */

import { toHalf } from '../../src/contracts/half-float.ts';
import type { Precision } from '../../src/contracts/manifest.ts';
import type { GraphBuilder } from '../onnx/graph-builder.ts';
import type { ChannelStats } from '../quantize/activation-stats.ts';
import { type ChannelPlan, planLinear, planTable, type Spend, scaleInputs } from '../quantize/channel-plan.ts';

/**
 * int8 weights use 7 bits ([-63, 63]). onnxruntime's u8×s8 kernels on AVX2 without VNNI add pairs of u8·s8 products in
 * 16 bits with saturation; 255·63·2 stays below 32767, 255·127·2 does not (measured: 18.7 % error with 8-bit weights).
 */
const WEIGHT_QMAX = 63;

/** The probe output that exposes a linear's input; a linear applied to several slices has one per slice. */
export const probeName = (linear: string, k: number): string => `probe:${linear}:${k}`;

/** Reads a checkpoint tensor as float32 by its state-dict name. */
export type WeightSource = (name: string) => Float32Array;

/** Name of the activation passed from unit `boundary - 1` to unit `boundary` (between segments of a tower). */
export const hiddenName = (boundary: number): string => `hidden_${boundary}`;

export interface Norm {
  gain: Float32Array;
  bias: Float32Array;
}

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

/** A linear's weights as the graph uses them and its int8 plan. */
interface PlannedLinear {
  w: LinearWeights;
  plan?: ChannelPlan;
  /** Multiplies the input before quantization: smoothing not folded into a LayerNorm, zeros on fp32 channels. */
  inputScale?: Float32Array;
  /** The exact fp32 weights for the input the linear is given (smoothing folded in or not), for `switches`. */
  exact: LinearWeights;
  /** A lookup table (in = its width, out = its rows), not a linear. */
  table?: boolean;
}

/** Per-row int8 and nothing else: what a linear gets without calibration. */
const plainPlan = (channels: number): ChannelPlan => ({
  fp32Channels: [],
  smooth: new Float32Array(channels).fill(1),
  fp32: false,
});

/** A [rows, width] lookup table (the token embedding). */
export interface EmbeddingTable {
  weight: Float32Array;
  rows: number;
  width: number;
}

export interface PlannedInt8 {
  plan: ChannelPlan;
  in: number;
  out: number;
  /** A lookup table: its fp32 channels are float16 side columns. */
  table: boolean;
}

/** The graph input of a switch graph: one float per int8 linear, 1 = int8, 0 = exact fp32 (`Layers.switchIndex`). */
export const INT8_SWITCHES = 'int8_switches';

export interface LayersOptions {
  /** fp32: every linear's input is also a graph output (the int8 calibration reads them; activation-stats.ts). */
  probe?: boolean;
  /** int8: what calibration saw at each linear's input, by linear name (required for every int8 linear). */
  stats?: ReadonlyMap<string, ChannelStats>;
  /** int8: extra precision the accuracy search spends, by linear name. */
  spend?: ReadonlyMap<string, Spend>;
  /**
   * int8: a switch graph for the accuracy search. Every int8 linear also computes its exact fp32 product and answers
   * exact + switch·(int8 − exact), the switch read from the input INT8_SWITCHES: one session measures what any set
   * of linears costs end to end.
   */
  switches?: boolean;
}

export class Layers {
  private readonly constants = new Map<string, string>();
  /** Planned linears by name, so that a linear applied to several slices is planned and stored once. */
  private readonly planned = new Map<string, PlannedLinear>();
  private readonly linears = new Map<string, LinearInitializers>();
  private readonly probes = new Map<string, number>();
  /** Switch graphs: each int8 linear's position in INT8_SWITCHES. */
  readonly switchIndex = new Map<string, number>();

  constructor(
    readonly g: GraphBuilder,
    readonly precision: Precision,
    private readonly options: LayersOptions = {},
  ) {}

  /** Each int8 linear's plan and shape, by name (for the accuracy search and the manifest). */
  get int8Linears(): ReadonlyMap<string, PlannedInt8> {
    return new Map(
      [...this.planned].flatMap(([name, p]) =>
        p.plan ? [[name, { plan: p.plan, in: p.exact.in, out: p.exact.out, table: p.table ?? false }] as const] : [],
      ),
    );
  }

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
   * prompt's embedding would change with its batch-mates). The row maximum comes from ReduceMax/ReduceMin (no
   * full-size temporary); the rows are divided by their scales and quantized by one per-tensor QuantizeLinear (scale
   * 1), which needs no reshape to a 2-D view, no Shape and no per-row zero points: 8 nodes a linear where the per-axis
   * form took 13 (every node costs session creation time, `npm run bench:ops` and docs/PERFORMANCE.md), at the same
   * speed and with the same integers.
   */
  private quantizeRows(x: string): { xq: string; xs: string } {
    const { g } = this;
    const keep = { axes: { ints: [-1] }, keepdims: { i: 1 } };
    const absMax = g.op1('Max', [g.op1('ReduceMax', [x], keep), g.op1('Neg', [g.op1('ReduceMin', [x], keep)])]);
    const xs = g.op1('Max', [g.op1('Div', [absMax, g.scalar(127)]), g.scalar(1e-30)]);
    const xq = g.op1('QuantizeLinear', [g.op1('Div', [x, xs]), g.scalar(1), this.constant('act_zp', 'uint8', 128)]);
    return { xq, xs };
  }

  /** Without calibration (unit tests of graph pieces) a linear gets plain per-row int8; with it, every linear has stats. */
  private planFor(name: string, w: LinearWeights): ChannelPlan {
    const { stats, spend } = this.options;
    if (!stats) return plainPlan(w.in);
    const seen = stats.get(name);
    if (!seen) throw new Error(`int8 linear ${name}: calibration saw no input`);
    return planLinear(seen, w, spend?.get(name));
  }

  /** A linear not fed by a LayerNorm: smoothing is a Mul on its input, which also zeroes the fp32 channels. */
  private plannedLinear(name: string, w: LinearWeights): PlannedLinear {
    let p = this.planned.get(name);
    if (!p) {
      if (this.precision !== 'int8') p = { w, exact: w };
      else {
        const plan = this.planFor(name, w);
        const fp32 = new Set(plan.fp32Channels);
        const inputScale = plan.smooth.map((s, j) => (fp32.has(j) ? 0 : 1 / s));
        p = plan.fp32 ? { w, plan, exact: w } : { w: scaleInputs(w, plan.smooth), plan, inputScale, exact: w };
      }
      this.planned.set(name, p);
    }
    return p;
  }

  private linearWeights(name: string, { w, plan, inputScale }: PlannedLinear): LinearInitializers {
    let names = this.linears.get(name);
    if (!names) {
      const { g } = this;
      if (this.precision === 'int8' && plan && !plan.fp32) {
        const fp32 = plan.fp32Channels;
        // Outlier columns leave the int8 weights (zeroed, so they do not set the per-column scales) for an fp32 side.
        const kept = { ...w, weight: w.weight.map((v, k) => (fp32.includes(k % w.in) ? 0 : v)) };
        const { q, scale } = quantizeColumns(kept);
        names = {
          weight: g.init(`${name}.weight_q`, 'int8', [w.in, w.out], q),
          scale: g.f32(`${name}.weight_scale`, [w.out], scale),
        };
        if (inputScale) names.inputScale = g.f32(`${name}.input_scale`, [w.in], inputScale);
        if (fp32.length) {
          const side = new Float32Array(fp32.length * w.out);
          fp32.forEach((j, r) => {
            for (let o = 0; o < w.out; o++) side[r * w.out + o] = w.weight[o * w.in + j];
          });
          // Named, so that a runner reading the build's initializers (src/kernels) finds a linear's side channels.
          names.fp32Channels = g.init(
            `${name}.fp32_channels`,
            'int64',
            [fp32.length],
            BigInt64Array.from(fp32, BigInt),
          );
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

  /** x·Wᵀ + b; an int8 linear follows its channel plan (smoothing, outlier channels in fp32, or all fp32). */
  linear(x: string, name: string, w: LinearWeights): string {
    const { g } = this;
    if (this.options.probe) {
      const k = this.probes.get(name) ?? 0;
      this.probes.set(name, k + 1);
      g.probe(probeName(name, k), x);
    }
    const planned = this.plannedLinear(name, w);
    const { weight, scale, bias, inputScale, fp32Channels, fp32Weight } = this.linearWeights(name, planned);
    let y: string;
    if (scale) {
      const { xq, xs } = this.quantizeRows(inputScale ? g.op1('Mul', [x, inputScale]) : x);
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
      if (this.options.switches) {
        const { exact } = planned;
        y = this.switched(name, y, () =>
          g.op1('MatMul', [
            x,
            this.exactInit(`${name}.weight_exact`, [exact.in, exact.out], () =>
              transpose2d(exact.weight, exact.out, exact.in),
            ),
          ]),
        );
      }
    } else {
      y = g.op1('MatMul', [x, weight]);
    }
    return bias ? g.op1('Add', [y, bias]) : y;
  }

  /** exact + switch·(int8 − exact), the switch this site's entry of INT8_SWITCHES. */
  private switched(name: string, int8: string, exact: () => string): string {
    const { g } = this;
    if (this.switchIndex.size === 0) g.input({ name: INT8_SWITCHES, dtype: 'float32', dims: ['linears'] });
    let index = this.switchIndex.get(name);
    if (index === undefined) {
      index = this.switchIndex.size;
      this.switchIndex.set(name, index);
    }
    const exactY = exact();
    const on = g.op1('Gather', [INT8_SWITCHES, g.scalar(index, 'int64')], { axis: { i: 0 } });
    return g.op1('Add', [exactY, g.op1('Mul', [g.op1('Sub', [int8, exactY]), on])]);
  }

  /** An fp32 initializer written once however many slices use it. */
  private exactInit(name: string, dims: number[], data: () => Float32Array): string {
    if (!this.constants.has(name)) this.constants.set(name, this.g.f32(name, dims, data()));
    return name;
  }

  /**
   * A token table lookup. int8: rows with one scale per row (a Gather reads only the rows a prompt needs, and the
   * table shrinks 4×); the channels its plan keeps in fp32 (planTable: those the stream's first LayerNorm makes
   * outliers, fed to `consumer`) come from an fp32 side table, put in place by a one-hot MatMul.
   */
  embedding(ids: string, name: string, table: EmbeddingTable, consumer: string): string {
    const { g } = this;
    const { weight, rows, width } = table;
    const exact = () => g.op1('Gather', [this.exactInit(name, [rows, width], () => weight), ids]);
    if (this.precision !== 'int8') return exact();
    const shape = { weight, in: width, out: rows };
    const plan = this.options.stats ? this.tablePlan(consumer, width) : plainPlan(width);
    this.planned.set(name, { w: shape, plan, exact: shape, table: true });
    if (plan.fp32) return exact();
    const side = new Set(plan.fp32Channels);
    const q = new Int8Array(weight.length);
    const scale = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const row = weight.subarray(r * width, (r + 1) * width);
      let max = 0;
      for (let c = 0; c < width; c++) if (!side.has(c)) max = Math.max(max, Math.abs(row[c]));
      const s = max > 0 ? max / 127 : 1;
      scale[r] = s;
      for (let c = 0; c < width; c++) q[r * width + c] = side.has(c) ? 0 : Math.round(row[c] / s);
    }
    const int8Rows = g.op1('Gather', [g.init(`${name}_q`, 'int8', [rows, width], q), ids]);
    const scales = g.op1('Gather', [g.f32(`${name}_scale`, [rows, 1], scale), ids]);
    let y = g.op1('Mul', [g.op1('Cast', [int8Rows], { to: { i: 1 } }), scales]);
    // The side columns are float16: ~16 times finer than the rows' int8, at half the bytes of float32 (a column
    // costs a value per vocabulary entry).
    const F = plan.fp32Channels;
    if (F.length) {
      const columns = new Uint16Array(rows * F.length);
      const place = new Float32Array(F.length * width);
      for (const [k, c] of F.entries()) {
        for (let r = 0; r < rows; r++) columns[r * F.length + k] = toHalf(weight[r * width + c]);
        place[k * width + c] = 1;
      }
      const picked = g.op1('Gather', [g.init(`${name}_fp16_columns`, 'float16', [rows, F.length], columns), ids]);
      const wide = g.op1('MatMul', [
        g.op1('Cast', [picked], { to: { i: 1 } }),
        g.f32(`${name}_place`, [F.length, width], place),
      ]);
      y = g.op1('Add', [y, wide]);
    }
    return this.options.switches ? this.switched(name, y, exact) : y;
  }

  private tablePlan(consumer: string, width: number): ChannelPlan {
    const stats = this.options.stats?.get(consumer);
    if (!stats || stats.absMax.length !== width)
      throw new Error(`token table: calibration saw no input of ${consumer}`);
    return planTable(stats, this.options.spend?.get('token_embedding'));
  }

  private floatOne(): string {
    let c = this.constants.get('one');
    if (!c) {
      c = this.g.f32('one', [], Float32Array.of(1));
      this.constants.set('one', c);
    }
    return c;
  }

  /**
   * LayerNorm over the last axis. When it feeds an int8 linear (`feeds`), that linear's smoothing folds into the gain
   * and bias (no op at run time) and the linear is planned here for its later `linear()` calls.
   */
  layerNorm(x: string, name: string, norm: Norm, eps: number, feeds?: { linear: string; w: LinearWeights }): string {
    const { g } = this;
    let { gain, bias } = norm;
    if (feeds && this.precision === 'int8' && !this.planned.has(feeds.linear)) {
      const plan = this.planFor(feeds.linear, feeds.w);
      if (plan.fp32) this.planned.set(feeds.linear, { w: feeds.w, plan, exact: feeds.w });
      else {
        const s = plan.smooth;
        gain = gain.map((v, j) => v / s[j]);
        bias = bias.map((v, j) => v / s[j]);
        const fp32 = new Set(plan.fp32Channels);
        const inputScale = fp32.size ? Float32Array.from(s, (_, j) => (fp32.has(j) ? 0 : 1)) : undefined;
        const w = scaleInputs(feeds.w, s);
        this.planned.set(feeds.linear, { w, plan, inputScale, exact: w });
      }
    }
    const scale = g.f32(`${name}.weight`, [gain.length], gain);
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
