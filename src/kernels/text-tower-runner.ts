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

/** The token and position embedding (unit 0 of the text tower). */
interface Embedding {
  table: TokenTable;
  positions: Float32Array;
}

/** Each prompt's EOT row: LayerNorm and projection (the text tower's last unit). */
interface Final {
  norm: PackedNorm;
  projection: PackedLinear;
}

/**
 * The units whose weights it was given, as `textUnits` in tool/graphs/text-tower.ts counts them (embedding, each
 * layer, the final LayerNorm and projection): the whole tower, or one build segment's run of units.
 */
export class TextTowerRunner {
  private constructor(
    private readonly k: Kernels,
    private readonly width: number,
    private readonly heads: number,
    private readonly embedding: Embedding | undefined,
    private readonly layers: Layer[],
    private readonly final: Final | undefined,
    /** Ones, for residual adds through scale_add. */
    private readonly ones: number,
  ) {}

  /** Whether it ends at the embedding (else at the hidden stream a segment passes on). */
  get givesEmbedding(): boolean {
    return this.final !== undefined;
  }

  /** Values per row of what `run` returns. */
  get outputWidth(): number {
    return this.final?.projection.n ?? this.width;
  }

  /** Packs the text units whose weights `w` holds (a whole int8 build's, or one segment's) into kernel memory. */
  static load(k: Kernels, w: Initializers, heads: number): TextTowerRunner {
    const layers: Layer[] = [];
    // The layers a segment holds need not start at 0.
    for (let i = 0; i < 1000; i++) {
      const r = `transformer.resblocks.${i}`;
      if (!w.has(`${r}.ln_1.weight`)) continue;
      layers.push({
        ln1: packNorm(k, w, `${r}.ln_1`),
        inProj: packLinear(k, w, `${r}.attn.in_proj`),
        outProj: packLinear(k, w, `${r}.attn.out_proj`),
        ln2: packNorm(k, w, `${r}.ln_2`),
        fc: packLinear(k, w, `${r}.mlp.c_fc`),
        proj: packLinear(k, w, `${r}.mlp.c_proj`),
      });
    }
    const width = w.has('positional_embedding')
      ? w.dims('positional_embedding')[1]
      : w.has('ln_final.weight')
        ? w.dims('ln_final.weight')[0]
        : layers[0]?.inProj.k;
    if (!width) throw new Error('the initializers hold no unit of the text tower');
    if (width % heads !== 0 || (width / heads) % 4 !== 0)
      throw new RangeError(`the kernels' attention needs a head width that is a multiple of 4, not ${width}/${heads}`);
    const embedding = w.has('positional_embedding')
      ? { table: tokenTable(w, width), positions: w.f32('positional_embedding') }
      : undefined;
    const final = w.has('ln_final.weight')
      ? { norm: packNorm(k, w, 'ln_final'), projection: packLinear(k, w, 'text_projection') }
      : undefined;
    return new TextTowerRunner(k, width, heads, embedding, layers, final, k.put(new Float32Array(width).fill(1)));
  }

  /**
   * Token ids [batch, sequence] (EOT the largest id of each row, as CLIP's) → the embeddings [batch, embedDim] when
   * this runner ends the tower, else the hidden stream [batch, sequence, width] a build segment passes on (zeros past
   * each prompt's EOT). A runner that starts past the embedding also takes that stream, `hidden`.
   */
  run(ids: BigInt64Array | Int32Array, batch: number, sequence: number, hidden?: Float32Array): Float32Array {
    const { k, width: W, heads } = this;
    const x = k.x;
    if (ids.length !== batch * sequence) throw new RangeError(`ids has ${ids.length} values, not ${batch}×${sequence}`);
    if (!this.embedding && hidden?.length !== batch * sequence * W)
      throw new RangeError(
        `this runner starts past the embedding: it needs the hidden stream [${batch}, ${sequence}, ${W}]`,
      );
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
      const stream = k.put(
        this.embedding
          ? this.embed(this.embedding, ids, sequence, lengths, rows)
          : ragged(hidden!, sequence, W, lengths),
      );
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
      if (!this.final) return padded(k.output(stream, rows * W), sequence, W, lengths);
      // Each prompt's EOT row, LayerNorm, projection.
      let r0 = 0;
      for (const [b, n] of lengths.entries()) {
        r0 += n;
        copy(h + b * W * 4, stream + (r0 - 1) * W * 4, 1);
      }
      const { norm, projection } = this.final;
      x.layer_norm(h, batch, W, norm.gain, norm.bias, EPS);
      const out = k.scratch(batch * projection.n * 4);
      k.linearAt(projection, h, batch, out);
      return k.output(out, batch * projection.n);
    } finally {
      x.release(mark);
    }
  }

  /** Token rows + positions, as the int8 graph computes them (float32 at each step), for each prompt's rows. */
  private embed(
    { table, positions }: Embedding,
    ids: BigInt64Array | Int32Array,
    sequence: number,
    lengths: number[],
    rows: number,
  ): Float32Array {
    const W = this.width;
    if (sequence * W > positions.length) throw new RangeError(`a sequence of ${sequence} is past the context`);
    const out = new Float32Array(rows * W);
    const vocab = table.kind === 'int8' ? table.scale.length : table.rows.length / W;
    let o = 0;
    for (const [b, n] of lengths.entries())
      for (let t = 0; t < n; t++, o += W) {
        const id = Number(ids[b * sequence + t]);
        if (!(id >= 0 && id < vocab)) throw new RangeError(`token id ${id} is outside the vocabulary`);
        const row = out.subarray(o, o + W);
        if (table.kind === 'fp32') row.set(table.rows.subarray(id * W, (id + 1) * W));
        else {
          const s = table.scale[id];
          for (let c = 0; c < W; c++) row[c] = table.q[id * W + c] * s;
          const F = table.sideChannels.length;
          for (let f = 0; f < F; f++) row[table.sideChannels[f]] += fromHalf(table.side[id * F + f]);
        }
        for (let c = 0; c < W; c++) row[c] += positions[t * W + c];
      }
    return out;
  }
}

/** Each prompt's rows up to its EOT, out of a padded stream [batch, sequence, width]. */
function ragged(stream: Float32Array, sequence: number, width: number, lengths: number[]): Float32Array {
  const out = new Float32Array(lengths.reduce((a, n) => a + n, 0) * width);
  let o = 0;
  for (const [b, n] of lengths.entries()) {
    out.set(stream.subarray(b * sequence * width, (b * sequence + n) * width), o);
    o += n * width;
  }
  return out;
}

/** The padded stream [batch, sequence, width] of ragged rows, zeros past each prompt's EOT. */
function padded(rows: Float32Array, sequence: number, width: number, lengths: number[]): Float32Array {
  const out = new Float32Array(lengths.length * sequence * width);
  let o = 0;
  for (const [b, n] of lengths.entries()) {
    out.set(rows.subarray(o, o + n * width), b * sequence * width);
    o += n * width;
  }
  return out;
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
