/**
 * A bench-only Worker (`npm run bench:profile`): loads one int8 tower from the local R2 bucket with onnxruntime's
 * profiler on (or off: `profile=0`) and answers `GET /?tower=image|text&runs=N&ids=…` with the run times and the
 * profiler's printed events, so that workerd's op table can be set beside Node's; `POST /bare` (below); and `POST /ops`
 * (`npm run bench:ops`: one small graph's median run time); `GET /kernel` (`npm run bench:kernels`); `GET /kernel-tower` (`npm run bench:kernel-tower`); `GET /kernel-share` (`npm run bench:kernel-share`). Never deployed: the service Worker has no profiling code.
 */

import { workerdDecoderModules } from '../../src/adapters/workerd/image-wasm.ts';
import { workerdKernelModules } from '../../src/adapters/workerd/kernel-wasm.ts';
import { ortWasmMemoryBytes, workerdOrt } from '../../src/adapters/workerd/ort-wasm.ts';
import { r2Files } from '../../src/adapters/workerd/r2-files.ts';
import type { TowerName } from '../../src/contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../src/contracts/tensors.ts';
import { ImageTowerRunner } from '../../src/kernels/image-tower-runner.ts';
import { Kernels, type KernelVariant, pickKernels } from '../../src/kernels/kernels.ts';
import { towerInitializers } from '../../src/kernels/onnx-initializers.ts';
import { TextTowerRunner, textHeads } from '../../src/kernels/text-tower-runner.ts';
import { preprocessImage } from '../../src/model/image/preprocess-image.ts';
import { imageDecoders } from '../../src/model/image/wasm-codec.ts';
import { loadTowerSessions } from '../../src/model/load-tower.ts';
import { startRuntime } from '../../src/model/ort-runtime.ts';
import { SessionChain } from '../../src/model/session-chain.ts';
import { ClipTokenizer } from '../../src/model/tokenizer.ts';
import { endProfiling, routeConsoleLog, syntheticPixels } from './ort-profile.ts';
import { tick, timedRun } from './timing.ts';

interface Env {
  MODELS: R2Bucket;
  MODEL_ID: string;
}

routeConsoleLog();

const runners = new Map<string, Promise<SessionChain>>();
function runner(env: Env, tower: TowerName, profile: boolean): Promise<SessionChain> {
  const key = `${tower}/${profile}`;
  let r = runners.get(key);
  if (!r) {
    const files = r2Files(env.MODELS, env.MODEL_ID);
    const ort = workerdOrt();
    r = files.manifest().then(async (m) => {
      const sessions = await loadTowerSessions(ort, m, tower, 'int8', files.read, {
        sessionOptions: { enableProfiling: profile },
      });
      return new SessionChain(ort, sessions);
    });
    runners.set(key, r);
    // A failed load is not kept: the next request tries again.
    r.catch(() => runners.delete(key));
  }
  return r;
}

/**
 * The bare parts of a cold request, one after another with nothing overlapped, in a fresh isolate: the request's own
 * work (decode + preprocess the posted image, or load the tokenizer and tokenize), start onnxruntime's wasm runtime,
 * read every file of the tower from R2, sha256 them, create the sessions from those bytes, first run. A cold request is measured against their sum.
 */
