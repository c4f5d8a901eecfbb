/**
 * Channel outliers of the three kinds trained CLIP towers show, injected into a random-weight checkpoint so that int8
 * schemes can be tested on a family of checkpoints instead of one fixture:
 *
 * - **gain**: a few residual channels whose LayerNorm gains are large, in every block of a tower (per ConvNeXt stage);
 * - **hidden**: a few MLP hidden units that fire hard (their fc1 / c_fc rows and biases scaled);
 * - **residual**: a few residual-stream channels tens to hundreds of times the stream's size, added by one block's
 *   output bias and removed by a later block's ("massive activations"): no LayerNorm gain or weight row shows them,
 *   only the activations do. A stage with one block keeps it until the next downsample or the head.
 *
 * The channels are drawn from the seed; the same spec and seed give the same checkpoint.
 */
import type { ModelArch } from '../checkpoint/openclip-config.ts';

export interface OutlierKind {
  /** Multiple of the normal size. */
  factor: number;
  /** Channels (gain, residual: per tower or ConvNeXt stage) or units (hidden: per MLP). */
  count: number;
}

export interface OutlierSpec {
  gain?: OutlierKind;
  hidden?: OutlierKind;
  residual?: OutlierKind;
  /** Gain outliers also in the LayerNorms outside blocks (downsamples, ConvNeXt head, ln_final). */
  gainEverywhere?: boolean;
}

export const OUTLIER_KINDS = ['gain', 'hidden', 'residual'] as const;

/**
 * RMS of the residual stream under the synth recipe (checked with the calibration probe): the text stream is the
 * token + position embeddings (std 0.01 each; block outputs are small), the image stream is LayerNorm-sized.
 */
const STREAM_RMS = { text: 0.01 * Math.SQRT2, image: 1 };

/** "gain=16x4,hidden=5x2,residual=100x2" (factor × count); `everywhere` extends gain outliers to every LayerNorm. */
export function parseOutlierSpec(text: string): OutlierSpec {
  const spec: OutlierSpec = {};
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === 'everywhere') {
      spec.gainEverywhere = true;
      continue;
    }
    const m = /^(gain|hidden|residual)=(\d+(?:\.\d+)?)x(\d+)$/.exec(part);
    if (!m) throw new Error(`outlier spec "${part}": expected kind=FACTORxCOUNT with kind gain, hidden or residual`);
    const factor = Number(m[2]);
    const count = Number(m[3]);
    if (!(factor > 0) || count < 1) throw new Error(`outlier spec "${part}": factor and count must be positive`);
    spec[m[1] as (typeof OUTLIER_KINDS)[number]] = { factor, count };
  }
  return spec;
}

/** A seeded choice of `count` distinct indices below `n`. */
function pick(n: number, count: number, uniform: () => number): number[] {
  const all = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, Math.min(count, n)).sort((a, b) => a - b);
}

/** One change to a tensor: multiply (or add to) some of its entries. */
type Edit = (data: Float32Array, read: (name: string) => Float32Array) => void;

const scaleEntries =
  (indices: number[], factor: number): Edit =>
  (data) => {
    for (const i of indices) data[i] *= factor;
  };

const scaleRows =
  (rows: number[], width: number, factor: number): Edit =>
  (data) => {
    for (const r of rows) for (let c = 0; c < width; c++) data[r * width + c] *= factor;
  };

/**
 * The edits a spec makes, by tensor name. Residual edits on image blocks divide by the block's layer scale (read from
 * the already generated tensors) so that the stream itself moves by the stated size.
 */
export function outlierEdits(arch: ModelArch, spec: OutlierSpec, uniform: () => number): Map<string, Edit[]> {
  const edits = new Map<string, Edit[]>();
  const add = (name: string, edit: Edit) => edits.set(name, [...(edits.get(name) ?? []), edit]);
  const { text: t, vision: v } = arch;
  const W = t.width;

  if (spec.gain) {
    const { factor, count } = spec.gain;
    const textCh = pick(W, count, uniform);
    for (let i = 0; i < t.layers; i++)
      for (const ln of ['ln_1', 'ln_2']) add(`transformer.resblocks.${i}.${ln}.weight`, scaleEntries(textCh, factor));
    if (spec.gainEverywhere) add('ln_final.weight', scaleEntries(textCh, factor));
    for (let s = 0; s < 4; s++) {
      const ch = pick(v.dims[s], count, uniform);
      for (let b = 0; b < v.depths[s]; b++)
        add(`visual.trunk.stages.${s}.blocks.${b}.norm.weight`, scaleEntries(ch, factor));
      if (spec.gainEverywhere) {
        if (s < 3) add(`visual.trunk.stages.${s + 1}.downsample.0.weight`, scaleEntries(ch, factor));
        else add('visual.trunk.head.norm.weight', scaleEntries(ch, factor));
      }
    }
  }

  if (spec.hidden) {
    const { factor, count } = spec.hidden;
    const mlp = (prefix: string, hidden: number, width: number) => {
      const units = pick(hidden, count, uniform);
      add(`${prefix}.weight`, scaleRows(units, width, factor));
      add(`${prefix}.bias`, scaleEntries(units, factor));
    };
    for (let i = 0; i < t.layers; i++) mlp(`transformer.resblocks.${i}.mlp.c_fc`, 4 * W, W);
    for (let s = 0; s < 4; s++)
      for (let b = 0; b < v.depths[s]; b++)
        mlp(`visual.trunk.stages.${s}.blocks.${b}.mlp.fc1`, 4 * v.dims[s], v.dims[s]);
    mlp('visual.head.mlp.fc1', 2 * arch.embedDim, v.dims[3]);
  }

  if (spec.residual) {
    const { factor, count } = spec.residual;
    const sign = () => (uniform() < 0.5 ? -1 : 1);
    // Text: added by the first block's attention output, removed by the last block's MLP output.
    const textCh = pick(W, count, uniform).map((c) => ({ c, size: sign() * factor * STREAM_RMS.text }));
    const shift =
      (channels: { c: number; size: number }[], direction: 1 | -1, gamma?: string): Edit =>
      (data, read) => {
        const g = gamma ? read(gamma) : undefined;
        for (const { c, size } of channels) data[c] += (direction * size) / (g ? g[c] : 1);
      };
    add('transformer.resblocks.0.attn.out_proj.bias', shift(textCh, 1));
    if (t.layers > 1) add(`transformer.resblocks.${t.layers - 1}.mlp.c_proj.bias`, shift(textCh, -1));
    // Image: per stage, added by the first block's fc2 and removed by the last (kept when the stage has one block).
    for (let s = 0; s < 4; s++) {
      const ch = pick(v.dims[s], count, uniform).map((c) => ({ c, size: sign() * factor * STREAM_RMS.image }));
      const block = (b: number) => `visual.trunk.stages.${s}.blocks.${b}`;
      add(`${block(0)}.mlp.fc2.bias`, shift(ch, 1, `${block(0)}.gamma`));
      const last = v.depths[s] - 1;
      if (last > 0) add(`${block(last)}.mlp.fc2.bias`, shift(ch, -1, `${block(last)}.gamma`));
    }
  }
  return edits;
}
