/**
 * Embeddings of inputs seen before: identical image bytes or identical text, for the same build, precision and
 * options, are answered without decoding or inference. Tiers are tried in order (the isolate's LRU, then a shared
 * store such as the Workers Cache API); a hit in a later tier refills the earlier ones.
 */
import type { ModelManifest, Precision } from '../contracts/manifest.ts';
import { sha256Hex } from '../contracts/sha256.ts';

/** One tier: values are a tower's raw output row (before L2 normalization), `embedDim` floats. */
export interface EmbeddingStore {
  get(key: string): Promise<Float32Array | undefined>;
  put(key: string, value: Float32Array): Promise<void>;
}

/** Least recently used entries go first; Map keeps insertion order, so a hit is re-inserted at the end. */
export class MemoryLru implements EmbeddingStore {
  private readonly entries = new Map<string, Float32Array>();

  constructor(private readonly capacity: number) {}

  async get(key: string): Promise<Float32Array | undefined> {
    const v = this.entries.get(key);
    if (v) {
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  async put(key: string, value: Float32Array): Promise<void> {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }
}

export class EmbeddingCache {
  constructor(private readonly tiers: readonly EmbeddingStore[]) {}

  async get(key: string, dim: number): Promise<Float32Array | undefined> {
    for (let t = 0; t < this.tiers.length; t++) {
      // A tier that fails to answer is a miss: the cache may slow a request down, never fail it.
      const v = await this.tiers[t].get(key).catch(() => undefined);
      // A value of another length (an entry written by a build with the same key scheme gone wrong) is a miss.
      if (!v || v.length !== dim) continue;
      await Promise.all(this.tiers.slice(0, t).map((earlier) => earlier.put(key, v)));
      return v;
    }
    return undefined;
  }

  put(key: string, value: Float32Array): Promise<void> {
    return Promise.all(this.tiers.map((t) => t.put(key, value))).then(() => undefined);
  }
}

/**
 * Bump when decoding, preprocessing or tokenizing change what a given input yields: the build hash covers the
 * weights and vocabulary, not this code, and the Cache API keeps entries across deploys.
 */
const CACHE_SCHEMA = 'v1';

const buildPart = (m: ModelManifest, precision: Precision) =>
  [CACHE_SCHEMA, m.modelId, m.buildHash, precision].map(encodeURIComponent).join('/');

export async function imageCacheKey(
  m: ModelManifest,
  precision: Precision,
  bytes: Uint8Array,
  orientation: string,
): Promise<string> {
  return `${buildPart(m, precision)}/image/${encodeURIComponent(orientation)}/${await sha256Hex(bytes)}`;
}

export async function textCacheKey(m: ModelManifest, precision: Precision, text: string): Promise<string> {
  return `${buildPart(m, precision)}/text/${await sha256Hex(new TextEncoder().encode(text))}`;
}

/** What a request allows: `use` (read and store), `refresh` (Cache-Control: no-cache), `bypass` (no-store). */
export type CacheMode = 'use' | 'refresh' | 'bypass';

/**
 * One request's view of the cache: whether it may read and store, where writes go (after the response, through
 * `defer`), and what happened, for `X-Cache`.
 */
export class RequestCache {
  hits = 0;
  misses = 0;

  constructor(
    private readonly cache: EmbeddingCache | undefined,
    private readonly mode: CacheMode = 'use',
    private readonly defer: (work: Promise<unknown>) => void = () => undefined,
  ) {}

  /** Forgets what an abandoned attempt (an fp32 try before its int8 fallback) looked up. */
  reset(): void {
    this.hits = 0;
    this.misses = 0;
  }

  get enabled(): boolean {
    return this.cache !== undefined;
  }

  async lookup(key: string, dim: number): Promise<Float32Array | undefined> {
    const v = this.cache && this.mode === 'use' ? await this.cache.get(key, dim) : undefined;
    if (v) this.hits++;
    else this.misses++;
    return v;
  }

  store(key: string, value: Float32Array): void {
    if (!this.cache || this.mode === 'bypass') return;
    // A failed cache write costs a later recomputation, never this request.
    this.defer(this.cache.put(key, value).catch(() => undefined));
  }

  /** `hit` when every embedding of the request came from the cache; undefined when the request used none. */
  get status(): 'hit' | 'miss' | undefined {
    if (this.hits + this.misses === 0) return undefined;
    return this.misses === 0 ? 'hit' : 'miss';
  }
}