async function bareParts(env: Env, tower: TowerName, image: Uint8Array, text: string): Promise<Record<string, number>> {
  const parts: Record<string, number> = {};
  const time = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      parts[name] = (parts[name] ?? 0) + performance.now() - t0;
    }
  };
  const get = async (file: string) => {
    const obj = await env.MODELS.get(`${env.MODEL_ID}/${file}`);
    if (!obj) throw new Error(`${file} is not in R2`);
    return new Uint8Array(await obj.arrayBuffer());
  };
  const m = await r2Files(env.MODELS, env.MODEL_ID).manifest();
  const size = m.preprocess.size;
  const pixels = new Float32Array(3 * size * size);
  let ids: number[] = [];
  if (tower === 'image') {
    const options = { maxPixels: 40e6, decoders: imageDecoders(workerdDecoderModules) };
    await time('request', () => preprocessImage(image, m.preprocess, pixels, 0, options));
  } else {
    await time('request', async () => {
      ids = (await ClipTokenizer.fromGzip(await get(m.tokenizer.vocab.file), m.tokenizer)).tokenize(text).ids;
    });
  }
  const ort = workerdOrt();
  await time('runtime', () => startRuntime(ort));
  const sessions = [];
  for (const segment of m.towers[tower].int8!.segments) {
    const graph = await time('read', () => get(segment.graph.file));
    const pieces = [graph];
    const externalData: { path: string; data: Uint8Array }[] = [];
    for (const e of segment.externalData) {
      const whole = new Uint8Array(e.bytes);
      for (const shard of e.shards) {
        const bytes = await time('read', () => get(shard.file));
        whole.set(bytes, shard.offset);
        pieces.push(bytes);
      }
      externalData.push({ path: e.location, data: whole });
    }
    for (const p of pieces) await time('sha256', () => crypto.subtle.digest('SHA-256', p));
    sessions.push(await time('create', () => ort.InferenceSession.create(graph, { externalData })));
  }
  const runner = new SessionChain(ort, sessions);
  await time('run', () =>
    tower === 'image'
      ? runner.run(IMAGE_INPUT, pixels, [1, 3, size, size])
      : runner.run(TEXT_INPUT, BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
  );
  return parts;
}

/** The kernel build a bench request asks for. */
function kernelModule(variant: string): WebAssembly.Module {
  const module = variant === 'relaxed' ? workerdKernelModules.relaxed : workerdKernelModules.plain;
  if (!module) throw new Error(`no ${variant} kernel build`);
  return module;
}

/** A variant's kernels as a Worker serves them: relaxed, or plain in the tile the start-up probe picks. */
async function servingKernels(variant: KernelVariant): Promise<Kernels> {
  if (variant === 'relaxed') return Kernels.create(kernelModule(variant), variant);
  return (await pickKernels({ plain: kernelModule('plain') })).kernels;
}

/**
 * One small graph, timed: the body is a 4-byte little-endian graph length, the graph, then its external data (one
 * file, named by `data`). Answers the median over 5 groups of `runs` runs, per run, on a deterministic input of shape
 * `dims`. workerd's clock stands still inside synchronous code and moves in 1 ms steps: a group is timed as a whole,
 * between two timer turns.
 */
async function timeGraph(url: URL, body: Uint8Array): Promise<{ ms: number; createMs: number }> {
  const length = new DataView(body.buffer, body.byteOffset).getUint32(0, true);
  const graph = body.subarray(4, 4 + length);
  const data = url.searchParams.get('data');
  const externalData = data ? [{ path: data, data: body.subarray(4 + length) }] : [];
  const dims = (url.searchParams.get('dims') ?? '').split(',').map(Number);
  const runs = Math.min(50, Math.max(1, Number(url.searchParams.get('runs') ?? 10)));
  const ort = workerdOrt();
  await tick();
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(graph, { externalData });
  await tick();
  const createMs = performance.now() - t0;
  try {
    const x = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(7919 + i * 1.37) * 2);
    const feed = { [session.inputNames[0]]: new ort.Tensor('float32', x, dims) };
    for (let i = 0; i < 3; i++) await session.run(feed);
    const groups: number[] = [];
    for (let k = 0; k < 5; k++) {
      await tick();
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) await session.run(feed);
      await tick();
      groups.push((performance.now() - t0) / runs);
    }
    groups.sort((a, b) => a - b);
    return { ms: groups[2], createMs };
  } finally {
    await session.release();
  }
}

/**
 * Our kernel (`npm run bench:kernels`): one int8 linear of shape m×k×n, with `op=mlp` an MLP m×k → 4k → k, with
 * `op=depthwise` a depthwise 7×7 on an m×m×k map; the
 * median over 5 groups of `runs` runs, per run, timed as /ops times a graph; deterministic weights and inputs.
 */
