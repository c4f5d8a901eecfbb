import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import type { Precision } from '../../../src/contracts/manifest.ts';
import { bandedMlp } from '../../../tool/graphs/image-tower.ts';
import { Layers } from '../../../tool/graphs/layers.ts';
import { ExternalDataWriter } from '../../../tool/onnx/external-data.ts';
import { GraphBuilder } from '../../../tool/onnx/graph-builder.ts';

const dir = mkdtempSync(join(tmpdir(), 'edge-clip-banded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const H = 8;
const C = 4;
const random = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7919 + i * 1.7));

/** A ConvNeXt-style MLP on an [1, H, H, C] map, in bands of at most `maxPositions` positions. */
async function run(precision: Precision, maxPositions: number, x: Float32Array): Promise<Float32Array> {
  const g = new GraphBuilder('mlp', new ExternalDataWriter(dir, `${precision}-${maxPositions}`, 1 << 20));
  const l = new Layers(g, precision);
  const fc1 = { weight: random(4 * C * C, 1), bias: random(4 * C, 2), out: 4 * C, in: C };
  const fc2 = { weight: random(4 * C * C, 3), bias: random(C, 4), out: C, in: 4 * C };
  const input = g.input({ name: 'x', dtype: 'float32', dims: [1, H, H, C] });
  const y = bandedMlp(l, input, H, (p) => l.linear(l.gelu(l.linear(p, 'fc1', fc1)), 'fc2', fc2), maxPositions);
  g.output({ name: 'y', dtype: 'float32', dims: [1, H, H, C] }, y);
  const session = await ort.InferenceSession.create(g.encode());
  const out = await session.run({ x: new ort.Tensor('float32', x, [1, H, H, C]) });
  return out.y.data as Float32Array;
}

describe('MLP in horizontal bands (bounds the activation memory of early ConvNeXt stages)', () => {
  it.each(['fp32', 'int8'] as const)('gives the same result as the whole map at %s', async (precision) => {
    const x = random(H * H * C, 5);
    const whole = await run(precision, Number.POSITIVE_INFINITY, x);
    const banded = await run(precision, 16, x);
    expect(banded).toHaveLength(whole.length);
    // Every op is per position (and int8 scales are per row), so bands change nothing but the order of work.
    for (let i = 0; i < whole.length; i++) expect(banded[i]).toBeCloseTo(whole[i], 5);
  });
});
