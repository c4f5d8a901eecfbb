/**
 * The int8 text transformer run wholly in our kernel module: token and position embedding, per layer LayerNorm, the
 * q/k/v linear, causal attention, the output linear and the MLP with their residuals, then LayerNorm and projection of
 * each prompt's EOT row. Its weights are the int8 build's own initializers (tool/graphs/text-tower.ts and layers.ts
 * name them), so the linears are onnxruntime's integers; attention and LayerNorm sum in another order.
 *
 * Prompts are run ragged: a prompt's rows stop at its EOT token (the causal mask makes the positions after it
 * irrelevant to the embedding), so padding costs nothing and a row never depends on its batch-mates.
 */
import { fromHalf } from '../contracts/half-float.ts';
import type { ModelManifest } from '../contracts/manifest.ts';
import type { Kernels, PackedLinear } from './kernels.ts';
import type { Initializers } from './onnx-initializers.ts';
import { type PackedNorm, packLinear, packNorm } from './packed-layers.ts';

/** OpenCLIP's text LayerNorm epsilon (tool/graphs/text-tower.ts). */
const EPS = 1e-5;

interface Layer {
  ln1: PackedNorm;
  inProj: PackedLinear;
  outProj: PackedLinear;
  ln2: PackedNorm;
  fc: PackedLinear;
  proj: PackedLinear;
}

/** The token table as the int8 build stores it: int8 rows with a scale each, plus fp16 columns kept aside. */
type TokenTable =
  | { kind: 'int8'; q: Int8Array; scale: Float32Array; sideChannels: number[]; side: Uint16Array }
  | { kind: 'fp32'; rows: Float32Array };

export class TextTowerRunner {
  private constructor(
    private readonly k: Kernels,
    private readonly width: number,
    private readonly heads: number,
    private readonly table: TokenTable,
    private readonly positions: Float32Array,
    private readonly layers: Layer[],
    private readonly lnFinal: PackedNorm,
    private readonly projection: PackedLinear,
    /** Ones, for residual adds through scale_add. */
    private readonly ones: number,
  ) {}

  get embedDim(): number {
    return this.projection.n;
  }

  /** Packs the text tower's weights from an int8 build's initializers (every text segment's) into kernel memory. */
  static load(k: Kernels, w: Initializers, heads: number): TextTowerRunner {
    const [contextLength, width] = w.dims('positional_embedding');
    if (width % heads !== 0 || (width / heads) % 4 !== 0)
      throw new RangeError(`the kernels' attention needs a head width that is a multiple of 4, not ${width}/${heads}`);
    const layers: Layer[] = [];
    for (let i = 0; w.has(`transformer.resblocks.${i}.ln_1.weight`); i++) {
      const r = `transformer.resblocks.${i}`;
      layers.push({
        ln1: packNorm(k, w, `${r}.ln_1`),
        inProj: packLinear(k, w, `${r}.attn.in_proj`),
        outProj: packLinear(k, w, `${r}.attn.out_proj`),
        ln2: packNorm(k, w, `${r}.ln_2`),
        fc: packLinear(k, w, `${r}.mlp.c_fc`),
        proj: packLinear(k, w, `${r}.mlp.c_proj`),
      });
    }
    return new TextTowerRunner(
      k,
      width,
      heads,
      tokenTable(w, width),
      w.f32('positional_embedding').subarray(0, contextLength * width),
      layers,
      packNorm(k, w, 'ln_final'),
      packLinear(k, w, 'text_projection'),
      k.put(new Float32Array(width).fill(1)),
    );
  }

