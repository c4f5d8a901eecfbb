/**
 * Our int8 linear kernels inside workerd, where they would serve: the plain SIMD128 build and the relaxed-SIMD build
 * (workerd's V8 validates relaxed SIMD; Node 20 does not without a flag and computes its dot wrongly there), each
 * equal bit for bit to the scalar float32 references on families of linears and MLPs.
 */
import { describe, expect, it } from 'vitest';
import { workerdKernelModules } from '../../src/adapters/workerd/kernel-wasm.ts';
import { Kernels } from '../../src/kernels/kernels.ts';
import { expectDepthwiseEqualsReference, expectKernelsEqualReference } from '../helpers/kernel-checks.ts';

describe('int8 linear kernels in workerd', () => {
  it.each([
    ['plain', 'plain'],
    ['relaxed', 'plain'],
    ['relaxed', 'relaxed'],
  ] as const)('the %s build’s %s GEMM equals the scalar reference bit for bit', async (build, variant) => {
    const module = workerdKernelModules[build];
    expect(module).toBeDefined();
    const kernels = await Kernels.create(module as WebAssembly.Module, variant);
    expectKernelsEqualReference(kernels, [1, 2], 8);
    expectDepthwiseEqualsReference(kernels);
  });
});
