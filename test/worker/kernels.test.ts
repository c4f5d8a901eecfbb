/**
 * Our int8 linear kernels inside workerd, where they would serve: the plain SIMD128 build and the relaxed-SIMD build
 * (workerd's V8 validates relaxed SIMD; Node 20 does not without a flag and computes its dot wrongly there), each
 * equal bit for bit to the scalar float32 reference on a family of shapes.
 */
import { describe, expect, it } from 'vitest';
import { workerdKernelModules } from '../../src/adapters/workerd/kernel-wasm.ts';
import { Int8Linears, type KernelVariant } from '../../src/kernels/int8-linear.ts';
import { linearFamily, referenceLinear } from '../helpers/int8-linear-reference.ts';

describe('int8 linear kernels in workerd', () => {
  it.each([
    ['plain', 'plain'],
    ['relaxed', 'plain'],
    ['relaxed', 'relaxed'],
  ] as const)('the %s build’s %s GEMM equals the scalar reference bit for bit', async (build, variant) => {
    const module = workerdKernelModules[build];
    expect(module).toBeDefined();
    const kernels = await Int8Linears.create(module as WebAssembly.Module, variant as KernelVariant);
    for (const seed of [1, 2]) {
      for (const c of linearFamily(seed)) {
        const packed = kernels.pack(c.weight, c.k, c.n, c.wScale, c.bias, c.inScale);
        expect(kernels.run(packed, c.x, c.m), `${variant} ${c.m}×${c.k}×${c.n}`).toEqual(referenceLinear(c));
      }
    }
  });
});
