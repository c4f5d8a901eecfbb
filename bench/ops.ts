/**
 * `npm run bench:ops`: candidate graph forms of the image tower's non-GEMM work (GELU, the depthwise 7×7 convolution,
 * the per-row activation quantization), each a small graph on the tower's own shapes, timed in onnxruntime-web in Node
 * and in workerd (the bench Worker's `POST /ops`), with its largest difference from the group's first form. Writes
 * the table into docs/PERFORMANCE.md between the bench-ops markers. Decides which forms the graphs use: check each
 * form here, don't assume (what is fast in Node is not always fast in workerd).
 */
import type { GraphBuilder } from '../tool/onnx/graph-builder.ts';
import { buildGraph, startBenchWorker, timeInNode, timeInWorkerd, wave } from './graph-timing.ts';
import { ms, publishReport } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const log = (l: string) => process.stderr.write(`[bench:ops] ${l}\n`);

interface Case {
  group: string;
  name: string;
  dims: number[];
  build: (g: GraphBuilder, x: string) => string;
  /** false: not the group's function (a part of it, or another kernel size), so no difference is reported. */
  same?: false;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const cases: Case[] = [];
const gelu = (name: string, build: Case['build'], same?: false) =>
  cases.push({ group: 'GELU on [400, 3072]', name, dims: [400, 3072], build, same });
gelu('erf form (fp32 builds; fused by onnxruntime)', (g, x) => {
  const erf = g.op1('Erf', [g.op1('Div', [x, g.scalar(Math.SQRT2)])]);
  return g.op1('Mul', [g.op1('Mul', [x, g.op1('Add', [erf, g.scalar(1)])]), g.scalar(0.5)]);
});
gelu('com.microsoft Gelu (erf)', (g, x) => g.op1('Gelu', [x], {}, 'com.microsoft'));
gelu('com.microsoft FastGelu (tanh form; int8 builds)', (g, x) => g.op1('FastGelu', [x], {}, 'com.microsoft'));
gelu('tanh form as x·σ(2u), u = √(2/π)(x + 0.044715x³)', (g, x) => {
  const k = 2 * SQRT_2_OVER_PI;
  const u = g.op1('Mul', [
    x,
    g.op1('Add', [g.op1('Mul', [g.op1('Mul', [x, x]), g.scalar(k * 0.044715)]), g.scalar(k)]),
  ]);
  return g.op1('Mul', [x, g.op1('Sigmoid', [u])]);
});
gelu('Tanh alone', (g, x) => g.op1('Tanh', [x]), false);
gelu('Sigmoid alone', (g, x) => g.op1('Sigmoid', [x]), false);
gelu('Mul by a scalar alone', (g, x) => g.op1('Mul', [x, g.scalar(1.5)]), false);

for (const [C, H] of [
  [192, 80],
  [384, 40],
  [768, 20],
  [1536, 10],
]) {
  for (const k of [7, 3])
    cases.push({
      group: 'depthwise convolution (NCHW, one per channel)',
      name: `${k}×${k} on [1, ${C}, ${H}, ${H}]`,
      same: false,
      dims: [1, C, H, H],
      build: (g, x) =>
        g.op1('Conv', [x, g.f32(`w${C}_${k}`, [C, 1, k, k], wave(C * k * k, 5)), g.f32(`b${C}`, [C], wave(C, 6))], {
          kernel_shape: { ints: [k, k] },
          pads: { ints: [k >> 1, k >> 1, k >> 1, k >> 1] },
          group: { i: C },
        }),
    });
}

/** The stage-0 MLP's first linear input: 1,600 positions × 192 channels, as [1, 20, 80, 192]. */
const Q_DIMS = [1, 20, 80, 192];
const K = 192;
const quant = (name: string, build: Case['build']) =>
  cases.push({
    group: 'per-row u8 quantization of [1, 20, 80, 192] (output: scales · (q − 128))',
    name,
    dims: Q_DIMS,
    build,
  });
/** What the graph does with q and xs, made comparable: the dequantized rows. */
const dequantized = (g: GraphBuilder, q: string, xs: string) =>
  g.op1('Mul', [g.op1('Sub', [g.op1('Cast', [q], { to: { i: 1 } }), g.scalar(128)]), xs]);
const zp128 = (g: GraphBuilder) => g.init('zp128', 'uint8', [1], Uint8Array.of(128));
quant('ReduceMax/ReduceMin, 4-D → rows reshape, Expand zero points (the graphs before #24)', (g, x) => {
  const keep = { axes: { ints: [-1] }, keepdims: { i: 1 } };
  const absMax = g.op1('Max', [g.op1('ReduceMax', [x], keep), g.op1('Neg', [g.op1('ReduceMin', [x], keep)])]);
  const xs = g.op1('Max', [g.op1('Div', [absMax, g.scalar(127)]), g.scalar(1e-30)]);
  const flat = g.op1('Reshape', [xs, g.i64([-1])]);
  const zp = g.op1('Expand', [zp128(g), g.op1('Shape', [flat])]);
  const rows = g.op1('Reshape', [x, g.i64([-1, K])]);
  const q = g.op1('Reshape', [g.op1('QuantizeLinear', [rows, flat, zp], { axis: { i: 0 } }), g.op1('Shape', [x])]);
  return dequantized(g, q, xs);
});
quant('same on rows already flat (no reshapes of x)', (g, x) => {
  const rows = g.op1('Reshape', [x, g.i64([-1, K])]);
  const keep = { axes: { ints: [-1] }, keepdims: { i: 1 } };
  const absMax = g.op1('Max', [g.op1('ReduceMax', [rows], keep), g.op1('Neg', [g.op1('ReduceMin', [rows], keep)])]);
  const xs = g.op1('Max', [g.op1('Div', [absMax, g.scalar(127)]), g.scalar(1e-30)]);
  const flat = g.op1('Reshape', [xs, g.i64([-1])]);
  // Zero points shaped like the scales without Shape/Expand: 0 quantized with zero point 128 is 128.
  const zp = g.op1('QuantizeLinear', [g.op1('Mul', [flat, g.scalar(0)]), g.scalar(1), zp128(g)]);
  return dequantized(g, g.op1('QuantizeLinear', [rows, flat, zp], { axis: { i: 0 } }), xs);
});
quant('ReduceMax(Abs(x)) on flat rows', (g, x) => {
  const rows = g.op1('Reshape', [x, g.i64([-1, K])]);
  const absMax = g.op1('ReduceMax', [g.op1('Abs', [rows])], { axes: { ints: [-1] }, keepdims: { i: 1 } });
  const xs = g.op1('Max', [g.op1('Div', [absMax, g.scalar(127)]), g.scalar(1e-30)]);
  const flat = g.op1('Reshape', [xs, g.i64([-1])]);
  const zp = g.op1('Expand', [zp128(g), g.op1('Shape', [flat])]);
  return dequantized(g, g.op1('QuantizeLinear', [rows, flat, zp], { axis: { i: 0 } }), xs);
});

quant('ReduceMax(Abs(x)), Div by the row scales, per-tensor QuantizeLinear (no reshapes)', (g, x) => {
  const absMax = g.op1('ReduceMax', [g.op1('Abs', [x])], { axes: { ints: [-1] }, keepdims: { i: 1 } });
  const xs = g.op1('Max', [g.op1('Mul', [absMax, g.scalar(1 / 127)]), g.scalar(1e-30)]);
  return dequantized(g, g.op1('QuantizeLinear', [g.op1('Div', [x, xs]), g.scalar(1), zp128(g)]), xs);
});
quant('ReduceMax/ReduceMin, Div by the row scales, per-tensor QuantizeLinear (the graphs’ form now)', (g, x) => {
  const keep = { axes: { ints: [-1] }, keepdims: { i: 1 } };
  const absMax = g.op1('Max', [g.op1('ReduceMax', [x], keep), g.op1('Neg', [g.op1('ReduceMin', [x], keep)])]);
  const xs = g.op1('Max', [g.op1('Div', [absMax, g.scalar(127)]), g.scalar(1e-30)]);
  return dequantized(g, g.op1('QuantizeLinear', [g.op1('Div', [x, xs]), g.scalar(1), zp128(g)]), xs);
});

/** The text tower's attention on a 77-token prompt: q, k, v sliced from one [1, 77, 2304] input, 12 heads of 64. */
const S = 77;
const causal = (g: GraphBuilder) => {
  const m = new Float32Array(S * S);
  for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) m[i * S + j] = -Infinity;
  return g.f32('causal', [S, S], m);
};
const attention = (name: string, build: Case['build']) =>
  cases.push({ group: 'causal self-attention, 12 heads of 64, 77 tokens', name, dims: [1, S, 2304], build });
