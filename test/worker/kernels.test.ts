/**
 * Our int8 linear kernels inside workerd, where they would serve: the plain SIMD128 build and the relaxed-SIMD build
 * (workerd's V8 validates relaxed SIMD; Node 20 does not without a flag and computes its dot wrongly there), each
 * equal bit for bit to the scalar float32 references on families of linears and MLPs.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { workerdKernelModules } from '../../src/adapters/workerd/kernel-wasm.ts';
import { workerdOrt } from '../../src/adapters/workerd/ort-wasm.ts';
import { parseManifest } from '../../src/contracts/manifest.ts';
import { IMAGE_INPUT } from '../../src/contracts/tensors.ts';
import { ImageTowerRunner } from '../../src/kernels/image-tower-runner.ts';
import { Kernels, pickKernels } from '../../src/kernels/kernels.ts';
import { towerInitializers } from '../../src/kernels/onnx-initializers.ts';
import { loadSegmentSessions } from '../../src/model/load-tower.ts';
import { SessionChain } from '../../src/model/session-chain.ts';
import { expectDepthwiseEqualsReference, expectKernelsEqualReference } from '../helpers/kernel-checks.ts';
import { fixture } from './seed.ts';

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

describe('the int8 image tower wholly in our kernels, in workerd', () => {
  it.each(['plain', 'relaxed'] as const)('agrees with onnxruntime-web on the tiny build (%s)', async (variant) => {
    const manifest = parseManifest(
      JSON.parse(new TextDecoder().decode(await fixture(env, 'models/tiny-st/manifest.json'))),
    );
    const read = async (ref: { file: string }) => ({ bytes: await fixture(env, `models/tiny-st/${ref.file}`) });
    const segments = manifest.towers.image.int8?.segments ?? [];
    const kernels = await Kernels.create(workerdKernelModules[variant] as WebAssembly.Module, variant);
    const runner = ImageTowerRunner.load(kernels, await towerInitializers(segments, read), manifest.preprocess.size);
    const ort = workerdOrt();
    const chain = new SessionChain(ort, await loadSegmentSessions(ort, segments, read));
    const s = manifest.preprocess.size;
    const pixels = Float32Array.from({ length: 3 * s * s }, (_, i) => Math.sin(i * 0.011) * 1.5);
    const expected = await chain.run(IMAGE_INPUT, pixels, [1, 3, s, s]);
    await chain.release();
    const got = runner.run(pixels);
    let [ab, aa, bb] = [0, 0, 0];
    for (let i = 0; i < got.length; i++)
      [ab, aa, bb] = [ab + got[i] * expected[i], aa + got[i] ** 2, bb + expected[i] ** 2];
    expect(got).toHaveLength(expected.length);
    expect(ab / Math.sqrt(aa * bb)).toBeGreaterThan(0.9999);
  });
});

describe('choosing the kernels at start-up', () => {
  it('takes the relaxed GEMM only when the probe measured it fast enough', async () => {
    const { kernels, plainMs, relaxedMs } = await pickKernels(workerdKernelModules);
    expect(plainMs).toBeGreaterThan(0);
    expect(relaxedMs).toBeGreaterThan(0);
    expect(kernels.variant).toBe((relaxedMs ?? Number.POSITIVE_INFINITY) * 1.3 <= plainMs ? 'relaxed' : 'plain');
    // The rule's two sides: a bar no GEMM can miss, and one none can reach.
    expect((await pickKernels(workerdKernelModules, 0)).kernels.variant).toBe('relaxed');
    expect((await pickKernels(workerdKernelModules, Number.POSITIVE_INFINITY)).kernels.variant).toBe('plain');
  });
});
