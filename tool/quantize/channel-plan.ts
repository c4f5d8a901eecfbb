/**
 * How each int8 linear treats its input channels, decided from what calibration saw at its input.
 *
 * Trained CLIP towers carry a few input channels whose activations run far larger than the rest: residual channels
 * with large LayerNorm gains, MLP hidden units that fire hard, residual-stream channels that only the activations
 * show. With one activation scale per row those few channels take the whole 8-bit range and the rest of the row loses
 * its precision. So:
 *
 * - Outlier channels (largest magnitude over OUTLIER_RATIO × the median channel's) leave the int8 path: they are
 *   zeroed in the quantized input and multiplied in fp32 by their own weight rows (LLM.int8()'s decomposition), one
 *   small [rows, k]·[k, out] MatMul beside the int8 product.
 * - The remaining channels are smoothed (SmoothQuant, α = SMOOTH_ALPHA): channel j is divided by s_j and weight column
 *   j multiplied by s_j, s_j = a_j^α / w_j^(1-α) with a_j the channel's calibrated range and w_j its weight range.
 *   Where a LayerNorm feeds the linear, 1/s folds into its gain and bias; elsewhere it is one per-channel Mul, the
 *   same Mul that zeroes the outlier channels.
 * - The accuracy search (`int8-search.ts`) may spend more: extra fp32 channels, or the whole linear in fp32.
 */
import type { LinearWeights } from '../graphs/layers.ts';
import type { ChannelStats } from './activation-stats.ts';

export const SMOOTH_ALPHA = 0.5;

/** A channel whose calibrated range exceeds this many times the median channel's is computed in fp32. */
export const OUTLIER_RATIO = 4;

/** At most this share of a linear's input channels (and at least 1) go the fp32 way before the search spends more. */
const MAX_OUTLIER_SHARE = 1 / 32;

/** Extra precision the accuracy search gives one linear. */
export interface Spend {
  /** fp32 channels on top of the outliers, taken in order of calibrated range. */
  extraChannels: number;
  /** The whole linear in fp32. */
  fp32: boolean;
}

/** What an int8 linear does with its input channels. */
export interface ChannelPlan {
  /** Input channels computed in fp32 beside the int8 product, in increasing order. */
  fp32Channels: number[];
  /** Smoothing divisors per input channel (1 for fp32 channels). */
  smooth: Float32Array;
  /** The whole linear runs in fp32 (no int8 product). */
  fp32: boolean;
}

function median(values: Float32Array): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[sorted.length >> 1];
}

/** Input channels ordered by calibrated range, largest first. */
export const channelsByRange = (absMax: Float32Array): number[] =>
  [...absMax.keys()].sort((a, b) => absMax[b] - absMax[a]);

/** The outlier channels and what the search adds, in increasing order. */
function fp32ChannelsOf({ absMax }: ChannelStats, spend?: Spend): number[] {
  const ranked = channelsByRange(absMax);
  const limit = median(absMax) * OUTLIER_RATIO;
  const cap = Math.max(1, Math.floor(absMax.length * MAX_OUTLIER_SHARE));
  let count = 0;
  while (count < cap && absMax[ranked[count]] > limit) count++;
  count = Math.min(absMax.length, count + (spend?.extraChannels ?? 0));
  return ranked.slice(0, count).sort((a, b) => a - b);
}

/**
 * The plan of an int8 token table (rows of `width` channels, one scale per row) from the statistics of the stream it
 * feeds, as its first LayerNorm shows it: channels that LayerNorm makes outliers amplify the table's rounding, so
 * they are kept in an fp32 side table. No smoothing (the table is gathered, not multiplied).
 */
export function planTable(stats: ChannelStats, spend?: Spend): ChannelPlan {
  const fp32Channels = fp32ChannelsOf(stats, spend);
  return { fp32Channels, smooth: new Float32Array(stats.absMax.length).fill(1), fp32: spend?.fp32 ?? false };
}

/** The plan of one linear from its input statistics and the search's spend. */
export function planLinear(stats: ChannelStats, w: LinearWeights, spend?: Spend): ChannelPlan {
  const { absMax } = stats;
  const fp32Channels = fp32ChannelsOf(stats, spend);
  const outliers = new Set(fp32Channels);
  const smooth = new Float32Array(w.in).fill(1);
  for (let j = 0; j < w.in; j++) {
    if (outliers.has(j)) continue;
    let m = 0;
    for (let o = 0; o < w.out; o++) m = Math.max(m, Math.abs(w.weight[o * w.in + j]));
    const s = Math.max(absMax[j], 1e-6) ** SMOOTH_ALPHA / Math.max(m, 1e-6) ** (1 - SMOOTH_ALPHA);
    if (Number.isFinite(s) && s > 0) smooth[j] = s;
  }
  return { fp32Channels, smooth, fp32: spend?.fp32 ?? false };
}

/** W·diag(s): weight column j (input channel j) times s_j. */
export function scaleInputs(w: LinearWeights, s: Float32Array): LinearWeights {
  const weight = new Float32Array(w.weight.length);
  for (let o = 0; o < w.out; o++) for (let j = 0; j < w.in; j++) weight[o * w.in + j] = w.weight[o * w.in + j] * s[j];
  return { ...w, weight };
}