async function timeKernel(url: URL): Promise<{ ms: number; plainTile: number }> {
  const [m, k, n] = ['m', 'k', 'n'].map((p) => Number(url.searchParams.get(p)));
  const variant = (url.searchParams.get('variant') ?? 'plain') as KernelVariant;
  const runs = Math.min(50, Math.max(1, Number(url.searchParams.get('runs') ?? 10)));
  const kernels = await servingKernels(variant);
  const pack = (kk: number, nn: number) =>
    kernels.pack(
      Int8Array.from({ length: kk * nn }, (_, i) => ((i * 37) % 127) - 63),
      kk,
      nn,
      new Float32Array(nn).fill(0.01),
      { bias: new Float32Array(nn).fill(0.5) },
    );
  const x = Float32Array.from({ length: m * k }, (_, i) => Math.sin(7919 + i * 1.37) * 2);
  let step: () => void;
  const op = url.searchParams.get('op');
  if (op === 'depthwise') {
    // m × m × k, weights and bias as bench:kernels makes them.
    const wave = (length: number, seed: number) =>
      Float32Array.from({ length }, (_, i) => Math.sin(seed * 7919 + i * 1.37) * 2);
    const conv = kernels.packDepthwise(wave(k * 49, 1), wave(k, 2));
    const map = wave(m * m * k, 0);
    const y = new Float32Array(map.length);
    step = () => kernels.depthwise(conv, map, m, m, y);
  } else if (op === 'mlp') {
    const [fc1, fc2] = [pack(k, 4 * k), pack(4 * k, k)];
    const y = new Float32Array(m * k);
    step = () => kernels.mlp(fc1, fc2, x, m, y);
  } else {
    const linear = pack(k, n);
    const y = new Float32Array(m * n);
    step = () => kernels.run(linear, x, m, y);
  }
  for (let i = 0; i < 3; i++) step();
  const groups: number[] = [];
  for (let g = 0; g < 5; g++) {
    await tick();
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) step();
    await tick();
    groups.push((performance.now() - t0) / runs);
  }
  return { ms: groups.sort((a, b) => a - b)[2], plainTile: kernels.plainTile };
}

/**
 * An int8 tower wholly in our kernels (`npm run bench:kernel-tower`): loads the build's image (or `tower=text`)
 * initializers from R2 into a fresh kernel instance, then times `runs` runs of the synthetic image (or the prompt
 * `ids`), each alternated with a run of onnxruntime-web's sessions of the same tower in this isolate, so that both
 * see the same phases of the machine; answers the load time, both engines' run times, the kernel's wasm memory and the
 * embedding.
 */
async function timeKernelTower(env: Env, url: URL) {
  const asked = url.searchParams.get('variant') ?? 'plain';
  const runs = Math.min(20, Math.max(1, Number(url.searchParams.get('runs') ?? 3)));
  const files = r2Files(env.MODELS, env.MODEL_ID);
  const m = await files.manifest();
  const t0 = performance.now();
  // `auto`: what a Worker would run, chosen by the start-up probe.
  const picked = asked === 'auto' ? await pickKernels(workerdKernelModules) : undefined;
  const kernels = picked?.kernels ?? (await servingKernels(asked as KernelVariant));
  const tower = url.searchParams.get('tower') === 'text' ? 'text' : 'image';
  const weights = await towerInitializers(m.towers[tower].int8?.segments ?? [], files.read);
  let run: () => Float32Array;
  let ortRun: (ort: SessionChain) => Promise<unknown>;
  if (tower === 'text') {
    const ids = BigInt64Array.from((url.searchParams.get('ids') ?? '').split(',').filter(Boolean), BigInt);
    const text = TextTowerRunner.load(kernels, weights, textHeads(m));
    run = () => text.run(ids, 1, ids.length);
    ortRun = (ort) => ort.run(TEXT_INPUT, ids, [1, ids.length]);
  } else {
    const size = m.preprocess.size;
    const image = ImageTowerRunner.load(kernels, weights, size);
    const pixels = syntheticPixels(size);
    run = () => image.run(pixels);
    ortRun = (ort) => ort.run(IMAGE_INPUT, pixels, [1, 3, size, size]);
  }
  await tick();
  const loadMs = performance.now() - t0;
  const ort = await runner(env, tower, false);
  // Tier-up: the first runs of fresh kernels are V8's baseline code (and onnxruntime's first run allocates).
  let embedding = run();
  await ortRun(ort);
  if (tower === 'text')
    for (let i = 0; i < 4; i++) {
      run();
      await ortRun(ort);
    }
  const times: number[] = [];
  const ortTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    times.push(
      await timedRun(() => {
        embedding = run();
      }),
    );
    ortTimes.push(await timedRun(() => ortRun(ort)));
  }
  return {
    loadMs,
    times,
    ortTimes,
    memoryBytes: kernels.memoryBytes,
    embedding: Array.from(embedding),
    variant: kernels.variant,
    plainTile: kernels.plainTile,
    probe: picked && { plainMs: picked.plainMs, plain5Ms: picked.plain5Ms, relaxedMs: picked.relaxedMs },
  };
}

