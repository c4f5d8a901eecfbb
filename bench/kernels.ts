/**
 * `npm run bench:kernels` (issue #26): our int8 kernel (plain SIMD128 and relaxed SIMD) against onnxruntime-web running
 * the int8 graphs' own layers (`Layers.linear`: per-row quantization, MatMulIntegerToFloat, row scales, bias; the MLP
 * fc1 → FastGelu → fc2; the depthwise 7×7 as the image tower runs it), on the towers' shapes, in Node and in workerd. Both include quantizing the rows and the
 * copies in and out of wasm memory. Writes the table into docs/PERFORMANCE.md between the bench-kernels markers.
 */
import { nodeKernelModules } from '../src/adapters/node/kernel-wasm.ts';
import { pickKernels } from '../src/kernels/kernels.ts';
import { Layers } from '../tool/graphs/layers.ts';
import { buildGraph, startBenchWorker, timeInNode, timeInWorkerd, wave } from './graph-timing.ts';
import { median, ms, publishReport } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const log = (l: string) => process.stderr.write(`[bench:kernels] ${l}\n`);

/** A linear m×k×n, an MLP m×k → 4k → k (n = 4k), or a depthwise 7×7 on an m×m×k map (n unused). */
interface KernelCase {
  op: 'linear' | 'mlp' | 'depthwise';
  m: number;
  k: number;
  n: number;
}
/** An image MLP's two linears at stage 2 (20×20 positions), stage 0's fc1 (80×80), a 7-token prompt; then MLPs. */
const CASES: KernelCase[] = [
  { op: 'linear', m: 400, k: 768, n: 3072 },
  { op: 'linear', m: 400, k: 3072, n: 768 },
  { op: 'linear', m: 6400, k: 192, n: 768 },
  { op: 'linear', m: 7, k: 768, n: 3072 },
  { op: 'mlp', m: 400, k: 768, n: 3072 },
  { op: 'mlp', m: 6400, k: 192, n: 768 },
  { op: 'mlp', m: 7, k: 768, n: 3072 },
  { op: 'depthwise', m: 80, k: 192, n: 0 },
  { op: 'depthwise', m: 40, k: 384, n: 0 },
  { op: 'depthwise', m: 20, k: 768, n: 0 },
  { op: 'depthwise', m: 10, k: 1536, n: 0 },
];

const label = ({ op, m, k, n }: KernelCase) =>
  op === 'mlp' ? `MLP ${m}×${k}→${n}→${k}` : op === 'depthwise' ? `depthwise 7×7 ${m}×${m}×${k}` : `${m}×${k}×${n}`;
const macs = ({ op, m, k, n }: KernelCase) =>
  op === 'depthwise' ? m * m * k * 49 : (op === 'mlp' ? 2 : 1) * m * k * n;
const pattern = (length: number) => Int8Array.from({ length }, (_, i) => ((i * 37) % 127) - 63);

