/**
 * How each int8 linear treats its input channels, derived from the weights alone (no calibration data needed,
 * deterministic, the same for every build of a checkpoint).
 *
 * Trained CLIP towers carry a few input channels whose activations run tens of times larger than the rest: residual
 * channels with large LayerNorm gains, and MLP hidden units that fire hard. With one activation scale per row those
 * few channels take up the whole 8-bit range and the rest of the row loses its precision. Two measures, chosen by
 * measurement on the outlier fixture (docs/ARCHITECTURE.md):
 *
 * - Outlier channels (estimated range over OUTLIER_RATIO × the median) leave the int8 path: they are zeroed in the
 *   quantized input and multiplied in fp32 by their own weight rows (LLM.int8()'s decomposition). At most a few per
 *   linear, so the fp32 part costs a Gather and a [rows, k]·[k, out] product.
 * - The other channels are smoothed (SmoothQuant): channel j is divided by s_j and weight column j multiplied by s_j,
 *   s_j = a_j^α / w_j^(1-α), with a_j the channel's activation range and w_j its weight range. Where a LayerNorm feeds
 *   the linear, 1/s folds into its gain and bias (no op at run time); after a GELU it is one per-channel Mul, the same
 *   Mul that zeroes the outlier channels.
 */
import type { LinearWeights } from './layers.ts';

/** Migration strength: 0 leaves activations alone, 1 moves all their range into the weights. */
export const SMOOTH_ALPHA = 0.5;

/** A channel whose estimated range exceeds this many times the median range is computed in fp32. */
export const OUTLIER_RATIO = 6;

/** At most this share of a linear's input channels (and at least 1) go the fp32 way. */
const MAX_OUTLIER_SHARE = 1 / 64;

/** A LayerNorm's output is gain·z + bias with z roughly standard normal: |z| rarely exceeds this. */
const Z_RANGE = 4;

/** What an int8 linear does with its input channels (fp32 linears ignore it). */
export interface ChannelPlan {
  /** Input multiplied by this per channel before quantization (smoothing; 0 removes an outlier channel). */
  inputScale?: Float32Array;
  /** Input channels computed in fp32, in increasing order. */
  fp32Channels: number[];
}

export interface Norm {
  gain: Float32Array;
  bias: Float32Array;
}

/** Channels whose range is over OUTLIER_RATIO × the median, largest first, capped; returned in increasing order. */
export function outlierChannels(range: Float32Array): number[] {
  const sorted = Float32Array.from(range).sort();
  const median = sorted[sorted.length >> 1];
  const cap = Math.max(1, Math.floor(range.length * MAX_OUTLIER_SHARE));
  return [...range.keys()]
    .filter((i) => range[i] > OUTLIER_RATIO * median)
    .sort((a, b) => range[b] - range[a])
    .slice(0, cap)
    .sort((a, b) => a - b);
}

function smoothingFactors(range: Float32Array, w: LinearWeights, skip: Set<number>): Float32Array {
  const s = new Float32Array(w.in).fill(1);
  for (let i = 0; i < w.in; i++) {
    if (skip.has(i)) continue;
    let m = 0;
    for (let o = 0; o < w.out; o++) m = Math.max(m, Math.abs(w.weight[o * w.in + i]));
    const v = Math.max(range[i], 1e-6) ** SMOOTH_ALPHA / Math.max(m, 1e-6) ** (1 - SMOOTH_ALPHA);
    if (Number.isFinite(v) && v > 0) s[i] = v;
  }
  return s;
}

/** W·diag(s): weight column i (input channel i) times s_i. */
function scaleInputs(w: LinearWeights, s: Float32Array): LinearWeights {
  const weight = new Float32Array(w.weight.length);
  for (let o = 0; o < w.out; o++) for (let i = 0; i < w.in; i++) weight[o * w.in + i] = w.weight[o * w.in + i] * s[i];
  return { ...w, weight };
}

/** A linear fed by LayerNorm(gain, bias): the LayerNorm's new gain and bias (÷ s), the linear's weights (× s). */
export function planAfterNorm(norm: Norm, w: LinearWeights): { norm: Norm; w: LinearWeights; plan: ChannelPlan } {
  const range = norm.gain.map((g, i) => Math.abs(g) * Z_RANGE + Math.abs(norm.bias[i]));
  const fp32Channels = outlierChannels(range);
  const s = smoothingFactors(range, w, new Set(fp32Channels));
  const plan: ChannelPlan = { fp32Channels };
  if (fp32Channels.length) plan.inputScale = Float32Array.from(range, (_, i) => (fp32Channels.includes(i) ? 0 : 1));
  return {
    norm: { gain: norm.gain.map((g, i) => g / s[i]), bias: norm.bias.map((b, i) => b / s[i]) },
    w: scaleInputs(w, s),
    plan,
  };
}

/**
 * The consumer of LayerNorm → producer linear (→ GELU, or attention's weighted sum of values) → consumer: each hidden
 * channel's range estimated from the producer's row seen through the LayerNorm (mean + Z_RANGE standard deviations);
 * neither GELU nor an average of value rows widens it.
 */
export function planAfterHidden(
  norm: Norm,
  fc1: LinearWeights,
  fc2: LinearWeights,
): { w: LinearWeights; plan: ChannelPlan } {
  const range = new Float32Array(fc1.out);
  for (let j = 0; j < fc1.out; j++) {
    let mean = fc1.bias?.[j] ?? 0;
    let variance = 0;
    for (let i = 0; i < fc1.in; i++) {
      const wji = fc1.weight[j * fc1.in + i];
      mean += wji * norm.bias[i];
      variance += (wji * norm.gain[i]) ** 2;
    }
    range[j] = Math.abs(mean) + Z_RANGE * Math.sqrt(variance);
  }
  const fp32Channels = outlierChannels(range);
  const outliers = new Set(fp32Channels);
  const s = smoothingFactors(range, fc2, outliers);
  return {
    w: scaleInputs(fc2, s),
    plan: { inputScale: s.map((v, i) => (outliers.has(i) ? 0 : 1 / v)), fp32Channels },
  };
}