attention('Reshape/Transpose/MatMul/Softmax per head group (the graphs before #24)', (g, x) => {
  const [q, k, v] = g.op('Split', [x, g.i64([768, 768, 768])], { axis: { i: -1 } }, { outputs: 3 });
  const heads = g.i64([0, 0, 12, 64]);
  const qh = g.op1('Transpose', [g.op1('Reshape', [q, heads])], { perm: { ints: [0, 2, 1, 3] } });
  const kh = g.op1('Transpose', [g.op1('Reshape', [k, heads])], { perm: { ints: [0, 2, 3, 1] } });
  const vh = g.op1('Transpose', [g.op1('Reshape', [v, heads])], { perm: { ints: [0, 2, 1, 3] } });
  const att = g.op1(
    'Softmax',
    [g.op1('Add', [g.op1('Mul', [g.op1('MatMul', [qh, kh]), g.scalar(1 / 8)]), causal(g)])],
    {
      axis: { i: -1 },
    },
  );
  const o = g.op1('Transpose', [g.op1('MatMul', [att, vh])], { perm: { ints: [0, 2, 1, 3] } });
  return g.op1('Reshape', [o, g.i64([0, 0, 768])]);
});
attention('com.microsoft MultiHeadAttention, mask as attention bias (the graphs’ form now)', (g, x) => {
  const [q, k, v] = g.op('Split', [x, g.i64([768, 768, 768])], { axis: { i: -1 } }, { outputs: 3 });
  const bias = g.op1('Reshape', [causal(g), g.i64([1, 1, S, S])]);
  return g.op('MultiHeadAttention', [q, k, v, '', '', bias], { num_heads: { i: 12 } }, { domain: 'com.microsoft' })[0];
});

