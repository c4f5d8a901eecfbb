import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeKernelModules } from '../../src/adapters/node/kernel-wasm.ts';
import { loadOrt } from '../../src/adapters/node/ort-runtimes.ts';
import { Kernels, pickKernels } from '../../src/kernels/kernels.ts';
import { Layers, quantizeColumns } from '../../tool/graphs/layers.ts';
import { ExternalDataWriter } from '../../tool/onnx/external-data.ts';
import { GraphBuilder } from '../../tool/onnx/graph-builder.ts';
import { expectDepthwiseEqualsReference, expectKernelsEqualReference } from '../helpers/kernel-checks.ts';

const dir = mkdtempSync(join(tmpdir(), 'edge-clip-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('int8 linear kernel (plain SIMD128) in Node', () => {
  it('equals the scalar float32 references bit for bit (families of linears and MLPs)', async () => {
    expectKernelsEqualReference(await Kernels.create((await nodeKernelModules()).plain), [1, 2, 3], 4);
  });

  it('convolves depthwise 7×7 equal to the scalar reference, and to onnxruntime-web’s Conv within rounding', async () => {
    const kernels = await Kernels.create((await nodeKernelModules()).plain);
    expectDepthwiseEqualsReference(kernels);
    const [h, c] = [20, 48];
    const wave = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
    const [x, weight, bias] = [wave(h * h * c, 1), wave(c * 49, 2), wave(c, 3)];
    // The image tower's form: NHWC → NCHW, onnxruntime's grouped Conv, back to NHWC.
    const expected = await ortInt8([1, h, h, c], x, (l, input) => {
      const g = l.g;
      const nchw = g.op1('Transpose', [input], { perm: { ints: [0, 3, 1, 2] } });
      const conv = g.op1('Conv', [nchw, g.f32('w', [c, 1, 7, 7], weight), g.f32('b', [c], bias)], {
        kernel_shape: { ints: [7, 7] },
        pads: { ints: [3, 3, 3, 3] },
        group: { i: c },
      });
      return g.op1('Transpose', [conv], { perm: { ints: [0, 2, 3, 1] } });
    });
    const got = kernels.depthwise(kernels.packDepthwise(weight, bias), x, h, h);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
    // 49 products of values ≤ 1 summed in another order: a few float32 ulps of ~10.
    expect(worst).toBeLessThan(1e-5);
  });

  it('picks the plain build where the runtime has no relaxed one', async () => {
    const { plain } = await nodeKernelModules();
    const picked = await pickKernels({ plain });
    expect(picked.kernels.variant).toBe('plain');
    expect(picked.relaxedMs).toBeUndefined();
    expect(picked.plainMs).toBeGreaterThan(0);
    expect(picked.plain5Ms).toBeGreaterThan(0);
    expect(picked.kernels.plainTile).toBe(picked.plain5Ms <= picked.plainMs * 1.1 ? 5 : 4);
  });

  it('refuses shapes the blocked GEMM cannot take, and inputs of the wrong size', async () => {
    const kernels = await Kernels.create((await nodeKernelModules()).plain);
    expect(() => kernels.pack(new Int8Array(6 * 8), 6, 8, new Float32Array(8))).toThrow(/k % 4/);
    expect(() => kernels.pack(new Int8Array(4 * 12), 4, 12, new Float32Array(12))).toThrow(/n % 8/);
    const packed = kernels.pack(new Int8Array(4 * 8), 4, 8, new Float32Array(8));
    expect(() => kernels.run(packed, new Float32Array(7), 2)).toThrow(/not 2×4/);
    await expect(Kernels.create((await nodeKernelModules()).plain, 'relaxed')).rejects.toThrow(/no relaxed/);
  });

  it('equals onnxruntime-web running the int8 graphs’ own linear and MLP (the same quantization)', async () => {
    const kernels = await Kernels.create((await nodeKernelModules()).plain);
    const wave = (n: number, seed: number) =>
      Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7311 + seed) * Math.cos(i * 0.1173 * seed));
    for (const [m, k, n] of [
      [7, 768, 64],
      [40, 192, 768],
    ]) {
      const fc = { weight: wave(n * k, 1).map((v) => v * 0.1), bias: wave(n, 2).map((v) => v * 0.2), out: n, in: k };
      const x = wave(m * k, 3).map((v) => v * 3);
      const expected = await ortInt8([m, k], x, (l, input) => l.linear(input, 'fc', fc));
      const { q, scale } = quantizeColumns(fc);
      expect(kernels.run(kernels.pack(q, k, n, scale, { bias: fc.bias }), x, m), `${m}×${k}×${n}`).toEqual(expected);
    }
    const [m, c] = [50, 64];
    const fc1 = { weight: wave(4 * c * c, 4).map((v) => v * 0.2), bias: wave(4 * c, 6), out: 4 * c, in: c };
    const fc2 = { weight: wave(4 * c * c, 5).map((v) => v * 0.1), bias: wave(c, 7), out: c, in: 4 * c };
    const x = wave(m * c, 8).map((v) => v * 2);
    const expected = await ortInt8([m, c], x, (l, input) => l.linear(l.gelu(l.linear(input, 'fc1', fc1)), 'fc2', fc2));
    const [q1, q2] = [quantizeColumns(fc1), quantizeColumns(fc2)];
    const mlp = [
      kernels.pack(q1.q, c, 4 * c, q1.scale, { bias: fc1.bias }),
      kernels.pack(q2.q, 4 * c, c, q2.scale, { bias: fc2.bias }),
    ];
    expect(kernels.mlp(mlp[0], mlp[1], x, m), 'MLP').toEqual(expected);
  });
});

/** What onnxruntime-web computes for a graph of `body` (int8 layers: plain per-row plans) on x of shape `dims`. */
async function ortInt8(
  dims: number[],
  x: Float32Array,
  body: (l: Layers, input: string) => string,
): Promise<Float32Array> {
  const web = await loadOrt('web');
  const files = new ExternalDataWriter(dir, `graph-${dims.join('x')}`, 1 << 30);
  const g = new GraphBuilder('graph', files);
  g.probe('y', body(new Layers(g, 'int8'), g.input({ name: 'x', dtype: 'float32', dims })));
  const graph = g.encode();
  const externalData = files.finish().map((f) => ({
    path: f.location,
    data: new Uint8Array(Buffer.concat(f.shards.map((s) => readFileSync(join(dir, s.file))))),
  }));
  const session = await web.InferenceSession.create(graph, { externalData });
  try {
    return (await session.run({ x: new web.Tensor('float32', x, dims) })).y.data as Float32Array;
  } finally {
    await session.release();
  }
}
