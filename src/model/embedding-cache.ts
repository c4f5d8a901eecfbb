/**
 * Embeddings of inputs seen before: identical image bytes or identical text, for the same build, precision and
 * options, are answered without decoding or inference. One cache with tiers tried in order (the isolate's LRU, the
 * Workers Cache API, KV for prompts); a hit in a later tier refills the earlier ones. One key scheme, versioned by the
 * code that turns an input into tower input (TOKENIZER_VERSION, PREPROCESS_VERSION): a change there makes every old
 * entry, KV prompt rows included, miss.
 */
import type { ModelManifest, Precision } from '../contracts/manifest.ts';
import { sha256Hex } from '../contracts/sha256.ts';
import { PREPROCESS_VERSION } from './image/preprocess-image.ts';
import type { EmbeddingStore, KeyValueStore } from './ports.ts';
import { TOKENIZER_VERSION } from './tokenizer.ts';

export type InputKind = 'text' | 'image';

/**
 * What a cached row is for: tiers may keep only some uses (KV keeps the prompts of label sets, shared by every data
 * centre, not every text a client sends). A prompt's key is a text's key: the isolate and Cache API tiers share them.
 */
export type CacheUse = InputKind | 'prompt';

/** The key scheme's own version: bump when the key's layout or the stored value's meaning changes. */
const KEY_SCHEMA = 2;

/** What an input kind's key is versioned by. */
export const KEY_VERSIONS: Record<InputKind, string> = {
  text: `${KEY_SCHEMA}.${TOKENIZER_VERSION}`,
  image: `${KEY_SCHEMA}.${PREPROCESS_VERSION}`,
};

/**
 * `emb/<version>/<model>/<build>/<precision>/<kind>[/<variant>]/<sha256 of the input>`; the variant carries options
 * that change the result for the same bytes (an image's orientation handling).
 */
export async function embeddingKey(
  m: ModelManifest,
  precision: Precision,
  kind: InputKind,
  input: Uint8Array,
  variant?: string,
  version = KEY_VERSIONS[kind],
): Promise<string> {
  const parts = ['emb', version, m.modelId, m.buildHash, precision, kind, ...(variant ? [variant] : [])];
  return `${parts.map(encodeURIComponent).join('/')}/${await sha256Hex(input)}`;
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

/** Rows in a key-value store (Workers KV) as raw little-endian float32, expiring after `ttlSeconds`. */
export function keyValueEmbeddings(kv: KeyValueStore, ttlSeconds: number): EmbeddingStore {
  return {
    get: async (key) => {
      const bytes = await kv.get(key);
      return bytes ? new Float32Array(bytes.slice().buffer) : undefined;
    },
    put: (key, value) => kv.put(key, new Uint8Array(value.slice().buffer), ttlSeconds),
  };
}

/** A tier and the uses it keeps (all when absent). */
export interface CacheTier {
  store: EmbeddingStore;
  uses?: readonly CacheUse[];
}

export class EmbeddingCache {
  constructor(private readonly tiers: readonly CacheTier[]) {}

  private tiersFor(use: CacheUse): EmbeddingStore[] {
    return this.tiers.filter((t) => !t.uses || t.uses.includes(use)).map((t) => t.store);
  }

  async get(key: string, use: CacheUse, dim: number): Promise<Float32Array | undefined> {
    const tiers = this.tiersFor(use);
    for (let t = 0; t < tiers.length; t++) {
      // A tier that fails to answer is a miss: the cache may slow a request down, never fail it.
      const v = await tiers[t].get(key).catch(() => undefined);
      // A value of another length (an entry written by a build with the same key scheme gone wrong) is a miss.
      if (!v || v.length !== dim) continue;
      await Promise.all(tiers.slice(0, t).map((earlier) => earlier.put(key, v).catch(() => undefined)));
      return v;
    }
    return undefined;
  }

  put(key: string, use: CacheUse, value: Float32Array): Promise<void> {
    return Promise.all(this.tiersFor(use).map((t) => t.put(key, value))).then(() => undefined);
  }
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

  async lookup(key: string, use: CacheUse, dim: number): Promise<Float32Array | undefined> {
    const v = this.cache && this.mode === 'use' ? await this.cache.get(key, use, dim) : undefined;
    if (v) this.hits++;
    else this.misses++;
    return v;
  }

  store(key: string, use: CacheUse, value: Float32Array): void {
    if (!this.cache || this.mode === 'bypass') return;
    // A failed cache write costs a later recomputation, never this request.
    this.defer(this.cache.put(key, use, value).catch(() => undefined));
  }

  /** `hit` when every embedding of the request came from the cache; undefined when the request used none. */
  get status(): 'hit' | 'miss' | undefined {
    if (this.hits + this.misses === 0) return undefined;
    return this.misses === 0 ? 'hit' : 'miss';
  }
}