const rows: string[] = [];
const dev = await startBenchWorker(8798);
try {
  // Plain: in the tile the start-up probe picks, as where they serve.
  const { kernels: plain } = await pickKernels({ plain: (await nodeKernelModules()).plain });
  // Two passes, the second one kept: a kernel's first runs are still in V8's baseline tier.
  for (const [pass, c] of [...CASES, ...CASES].entries()) {
    const { op, m, k, n } = c;
    const floats = (inK: number, out: number, seed: number) => ({
      weight: Float32Array.from({ length: out * inK }, (_, i) => Math.sin(i * 0.37 + seed) * 0.05),
      bias: new Float32Array(out).fill(0.5),
      out,
      in: inK,
    });
    const dwWeight = wave(k * 49, 1);
    const dwBias = wave(k, 2);
    // The depthwise as the image tower runs it: NHWC → NCHW, grouped Conv, back to NHWC.
    const graph =
      op === 'depthwise'
        ? buildGraph([1, m, m, k], (g, x) => {
            const nchw = g.op1('Transpose', [x], { perm: { ints: [0, 3, 1, 2] } });
            const conv = g.op1('Conv', [nchw, g.f32('w', [k, 1, 7, 7], dwWeight), g.f32('b', [k], dwBias)], {
              kernel_shape: { ints: [7, 7] },
              pads: { ints: [3, 3, 3, 3] },
              group: { i: k },
            });
            return g.op1('Transpose', [conv], { perm: { ints: [0, 2, 3, 1] } });
          })
        : buildGraph([m, k], (g, x) => {
            const l = new Layers(g, 'int8');
            const first = l.linear(x, 'fc1', floats(k, n, 1));
            return op === 'mlp' ? l.linear(l.gelu(first), 'fc2', floats(n, k, 2)) : first;
          });
    const ortNode = (await timeInNode(graph, RUNS)).ms;
    const ortWorkerd = await timeInWorkerd(dev.url, graph, RUNS);
    const pack = (inK: number, out: number) =>
      plain.pack(pattern(inK * out), inK, out, new Float32Array(out).fill(0.01), {
        bias: new Float32Array(out).fill(0.5),
      });
    const x = wave(op === 'depthwise' ? m * m * k : m * k, 0);
    let step: () => void;
    if (op === 'depthwise') {
      const conv = plain.packDepthwise(dwWeight, dwBias);
      const y = new Float32Array(x.length);
      step = () => plain.depthwise(conv, x, m, m, y);
    } else if (op === 'mlp') {
      const [fc1, fc2] = [pack(k, n), pack(n, k)];
      const y = new Float32Array(m * k);
      step = () => plain.mlp(fc1, fc2, x, m, y);
    } else {
      const linear = pack(k, n);
      const y = new Float32Array(m * n);
      step = () => plain.run(linear, x, m, y);
    }
    for (let i = 0; i < 3; i++) step();
    const times: number[] = [];
    for (let j = 0; j < 5; j++) {
      const t0 = performance.now();
      for (let i = 0; i < RUNS; i++) step();
      times.push((performance.now() - t0) / RUNS);
    }
    const kernelNode = median(times);
    const kernel = async (variant: string) => {
      const q = new URLSearchParams({ op, m: `${m}`, k: `${k}`, n: `${n}`, variant, runs: `${RUNS}` });
      const res = await fetch(`${dev.url}/kernel?${q}`);
      if (!res.ok) throw new Error(`bench Worker: ${res.status} ${await res.text()}`);
      return (await res.json()) as { ms: number; plainTile: number };
    };
    const { ms: plainWorkerd, plainTile } = await kernel('plain');
    // The depthwise is float32 arithmetic: the relaxed build runs the same code.
    const relaxedWorkerd = op === 'depthwise' ? Number.NaN : (await kernel('relaxed')).ms;
    if (pass < CASES.length) continue;
    const cell = (t: number, tile?: number) =>
      Number.isNaN(t)
        ? '—'
        : `${ms(t)} ms (${(macs(c) / (t * 1e6)).toFixed(1)}${op !== 'depthwise' && tile && m >= 16 ? `; ${tile} rows` : ''})`;
    rows.push(
      `| ${label(c)} | ${cell(ortNode)} | ${cell(kernelNode, plain.plainTile)} | ${cell(ortWorkerd)} | ${cell(plainWorkerd, plainTile)} | ${cell(relaxedWorkerd)} | ${(ortWorkerd / plainWorkerd).toFixed(2)}× / ${Number.isNaN(relaxedWorkerd) ? '—' : `${(ortWorkerd / relaxedWorkerd).toFixed(2)}×`} |`,
    );
    log(rows.at(-1) ?? '');
  }
} finally {
  await dev.stop();
}
publishReport(
  'bench-kernels',
  [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:kernels\` (one int8 linear or MLP, quantizing the rows and the copies in and out included; median of 5 groups of ${RUNS} runs; in parentheses GMAC/s of the int8 products, float32 for the depthwise, and for our plain GEMM from 16 rows, where the tiles differ, the rows of the tile its start-up probe picked).`,
    '',
    '| case | onnxruntime-web, Node | our kernel (plain), Node | onnxruntime-web, workerd | our kernel (plain), workerd | our kernel (relaxed), workerd | workerd speed-up plain / relaxed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n'),
);
