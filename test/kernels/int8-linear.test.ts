import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeKernelModules } from '../../src/adapters/node/kernel-wasm.ts';
import { loadOrt } from '../../src/adapters/node/ort-runtimes.ts';
import { Int8Linears } from '../../src/kernels/int8-linear.ts';
import { Layers, quantizeColumns } from '../../tool/graphs/layers.ts';
import { ExternalDataWriter } from '../../tool/onnx/external-data.ts';
import { GraphBuilder } from '../../tool/onnx/graph-builder.ts';
import { linearFamily, referenceLinear } from '../helpers/int8-linear-reference.ts';

const dir = mkdtempSync(join(tmpdir(), 'edge-clip-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('int8 linear kernel (plain SIMD128) in Node', () => {
  it.each([1, 2, 3])('equals the scalar float32 reference bit for bit (family, seed %i)', async (seed) => {
    const kernels = await Int8Linears.create((await nodeKernelModules()).plain);
    for (const c of linearFamily(seed)) {
      const packed = kernels.pack(c.weight, c.k, c.n, c.wScale, c.bias, c.inScale);
      expect(kernels.run(packed, c.x, c.m), `${c.m}×${c.k}×${c.n}`).toEqual(referenceLinear(c));
    }
  });

  it('refuses shapes the blocked GEMM cannot take, and inputs of the wrong size', async () => {
    const kernels = await Int8Linears.create((await nodeKernelModules()).plain);
    expect(() => kernels.pack(new Int8Array(6 * 8), 6, 8, new Float32Array(8))).toThrow(/k % 4/);
    expect(() => kernels.pack(new Int8Array(4 * 12), 4, 12, new Float32Array(12))).toThrow(/n % 8/);
    const packed = kernels.pack(new Int8Array(4 * 8), 4, 8, new Float32Array(8));
    expect(() => kernels.run(packed, new Float32Array(7), 2)).toThrow(/not 2×4/);
    await expect(Int8Linears.create((await nodeKernelModules()).plain, 'relaxed')).rejects.toThrow(/no relaxed/);
  });

  it('equals onnxruntime-web running the int8 graphs’ own linear (the same quantization)', async () => {
    const web = await loadOrt('web');
    const kernels = await Int8Linears.create((await nodeKernelModules()).plain);
    for (const [m, k, n] of [
      [7, 768, 64],
      [40, 192, 768],
    ]) {
      const wave = (i: number, seed: number) => Math.sin(i * 0.7311 + seed) * Math.cos(i * 0.1173 * seed);
      const weight = Float32Array.from({ length: n * k }, (_, i) => wave(i, 1) * 0.1);
      const bias = Float32Array.from({ length: n }, (_, i) => wave(i, 2) * 0.2);
      const x = Float32Array.from({ length: m * k }, (_, i) => wave(i, 3) * 3);
      const files = new ExternalDataWriter(dir, `linear-${m}`, 1 << 30);
      const g = new GraphBuilder('linear', files);
      const l = new Layers(g, 'int8');
      g.probe(
        'y',
        l.linear(g.input({ name: 'x', dtype: 'float32', dims: [m, k] }), 'fc', { weight, bias, out: n, in: k }),
      );
      const graph = g.encode();
      const externalData = files.finish().map((f) => ({
        path: f.location,
        data: new Uint8Array(Buffer.concat(f.shards.map((s) => readFileSync(join(dir, s.file))))),
      }));
      const session = await web.InferenceSession.create(graph, { externalData });
      const expected = (await session.run({ x: new web.Tensor('float32', x, [m, k]) })).y.data as Float32Array;
      await session.release();
      const { q, scale } = quantizeColumns({ weight, out: n, in: k });
      const got = kernels.run(kernels.pack(q, k, n, scale, bias), x, m);
      expect(got).toEqual(expected);
    }
  });
});
