/**
 * A bench-only Worker (`npm run bench:kernel-ab`): the int8 image tower in two builds of our kernels, `a.wasm` and
 * `b.wasm` (copied into .cache/bench/kernel-ab by the script before it starts this Worker), alternated run by run in
 * one isolate, so that a slow phase of the machine falls on both. `GET /?runs=N&variant=plain|relaxed` answers both
 * builds' run times and the plain GEMM's tile each ran. Never deployed.
 */

import a from '../../.cache/bench/kernel-ab/a.wasm';
import b from '../../.cache/bench/kernel-ab/b.wasm';
import { r2Files } from '../../src/adapters/workerd/r2-files.ts';
import { ImageTowerRunner } from '../../src/kernels/image-tower-runner.ts';
import { Kernels, type KernelVariant, pickKernels } from '../../src/kernels/kernels.ts';
import { towerInitializers } from '../../src/kernels/onnx-initializers.ts';
import { syntheticPixels } from '../profile/ort-profile.ts';
import { timedRun } from '../profile/timing.ts';

interface Env {
  MODELS: R2Bucket;
  MODEL_ID: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return new Response('ok');
    const runs = Math.min(30, Math.max(1, Math.floor(Number(url.searchParams.get('runs') ?? 8)) || 8));
    const variant = (url.searchParams.get('variant') === 'relaxed' ? 'relaxed' : 'plain') as KernelVariant;
    const files = r2Files(env.MODELS, env.MODEL_ID);
    const m = await files.manifest();
    const weights = await towerInitializers(m.towers.image.int8?.segments ?? [], files.read);
    const pixels = syntheticPixels(m.preprocess.size);
    // Plain: each build in the tile its start-up probe picks (builds before gemm_plain5 have only four rows), the
    // two probed one after the other so that neither times the other's runs.
    const runners: ImageTowerRunner[] = [];
    const tiles: number[] = [];
    for (const module of [a, b]) {
      const fives = WebAssembly.Module.exports(module).some((e) => e.name === 'gemm_plain5');
      const kernels =
        variant === 'plain' && fives
          ? (await pickKernels({ plain: module })).kernels
          : await Kernels.create(module, variant);
      tiles.push(kernels.plainTile);
      runners.push(ImageTowerRunner.load(kernels, weights, m.preprocess.size));
    }
    // Tier-up: the first runs of fresh kernels are V8's baseline code.
    for (const r of runners) r.run(pixels);
    const times: [number[], number[]] = [[], []];
    for (let i = 0; i < runs; i++)
      for (const [j, r] of runners.entries()) times[j].push(await timedRun(() => r.run(pixels)));
    return Response.json({ a: times[0], b: times[1], tiles });
  },
};
