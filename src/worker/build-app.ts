/** Builds the app's dependencies from a Worker's bindings: R2 files, KV label sets, the origin client. */
import mozjpegWasm from '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm';
import type { Hono } from 'hono';
import { cacheApiStore } from '../adapters/workerd/cache-api-store.ts';
import { kvStore } from '../adapters/workerd/kv-store.ts';
import { ortWasmMemoryBytes, workerdOrt } from '../adapters/workerd/ort-wasm.ts';
import { r2Files } from '../adapters/workerd/r2-files.ts';
import type { AppEnv } from '../app/app-env.ts';
import { createApp } from '../app/create-app.ts';
import { parseConfig } from '../contracts/config.ts';
import { type Precision, TOWERS, type TowerName } from '../contracts/manifest.ts';
import { EmbeddingCache, type EmbeddingStore, MemoryLru } from '../model/embedding-cache.ts';
import { initJpegDecoder } from '../model/image/decode-jpeg.ts';
import { LabelsetStore } from '../model/labelset-store.ts';
import { ModelService } from '../model/model-service.ts';
import { OriginClient } from '../model/origin-client.ts';
import { SegmentChain, type SegmentEndpoint, segmentBinding } from '../model/segment-chain.ts';
import type { TowerExecutor } from '../model/tower-runner.ts';

export interface Env {
  MODELS: R2Bucket;
  PROMPTS: KVNamespace;
  MODEL_ID: string;
}

/** The app with its dependencies built from the Worker's bindings and vars (once per isolate). */
export function buildApp(env: Env): Hono<AppEnv> {
  const config = parseConfig(env);
  const files = r2Files(env.MODELS, config.modelId);
  initJpegDecoder(mozjpegWasm);
  const origin = config.origin ? new OriginClient(config.origin) : undefined;
  const chains: Record<string, SegmentChain> = {};
  const chain = (tower: TowerName, precision: Precision): SegmentChain => {
    const key = `${tower}/${precision}`;
    if (!chains[key]) chains[key] = new SegmentChain(() => models.manifest(), tower, precision, bindingOf);
    return chains[key];
  };
  const bindingOf = (tower: TowerName, index: number) =>
    (env as unknown as Record<string, SegmentEndpoint | undefined>)[segmentBinding(tower, index)];
  const models: ModelService = new ModelService({
    ort: workerdOrt(),
    readManifest: files.manifest,
    read: files.read,
    size: files.size,
    concurrency: config.fetchConcurrency,
    remote: (tower, precision): TowerExecutor | undefined => {
      if (precision === 'fp32' && origin) return origin.executor(tower);
      // Production topology: int8 towers run segment by segment in their own Workers (SEG_<TOWER>_<k> bindings).
      if (config.segmented && precision !== 'fp32') return chain(tower, precision);
      return undefined;
    },
  });
  const cacheTiers: EmbeddingStore[] = [];
  if (config.memoryCacheEntries > 0) cacheTiers.push(new MemoryLru(config.memoryCacheEntries));
  if (config.cacheTtlSeconds > 0) cacheTiers.push(cacheApiStore(caches.default, config.cacheTtlSeconds));
  return createApp({
    config,
    models,
    origin,
    embeddingCache: cacheTiers.length > 0 ? new EmbeddingCache(cacheTiers) : undefined,
    segmentStats: config.segmented
      ? async () => (await Promise.all(TOWERS.map((t) => chain(t, config.defaultPrecision).stats()))).flat()
      : undefined,
    labelsets: new LabelsetStore(kvStore(env.PROMPTS)),
    wasmMemoryBytes: ortWasmMemoryBytes,
  });
}