const built = cases.map((c) => buildGraph(c.dims, c.build));
const nodeMs: number[] = [];
const outputs: Float32Array[] = [];
const workerdMs: number[] = [];
// Two passes, the second one kept: a kernel's first runs in a process or isolate are still in V8's baseline tier.
const twice = [...cases.entries(), ...cases.entries()];
for (const [k, c] of twice) {
  const r = await timeInNode(built[k], RUNS);
  nodeMs[k] = r.ms;
  outputs[k] = r.y;
  log(`Node ${c.name}: ${ms(nodeMs[k])} ms`);
}
const dev = await startBenchWorker(8795);
try {
  for (const [k, c] of twice) {
    workerdMs[k] = await timeInWorkerd(dev.url, built[k], RUNS);
    log(`workerd ${c.name}: ${ms(workerdMs[k])} ms`);
  }
} finally {
  await dev.stop();
}

const maxDiff = (a: Float32Array, b: Float32Array) => {
  if (a.length !== b.length) return Number.NaN;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};
const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:ops\` (onnxruntime-web, one thread; median of 5 groups of ${RUNS} runs; input sin-wave values in [−2, 2]; "max |Δ|" against the group's first form).`,
];
let group = '';
for (const [k, c] of cases.entries()) {
  if (c.group !== group) {
    group = c.group;
    lines.push(
      '',
      `**${group}**`,
      '',
      '| form | Node ms | workerd ms | workerd / Node | max \\|Δ\\| |',
      '| --- | ---: | ---: | ---: | ---: |',
    );
  }
  const first = cases.findIndex((x) => x.group === c.group);
  const d = c.same === false ? '—' : maxDiff(outputs[k], outputs[first]).toExponential(1);
  lines.push(
    `| ${c.name} | ${ms(nodeMs[k])} | ${ms(workerdMs[k])} | ${(workerdMs[k] / nodeMs[k]).toFixed(2)}× | ${d} |`,
  );
}
publishReport('bench-ops', lines.join('\n'));
