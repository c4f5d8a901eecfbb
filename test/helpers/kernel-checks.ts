/** The kernel checks both runtimes run (Node: plain; workerd: plain and relaxed) against the scalar references. */
import { expect } from 'vitest';
import type { Int8Linears } from '../../src/kernels/int8-linear.ts';
import { linearFamily, mlpCase, referenceLinear, referenceMlp } from './int8-linear-reference.ts';

/** Every linear of the families of `seeds`, and MLPs of three sizes, whole and in bands of `band` rows. */
export function expectKernelsEqualReference(kernels: Int8Linears, seeds: number[], band: number): void {
  for (const seed of seeds)
    for (const c of linearFamily(seed)) {
      const packed = kernels.pack(c.weight, c.k, c.n, c.wScale, c.bias, c.inScale);
      expect(kernels.run(packed, c.x, c.m), `${kernels.variant} ${c.m}×${c.k}×${c.n}`).toEqual(referenceLinear(c));
    }
  for (const [m, k, seed] of [
    [1, 8, 1],
    [13, 16, 2],
    [70, 64, 3],
  ]) {
    const c = mlpCase(m, k, seed);
    const fc1 = kernels.pack(c.fc1.weight, c.fc1.k, c.fc1.n, c.fc1.wScale, c.fc1.bias);
    const fc2 = kernels.pack(c.fc2.weight, c.fc2.k, c.fc2.n, c.fc2.wScale, c.fc2.bias);
    const expected = referenceMlp(c);
    expect(kernels.mlp(fc1, fc2, c.fc1.x, m), `${kernels.variant} MLP ${m}×${k}`).toEqual(expected);
    expect(kernels.mlp(fc1, fc2, c.fc1.x, m, undefined, band), `in bands of ${band}`).toEqual(expected);
  }
}
