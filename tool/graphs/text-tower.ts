/** OpenCLIP's text transformer as an ONNX graph that accepts any sequence length up to the context length. */
import { TEXT_INPUT, TEXT_OUTPUT } from '../../src/contracts/tensors.ts';
import type { TextArch } from '../checkpoint/openclip-config.ts';
import { hiddenName, type Layers, transpose2d, type WeightSource } from './layers.ts';

const EPS = 1e-5;

/** Units: the token/position embedding, each transformer layer, then pooling + projection. */
export function textUnits(t: TextArch): { prefixes: string[] }[] {
  return [
    { prefixes: ['token_embedding.', 'positional_embedding'] },
    ...Array.from({ length: t.layers }, (_, i) => ({ prefixes: [`transformer.resblocks.${i}.`] })),
    { prefixes: ['ln_final.', 'text_projection'] },
  ];
}

/**
 * Emits units [from, to) of the text tower. Every segment takes `input_ids` (for the causal mask's size and the EOT
 * position); later segments also take `hidden_<from>` [batch, sequence, width]; the last outputs the text embedding.
 */
export function buildTextTower(
  l: Layers,
  t: TextArch,
  embedDim: number,
  w: WeightSource,
  range?: [number, number],
): void {
  const units = t.layers + 2;
  const [from, to] = range ?? [0, units];
  const { g } = l;
  const W = t.width;
  const H = t.heads;
  const ids = g.input({ name: TEXT_INPUT, dtype: 'int64', dims: ['batch', 'sequence'] });
  const seqLen = g.op1('Shape', [ids], { start: { i: 1 }, end: { i: 2 } });
  let x: string;
  if (from === 0) {
    const pos = g.op1('Slice', [
      g.f32('positional_embedding', [t.contextLength, W], w('positional_embedding')),
      g.i64([0]),
      seqLen,
      g.i64([0]),
    ]);
    // The stream channels that matter most are the ones block 0's ln_1 makes outliers: the table's plan follows them.
    const table = { weight: w('token_embedding.weight'), rows: t.vocabSize, width: W };
    x = g.op1('Add', [l.embedding(ids, 'token_embedding', table, 'transformer.resblocks.0.attn.in_proj'), pos]);
  } else {
    x = g.input({ name: hiddenName(from), dtype: 'float32', dims: ['batch', 'sequence', W] });
  }

  // The mask only where this segment has layers (ORT warns about unused initializers otherwise).
  const firstLayer = Math.max(0, from - 1);
  const endLayer = Math.min(t.layers, to - 1);
  let mask = '';
  if (firstLayer < endLayer) {
    const maskData = new Float32Array(t.contextLength * t.contextLength);
    for (let i = 0; i < t.contextLength; i++)
      for (let j = i + 1; j < t.contextLength; j++) maskData[i * t.contextLength + j] = -Infinity;
    const square = g.op1('Slice', [
      g.f32('causal_mask', [t.contextLength, t.contextLength], maskData),
      g.i64([0, 0]),
      g.op1('Concat', [seqLen, seqLen], { axis: { i: 0 } }),
      g.i64([0, 1]),
    ]);
    // MultiHeadAttention's attention_bias is [1 | batch, 1 | heads, sequence, sequence].
    mask = g.op1('Unsqueeze', [square, g.i64([0, 1])]);
  }

  for (let i = firstLayer; i < endLayer; i++) {
    const r = `transformer.resblocks.${i}`;
    const inProj = { weight: w(`${r}.attn.in_proj_weight`), bias: w(`${r}.attn.in_proj_bias`), out: 3 * W, in: W };
    const ln1 = { gain: w(`${r}.ln_1.weight`), bias: w(`${r}.ln_1.bias`) };
    let h = l.layerNorm(x, `${r}.ln_1`, ln1, EPS, { linear: `${r}.attn.in_proj`, w: inProj });
    // in_proj rows are q, then k, then v: one linear, then a split along the last axis.
    const qkv = l.linear(h, `${r}.attn.in_proj`, inProj);
    const [q, k, v] = g.op('Split', [qkv, g.i64([W, W, W])], { axis: { i: -1 } }, { outputs: 3 });
    // One onnxruntime kernel for softmax(q·kᵀ/√D + mask)·v over the heads, where the per-head Reshape/Transpose/MatMul
    // form took 13 nodes a layer: the same numbers at the same speed, fewer nodes to create (npm run bench:ops).
    const o = g.op(
      'MultiHeadAttention',
      [q, k, v, '', '', mask],
      { num_heads: { i: H } },
      { domain: 'com.microsoft' },
    )[0];
    const outProj = { weight: w(`${r}.attn.out_proj.weight`), bias: w(`${r}.attn.out_proj.bias`), out: W, in: W };
    x = g.op1('Add', [x, l.linear(o, `${r}.attn.out_proj`, outProj)]);
    const fc = { weight: w(`${r}.mlp.c_fc.weight`), bias: w(`${r}.mlp.c_fc.bias`), out: 4 * W, in: W };
    const proj = { weight: w(`${r}.mlp.c_proj.weight`), bias: w(`${r}.mlp.c_proj.bias`), out: W, in: 4 * W };
    const ln2 = { gain: w(`${r}.ln_2.weight`), bias: w(`${r}.ln_2.bias`) };
    h = l.layerNorm(x, `${r}.ln_2`, ln2, EPS, { linear: `${r}.mlp.c_fc`, w: fc });
    h = l.linear(l.gelu(l.linear(h, `${r}.mlp.c_fc`, fc)), `${r}.mlp.c_proj`, proj);
    x = g.op1('Add', [x, h]);
  }

  if (to < units) {
    g.output({ name: hiddenName(to), dtype: 'float32', dims: ['batch', 'sequence', W] }, x);
    return;
  }
  // Pool at argmax(ids) (the EOT id is the largest; argmax takes the first on ties), then ln_final on those rows only:
  // LayerNorm is per position, so normalizing only the pooled rows gives the same numbers.
  const eot = g.op1('ArgMax', [g.op1('Cast', [ids], { to: { i: 6 } })], { axis: { i: 1 }, keepdims: { i: 0 } });
  const batch = g.op1('Squeeze', [g.op1('Shape', [ids], { start: { i: 0 }, end: { i: 1 } }), g.i64([0])]);
  const rowStart = g.op1('Mul', [
    g.op1('Range', [g.scalar(0, 'int64'), batch, g.scalar(1, 'int64')]),
    g.op1('Squeeze', [seqLen, g.i64([0])]),
  ]);
  const flat = g.op1('Reshape', [x, g.i64([-1, W])]);
  let pooled = g.op1('Gather', [flat, g.op1('Add', [rowStart, eot])], { axis: { i: 0 } });
  // text_projection is [W,E] applied as x @ P: as a torch-layout linear its weight is Pᵀ.
  const projection = { weight: transpose2d(w('text_projection'), W, embedDim), out: embedDim, in: W };
  const lnFinal = { gain: w('ln_final.weight'), bias: w('ln_final.bias') };
  pooled = l.layerNorm(pooled, 'ln_final', lnFinal, EPS, { linear: 'text_projection', w: projection });
  const out = l.linear(pooled, 'text_projection', projection);
  g.output({ name: TEXT_OUTPUT, dtype: 'float32', dims: ['batch', embedDim] }, out);
}
