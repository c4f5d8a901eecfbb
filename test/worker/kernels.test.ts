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
import { IMAGE_INPUT, TEXT_INPUT } from '../../src/contracts/tensors.ts';
import { ImageTowerRunner } from '../../src/kernels/image-tower-runner.ts';
import { Kernels, pickKernels } from '../../src/kernels/kernels.ts';
import { towerInitializers } from '../../src/kernels/onnx-initializers.ts';
import { TextTowerRunner, textHeads } from '../../src/kernels/text-tower-runner.ts';
import { loadSegmentSessions } from '../../src/model/load-tower.ts';
import { SessionChain } from '../../src/model/session-chain.ts';
import { buildApp, type WorkerEnv } from '../../src/worker/build-app.ts';
import { rowCosines } from '../../tool/quantize/row-cosines.ts';
import { expectDepthwiseEqualsReference, expectKernelsEqualReference } from '../helpers/kernel-checks.ts';
import { fixture, seedModel } from './seed.ts';

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

/** A tower of the tiny build: its initializers for a fresh kernel instance, and its onnxruntime-web sessions. */
async function tinyTower(tower: 'image' | 'text', variant: 'plain' | 'relaxed') {
  const manifest = parseManifest(
    JSON.parse(new TextDecoder().decode(await fixture(env, 'models/tiny-st/manifest.json'))),
  );
  const read = async (ref: { file: string }) => ({ bytes: await fixture(env, `models/tiny-st/${ref.file}`) });
  const segments = manifest.towers[tower].int8?.segments ?? [];
  const kernels = await Kernels.create(workerdKernelModules[variant] as WebAssembly.Module, variant);
  const ort = workerdOrt();
  const chain = new SessionChain(ort, await loadSegmentSessions(ort, segments, read));
  return { manifest, kernels, weights: await towerInitializers(segments, read), chain };
}

describe('the int8 image tower wholly in our kernels, in workerd', () => {
  it.each(['plain', 'relaxed'] as const)('agrees with onnxruntime-web on the tiny build (%s)', async (variant) => {
    const { manifest, kernels, weights, chain } = await tinyTower('image', variant);
    const runner = ImageTowerRunner.load(kernels, weights, manifest.preprocess.size);
    const s = manifest.preprocess.size;
    const pixels = Float32Array.from({ length: 3 * s * s }, (_, i) => Math.sin(i * 0.011) * 1.5);
    const expected = await chain.run(IMAGE_INPUT, pixels, [1, 3, s, s]);
    await chain.release();
    const got = runner.run(pixels);
    expect(got).toHaveLength(expected.length);
    expect(rowCosines(got, expected, got.length)[0]).toBeGreaterThan(0.9999);
  });
});

describe('the int8 text tower wholly in our kernels, in workerd', () => {
  it.each(['plain', 'relaxed'] as const)('agrees with onnxruntime-web on the tiny build (%s)', async (variant) => {
    const { manifest, kernels, weights, chain } = await tinyTower('text', variant);
    const runner = TextTowerRunner.load(kernels, weights, textHeads(manifest));
    // Two prompts, SOT … EOT, the shorter padded with zeros.
    const ids = BigInt64Array.from([49406, 320, 1929, 49407, 0, 0, 49406, 320, 2368, 539, 1237, 49407], BigInt);
    const expected = await chain.run(TEXT_INPUT, ids, [2, 6]);
    await chain.release();
    const got = runner.run(ids, 2, 6);
    expect(got).toHaveLength(expected.length);
    for (const c of rowCosines(got, expected, manifest.embedDim)) expect(c).toBeGreaterThan(0.9999);
  });
});

