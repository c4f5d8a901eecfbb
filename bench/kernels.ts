/**
 * `npm run bench:kernels` (issue #26): one int8 linear of the towers' shapes in our kernel (plain SIMD128 and relaxed
 * SIMD) against onnxruntime-web running the int8 graphs' own linear (`Layers.linear`: per-row quantization,
 * MatMulIntegerToFloat, row scales, bias), in Node and in workerd. Both include quantizing the rows and the copies
 * in and out of wasm memory. Writes the table into docs/PERFORMANCE.md between the bench-kernels markers.
 */
import { nodeKernelModules } from '../src/adapters/node/kernel-wasm.ts';
import { Int8Linears } from '../src/kernels/int8-linear.ts';
import { Layers } from '../tool/graphs/layers.ts';
import { buildGraph, startBenchWorker, timeInNode, timeInWorkerd, wave } from './graph-timing.ts';
import { median, ms, publishReport } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const log = (l: string) => process.stderr.write(`[bench:kernels] ${l}\n`);
/** m × k × n: an image MLP's two linears at stage 2 (20×20 positions), stage 0's fc1 (80×80), a 7-token prompt. */
const SHAPES: [number, number, number][] = [
  [400, 768, 3072],
  [400, 3072, 768],
  [6400, 192, 768],
  [7, 768, 3072],
];

const gmacs = ([m, k, n]: [number, number, number], t: number) => (m * k * n) / (t * 1e6);
const rows: string[] = [];
const dev = await startBenchWorker(8798);
try {
  const plain = await Int8Linears.create((await nodeKernelModules()).plain);
  // Two passes, the second one kept: a kernel's first runs are still in V8's baseline tier.
  for (const [pass, shape] of [...SHAPES, ...SHAPES].entries()) {
    const [m, k, n] = shape;
    const weight = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.37) * 0.05);
    const linear = buildGraph([m, k], (g, x) =>
      new Layers(g, 'int8').linear(x, 'fc', { weight, bias: new Float32Array(n).fill(0.5), out: n, in: k }),
    );
    const ortNode = (await timeInNode(linear, RUNS)).ms;
    const ortWorkerd = await timeInWorkerd(dev.url, linear, RUNS);
    const packed = plain.pack(
      Int8Array.from({ length: k * n }, (_, i) => ((i * 37) % 127) - 63),
      k,
      n,
      new Float32Array(n).fill(0.01),
      new Float32Array(n).fill(0.5),
    );
    const x = wave(m * k, 0);
    const y = new Float32Array(m * n);
    for (let i = 0; i < 3; i++) plain.run(packed, x, m, y);
    const times: number[] = [];
    for (let j = 0; j < 5; j++) {
      const t0 = performance.now();
      for (let i = 0; i < RUNS; i++) plain.run(packed, x, m, y);
      times.push((performance.now() - t0) / RUNS);
    }
    const kernelNode = median(times);
    const kernel = async (variant: string) => {
      const res = await fetch(`${dev.url}/kernel?m=${m}&k=${k}&n=${n}&variant=${variant}&runs=${RUNS}`);
      if (!res.ok) throw new Error(`bench Worker: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { ms: number }).ms;
    };
    const plainWorkerd = await kernel('plain');
    const relaxedWorkerd = await kernel('relaxed');
    const cell = (t: number) => `${ms(t)} ms (${gmacs(shape, t).toFixed(1)})`;
    if (pass < SHAPES.length) continue;
    rows.push(
      `| ${m}×${k}×${n} | ${cell(ortNode)} | ${cell(kernelNode)} | ${cell(ortWorkerd)} | ${cell(plainWorkerd)} | ${cell(relaxedWorkerd)} | ${(ortWorkerd / plainWorkerd).toFixed(2)}× / ${(ortWorkerd / relaxedWorkerd).toFixed(2)}× |`,
    );
    log(rows.at(-1) ?? '');
  }
} finally {
  await dev.stop();
}
publishReport(
  'bench-kernels',
  [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:kernels\` (one int8 linear, quantizing the rows and the copies in and out included; median of 5 groups of ${RUNS} runs; in parentheses GMAC/s).`,
    '',
    '| m×k×n | onnxruntime-web, Node | our kernel (plain), Node | onnxruntime-web, workerd | our kernel (plain), workerd | our kernel (relaxed), workerd | workerd speed-up plain / relaxed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n'),
);