  /** The embeddings [batch, embedDim] of token ids [batch, sequence] (EOT the largest id of each row, as CLIP's). */
  run(ids: BigInt64Array | Int32Array, batch: number, sequence: number): Float32Array {
    const { k, width: W, heads } = this;
    const x = k.x;
    if (ids.length !== batch * sequence) throw new RangeError(`ids has ${ids.length} values, not ${batch}×${sequence}`);
    if (sequence * W > this.positions.length) throw new RangeError(`a sequence of ${sequence} is past the context`);
    // Each prompt's rows up to its EOT (the first largest id, as the graphs' ArgMax takes it).
    const lengths: number[] = [];
    for (let b = 0; b < batch; b++) {
      let eot = 0;
      for (let t = 1; t < sequence; t++) if (ids[b * sequence + t] > ids[b * sequence + eot]) eot = t;
      lengths.push(eot + 1);
    }
    const rows = lengths.reduce((a, n) => a + n, 0);
    const mark = x.mark();
    try {
      const stream = k.put(this.embed(ids, sequence, lengths, rows));
      const h = k.scratch(rows * W * 4);
      const qkv = k.scratch(rows * 3 * W * 4);
      const y = k.scratch(rows * W * 4);
      const scores = k.scratch(sequence * 4);
      const copy = (to: number, from: number, count: number) =>
        new Uint8Array(x.memory.buffer).copyWithin(to, from, from + count * W * 4);
      for (const l of this.layers) {
        copy(h, stream, rows);
        x.layer_norm(h, rows, W, l.ln1.gain, l.ln1.bias, EPS);
        k.linearAt(l.inProj, h, rows, qkv);
        let r0 = 0;
        for (const n of lengths) {
          x.attention(qkv + r0 * 3 * W * 4, n, W, heads, h + r0 * W * 4, scores);
          r0 += n;
        }
        k.linearAt(l.outProj, h, rows, y);
        x.scale_add(stream, y, this.ones, rows, W);
        copy(h, stream, rows);
        x.layer_norm(h, rows, W, l.ln2.gain, l.ln2.bias, EPS);
        k.mlpAt(l.fc, l.proj, h, rows, y);
        x.scale_add(stream, y, this.ones, rows, W);
      }
      // Each prompt's EOT row, LayerNorm, projection.
      let r0 = 0;
      for (const [b, n] of lengths.entries()) {
        r0 += n;
        copy(h + b * W * 4, stream + (r0 - 1) * W * 4, 1);
      }
      x.layer_norm(h, batch, W, this.lnFinal.gain, this.lnFinal.bias, EPS);
      const out = k.scratch(batch * this.projection.n * 4);
      k.linearAt(this.projection, h, batch, out);
      return k.output(out, batch * this.projection.n);
    } finally {
      x.release(mark);
    }
  }

  /** Token rows + positions, as the int8 graph computes them (float32 at each step), for each prompt's rows. */
  private embed(ids: BigInt64Array | Int32Array, sequence: number, lengths: number[], rows: number): Float32Array {
    const W = this.width;
    const out = new Float32Array(rows * W);
    const vocab = this.table.kind === 'int8' ? this.table.scale.length : this.table.rows.length / W;
    let o = 0;
    for (const [b, n] of lengths.entries())
      for (let t = 0; t < n; t++, o += W) {
        const id = Number(ids[b * sequence + t]);
        if (!(id >= 0 && id < vocab)) throw new RangeError(`token id ${id} is outside the vocabulary`);
        const row = out.subarray(o, o + W);
        const table = this.table;
        if (table.kind === 'fp32') row.set(table.rows.subarray(id * W, (id + 1) * W));
        else {
          const s = table.scale[id];
          for (let c = 0; c < W; c++) row[c] = table.q[id * W + c] * s;
          const F = table.sideChannels.length;
          for (let f = 0; f < F; f++) row[table.sideChannels[f]] += fromHalf(table.side[id * F + f]);
        }
        for (let c = 0; c < W; c++) row[c] += this.positions[t * W + c];
      }
    return out;
  }
}

function tokenTable(w: Initializers, width: number): TokenTable {
  if (!w.has('token_embedding_q')) return { kind: 'fp32', rows: w.f32('token_embedding') };
  const sideChannels: number[] = [];
  let side: Uint16Array = new Uint16Array(0);
  if (w.has('token_embedding_fp16_columns')) {
    // The one-hot placement matrix [F, width] names the channel each fp16 column goes to.
    const place = w.f32('token_embedding_place');
    for (let f = 0; f < place.length / width; f++)
      sideChannels.push(place.subarray(f * width, (f + 1) * width).indexOf(1));
    side = w.f16('token_embedding_fp16_columns');
  }
  return { kind: 'int8', q: w.i8('token_embedding_q'), scale: w.f32('token_embedding_scale'), sideChannels, side };
}

/** The text tower's attention heads, from the checkpoint's OpenCLIP config the manifest carries. */
export function textHeads(m: ModelManifest): number {
  const textCfg = m.openClipConfig.model_cfg.text_cfg as { heads?: unknown } | undefined;
  const heads = textCfg?.heads;
  if (typeof heads !== 'number' || !Number.isInteger(heads) || heads < 1)
    throw new Error('the manifest’s open_clip_config has no text_cfg.heads');
  return heads;
}
