/** What every route receives: dependencies built once per isolate/process, and per-request timing. */

import type { AppConfig } from '../contracts/config.ts';
import type { ModelManifest } from '../contracts/manifest.ts';
import type { ClassifierStore } from '../model/classifier-store.ts';
import type { ClipModel } from '../model/clip-model.ts';
import type { EmbeddingCache, RequestCache } from '../model/embedding-cache.ts';
import type { ServerTiming } from './server-timing.ts';

/** What the routes read of the GPU origin's client (src/adapters/origin/origin-client.ts). */
export interface OriginStatus {
  readonly breaker: { readonly state: string };
  /** Whether the origin says it is ready to serve build `buildHash` (outside the circuit breaker). */
  ready(buildHash: string): Promise<boolean>;
}

export interface AppDeps {
  config: AppConfig;
  model: ClipModel;
  /** Stored label sets (Workers KV); classification routes answer 503 without it. */
  classifiers?: ClassifierStore;
  /** The GPU origin client, when fp32 is served there. */
  origin?: OriginStatus;
  /** Per-segment reports of the segment Workers (segmented topology only). */
  segmentStats?: () => Promise<Record<string, unknown>[]>;
  /** Embeddings of inputs seen before (isolate LRU, Workers Cache API, KV for prompts); absent: every request computes. */
  embeddingCache?: EmbeddingCache;
  /** Bytes of the inference runtime's wasm memory, where the runtime has one. */
  wasmMemoryBytes?: () => number;
  /** Per-client request limits (the Workers Rate Limiting binding RATE_LIMITER); absent: no limit. */
  rateLimiter?: { limit(options: { key: string }): Promise<{ success: boolean }> };
  /** Where the one JSON line per request goes (default console.log: `wrangler tail`, Workers Logs). */
  log?: (line: string) => void;
}

export interface AppEnv {
  Variables: {
    deps: AppDeps;
    timing: ServerTiming;
    cache: RequestCache;
    requestId: string;
    /** Aborts when the client leaves or the request's deadline (REQUEST_TIMEOUT_MS) passes: work stops there. */
    signal: AbortSignal;
    /** The served build's manifest once the request has looked it up (undefined while it cannot be read). */
    manifest: ModelManifest | undefined;
  };
}