/** The kernels' exports a `/kernel-share` run may leave out. */
const SHAREABLE = ['depthwise7', 'quantize_rows', 'fast_gelu', 'layer_norm', 'scale_add'] as const;

/**
 * One kernel's share of the image tower in workerd (`npm run bench:kernel-share`), where the clock does not advance
 * inside a run: the tower as built, and the tower with the export `op` replaced by a no-op (its outputs are then
 * wrong; the other kernels' work does not depend on the values), alternated in one isolate, `runs` pairs.
 */
async function timeKernelShare(env: Env, url: URL): Promise<{ runs: number; whole: number[]; without: number[] }> {
  const variant = (url.searchParams.get('variant') ?? 'plain') as KernelVariant;
  const op = url.searchParams.get('op') ?? 'depthwise7';
  if (!SHAREABLE.includes(op as (typeof SHAREABLE)[number])) throw new Error(`op must be one of ${SHAREABLE}`);
  const runs = Math.min(30, Math.max(1, Math.floor(Number(url.searchParams.get('runs') ?? 10)) || 10));
  const files = r2Files(env.MODELS, env.MODEL_ID);
  const m = await files.manifest();
  const weights = await towerInitializers(m.towers.image.int8?.segments ?? [], files.read);
  const whole = await servingKernels(variant);
  const without = await Kernels.create(kernelModule(variant), variant, whole.plainTile);
  Object.assign(without, { x: { ...without.x, [op]: () => {} } });
  const runners = [whole, without].map((k) => ImageTowerRunner.load(k, weights, m.preprocess.size));
  const pixels = syntheticPixels(m.preprocess.size);
  for (const r of runners) r.run(pixels);
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < runs; i++)
    for (const [j, r] of runners.entries()) times[j].push(await timedRun(() => r.run(pixels)));
  return { runs, whole: times[0], without: times[1] };
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return new Response('ok');
    if (url.pathname === '/kernel-share') return Response.json(await timeKernelShare(env, url));
    if (url.pathname === '/kernel-tower') return Response.json(await timeKernelTower(env, url));
    if (url.pathname === '/kernel') return Response.json(await timeKernel(url));
    if (url.pathname === '/ops')
      return Response.json(await timeGraph(url, new Uint8Array(await request.arrayBuffer())));
    if (url.pathname === '/bare') {
      const tower = url.searchParams.get('tower') === 'text' ? 'text' : 'image';
      const body = new Uint8Array(await request.arrayBuffer());
      return Response.json(await bareParts(env, tower, body, url.searchParams.get('text') ?? ''));
    }
    const profile = url.searchParams.get('profile') !== '0';
    const tower = url.searchParams.get('tower') === 'text' ? 'text' : 'image';
    const runs = Math.min(20, Math.max(1, Number(url.searchParams.get('runs') ?? 3)));
    const ids = (url.searchParams.get('ids') ?? '').split(',').filter(Boolean).map(BigInt);
    const size = Number(url.searchParams.get('size') ?? 320);
    const r = await runner(env, tower, profile);
    const times: number[] = [];
    const pixels = syntheticPixels(size);
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      if (tower === 'image') await r.run(IMAGE_INPUT, pixels, [1, 3, size, size]);
      else await r.run(TEXT_INPUT, BigInt64Array.from(ids), [1, ids.length]);
      times.push(performance.now() - t0);
    }
    if (!profile) return Response.json({ times, profiles: [], memoryBytes: ortWasmMemoryBytes() });
    const profiles = await endProfiling(r.sessions);
    // endProfiling stops the profiler for good: the next request loads fresh sessions.
    runners.delete(`${tower}/true`);
    await r.release();
    return Response.json({ times, profiles });
  },
};