describe('choosing the kernels at start-up', () => {
  it('takes the relaxed GEMM only when the probe measured it fast enough', async () => {
    const { kernels, plainMs, plain5Ms, relaxedMs } = await pickKernels(workerdKernelModules);
    expect(plainMs).toBeGreaterThan(0);
    expect(plain5Ms).toBeGreaterThan(0);
    expect(relaxedMs).toBeGreaterThan(0);
    const plainBest = Math.min(plainMs, plain5Ms);
    expect(kernels.variant).toBe((relaxedMs ?? Number.POSITIVE_INFINITY) * 1.3 <= plainBest ? 'relaxed' : 'plain');
    // The rule's two sides: a bar no GEMM can miss, and one none can reach (then the plain GEMM's faster tile).
    expect((await pickKernels(workerdKernelModules, 0)).kernels.variant).toBe('relaxed');
    const plain = await pickKernels(workerdKernelModules, Number.POSITIVE_INFINITY);
    expect(plain.kernels.variant).toBe('plain');
    expect(plain.kernels.plainTile).toBe(plain.plain5Ms <= plain.plainMs * 1.1 ? 5 : 4);
  });
});

describe('the Worker serves the int8 towers from our kernels by default (IMAGE_ENGINE / TEXT_ENGINE)', () => {
  // The test project's env sets both engines (to onnxruntime): without them, the defaults apply.
  const { IMAGE_ENGINE: _image, TEXT_ENGINE: _text, ...defaults } = env as unknown as Record<string, unknown>;
  const app = (engine?: string) =>
    buildApp({
      ...defaults,
      MODEL_ID: 'kernels',
      ...(engine && { IMAGE_ENGINE: engine, TEXT_ENGINE: engine }),
      MEMORY_CACHE_ENTRIES: '0',
    } as unknown as WorkerEnv);
  const embeddings = async (a: ReturnType<typeof app>, path: string, body: BodyInit, type: string) => {
    const res = await a.request(path, {
      method: 'POST',
      headers: { 'content-type': type, 'cache-control': 'no-cache' },
      body,
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: { embedding: number[] }[] }).data.map((d) => d.embedding);
  };
  const image = (a: ReturnType<typeof app>, png: Uint8Array) =>
    embeddings(a, '/v1/images/embeddings', png as Uint8Array<ArrayBuffer>, 'image/png');
  // Prompts of different lengths in one request: one padded batch for onnxruntime, ragged rows for the kernels.
  const texts = ['a cat', 'a photo of a small tabby cat sleeping on a sofa in the afternoon sun', 'dog'];
  const text = (a: ReturnType<typeof app>) =>
    embeddings(a, '/v1/embeddings', JSON.stringify({ input: texts }), 'application/json');

  it('answers as the onnxruntime engine does (the same build, the same quantization), and says which loaded', async () => {
    await seedModel(env, 'tiny-st', 'kernels');
    const png = await fixture(env, 'preprocess/chelsea.png');
    const kernels = app();
    const onnxruntime = app('onnxruntime');
    for (const [ours, theirs] of [
      [await image(kernels, png), await image(onnxruntime, png)],
      [await text(kernels), await text(onnxruntime)],
    ]) {
      expect(ours.length).toBe(theirs.length);
      for (const [i, row] of ours.entries())
        expect(rowCosines(row, theirs[i], row.length)[0], `row ${i}`).toBeGreaterThan(0.9999);
    }
    // /v1/models says which engine loaded each tower.
    const models = (await (await kernels.request('/v1/models')).json()) as {
      data: { loads: { tower: string; precision: string; engine: string }[] }[];
    };
    const engines = models.data[0].loads.filter((l) => l.precision === 'int8').map((l) => `${l.tower}:${l.engine}`);
    expect(engines.sort()).toEqual(['image:kernels', 'text:kernels']);
  });

  it('refuses an unknown engine at start-up', () => {
    expect(() => buildApp({ ...env, MODEL_ID: 'kernels', TEXT_ENGINE: 'tensorrt' } as unknown as WorkerEnv)).toThrow(
      /TEXT_ENGINE/,
    );
    expect(() => app('tensorrt')).toThrow(/IMAGE_ENGINE/);
  });
});
