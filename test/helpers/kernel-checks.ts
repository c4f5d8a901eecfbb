/** The kernel checks both runtimes run (Node: plain; workerd: plain and relaxed) against the scalar references. */
import { expect } from 'vitest';
import type { KernelExports, Kernels } from '../../src/kernels/kernels.ts';
import { linearFamily, mlpCase, referenceDepthwise, referenceLinear, referenceMlp } from './kernel-reference.ts';

/**
 * Every linear of the families of `seeds`, and MLPs of three sizes, whole and in bands of `band` rows; plain kernels in
 * both of their GEMM's tiles.
 */
export function expectKernelsEqualReference(kernels: Kernels, seeds: number[], band: number): void {
  if (kernels.variant === 'plain')
    for (const rows of [4, 5] as const) {
      expectTileCallsItsGemm(kernels.withPlainTile(rows));
      expectGemmEqualsReference(kernels.withPlainTile(rows), seeds, band);
    }
  else expectGemmEqualsReference(kernels, seeds, band);
}

/** Both tiles give the same results by design, so only the export a linear calls shows that a tile is the one run. */
function expectTileCallsItsGemm(kernels: Kernels): void {
  const called: string[] = [];
  const spy: KernelExports = { ...kernels.x };
  const { gemm_plain, gemm_plain5 } = kernels.x;
  spy.gemm_plain = (...args) => {
    called.push('gemm_plain');
    gemm_plain(...args);
  };
  spy.gemm_plain5 =
    gemm_plain5 &&
    ((...args) => {
      called.push('gemm_plain5');
      gemm_plain5(...args);
    });
  Object.assign(kernels, { x: spy });
  const [m, k, n] = [20, 8, 8];
  kernels.run(
    kernels.pack(new Int8Array(k * n).fill(3), k, n, new Float32Array(n).fill(1)),
    new Float32Array(m * k),
    m,
  );
  expect(called).toEqual([kernels.plainTile === 5 ? 'gemm_plain5' : 'gemm_plain']);
}

function expectGemmEqualsReference(kernels: Kernels, seeds: number[], band: number): void {
  const name = kernels.variant === 'plain' ? `plain (${kernels.plainTile}-row tiles)` : kernels.variant;
  for (const seed of seeds)
    for (const c of linearFamily(seed)) {
      const packed = kernels.pack(c.weight, c.k, c.n, c.wScale, { bias: c.bias, inScale: c.inScale, side: c.side });
      expect(kernels.run(packed, c.x, c.m), `${name} ${c.m}×${c.k}×${c.n}`).toEqual(referenceLinear(c));
    }
  for (const [m, k, seed] of [
    [1, 8, 1],
    [13, 16, 2],
    [70, 64, 3],
  ]) {
    const c = mlpCase(m, k, seed);
    const fc1 = kernels.pack(c.fc1.weight, c.fc1.k, c.fc1.n, c.fc1.wScale, { bias: c.fc1.bias });
    const fc2 = kernels.pack(c.fc2.weight, c.fc2.k, c.fc2.n, c.fc2.wScale, { bias: c.fc2.bias });
    const expected = referenceMlp(c);
    expect(kernels.mlp(fc1, fc2, c.fc1.x, m), `${name} MLP ${m}×${k}`).toEqual(expected);
    expect(kernels.mlp(fc1, fc2, c.fc1.x, m, undefined, band), `in bands of ${band}`).toEqual(expected);
  }
}

/**
 * Depthwise 7×7 convolutions of maps smaller than, equal to and larger than the kernel, 4 to 520 channels: a row too
 * narrow for four outputs at a time, rows of exactly four, rows that split into sixes and fours exactly (6, 8, 10, 14
 * and 20 as 6 + 4 + 4 and 6 + 6 + 4 + 4, 16) or end with a group that overlaps the one before (5, 7, 9, 13, 19, 21),
 * and channel counts that fill the copied-out groups of 32 exactly (256), leave a partial last group (36, 264, 520) or
 * only one (4–24).
 */
export function expectDepthwiseEqualsReference(kernels: Kernels): void {
  for (const [h, w, c] of [
    [1, 1, 4],
    [3, 5, 8],
    [7, 7, 20],
    [12, 9, 40],
    [8, 10, 8],
    [9, 16, 24],
    [5, 21, 16],
    [6, 19, 12],
    [7, 8, 264],
    [9, 6, 520],
    [6, 20, 256],
    [5, 14, 36],
    [4, 4, 36],
    [11, 13, 12],
  ]) {
    const wave = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.93 + seed));
    const [x, weight, bias] = [wave(h * w * c, 1), wave(c * 49, 2), wave(c, 3)];
    const got = kernels.depthwise(kernels.packDepthwise(weight, bias), x, h, w);
    expect(got, `${h}×${w}×${c}`).toEqual(referenceDepthwise(x, h, w, weight, bias));
  }
}
