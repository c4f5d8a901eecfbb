import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { segmentLoadingBytes, segmentServingBytes } from '../../../src/contracts/manifest.ts';
import { runCli } from '../../helpers/cli.ts';
import { TEST_CACHE, TINY, VOCAB } from '../../helpers/paths.ts';

const OUT = join(TEST_CACHE, 'models/tiny-budget');
const MiB = 2 ** 20;
const build = (budget: string, out = OUT) =>
  runCli([
    'build',
    '--checkpoint',
    TINY,
    '--out',
    out,
    '--vocab',
    VOCAB,
    '--precisions',
    'int8',
    '--segment-budget',
    budget,
  ]);

beforeAll(async () => {
  const res = await build('64');
  if (res.code !== 0) throw new Error(res.stderr);
});

describe('build --segment-budget (measured in onnxruntime-web)', () => {
  it('records each segment’s measured memory, under the budget, in the manifest', () => {
    const m = readManifest(OUT);
    for (const tower of ['image', 'text'] as const) {
      for (const seg of m.towers[tower].int8!.segments) {
        const mem = seg.memory!;
        const weights = seg.externalData.reduce((a, e) => a + e.bytes, 0);
        // While loading the Worker holds the graph and every weight once in JS (no reassembly copies).
        expect(mem.jsLoadBytes).toBe(seg.graph.bytes + weights);
        // onnxruntime-web's wasm memory starts at 16 MiB; the weights live there once the session exists.
        expect(mem.wasmAfterCreateBytes).toBeGreaterThanOrEqual(Math.max(16 * MiB, weights));
        expect(mem.wasmAfterRunBytes).toBeGreaterThanOrEqual(mem.wasmAfterCreateBytes);
        expect(mem.jsRequestBytes).toBeGreaterThan(0);
        expect(mem.batch).toBe(tower === 'text' ? 4 : 1);
        expect(segmentServingBytes(mem)).toBeLessThanOrEqual(64 * MiB);
        expect(segmentLoadingBytes(mem)).toBeLessThanOrEqual(1.2 * 64 * MiB);
      }
    }
  });

  it('fails clearly when a single unit cannot fit the budget', async () => {
    const res = await build('8', join(TEST_CACHE, 'models/tiny-budget-too-small'));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(
      /image unit 0 alone measures [\d.]+ MiB serving and [\d.]+ MiB loading, over the segment budget of 8\.0 MiB/,
    );
  });

  it('edge-clip measure reports the same quantities for an existing build', async () => {
    const res = await runCli(['measure', '--model', OUT, '--tower', 'text']);
    expect(res.code).toBe(0);
    const { segments } = JSON.parse(res.stdout) as {
      segments: { tower: string; peakBytes: number; jsLoadBytes: number }[];
    };
    const recorded = readManifest(OUT).towers.text.int8!.segments;
    expect(segments.map((s) => s.tower)).toEqual(recorded.map(() => 'text'));
    expect(segments.map((s) => s.jsLoadBytes)).toEqual(recorded.map((s) => s.memory!.jsLoadBytes));
    expect(res.stderr).toMatch(/text 0: weights [\d.]+ MiB, serving [\d.]+ MiB .*, loading [\d.]+ MiB/);
  });
});
