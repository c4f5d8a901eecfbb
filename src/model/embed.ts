/** The two pipelines, transformers.js-style: processor → tower → post-processing (L2 normalization). */
import type { Precision, TowerName } from '../contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../contracts/tensors.ts';
import { imageCacheKey, RequestCache, textCacheKey } from './embedding-cache.ts';
import { normalizationTable, type PreprocessOptions, preprocessImage } from './image/preprocess-image.ts';
import type { ModelService } from './model-service.ts';
import { l2NormalizeRows } from './postprocess.ts';
import { packIds } from './text-batch.ts';
import type { TowerExecutor } from './tower-runner.ts';

/** Where the phases of a request spent their time (Server-Timing). */
export interface Timing {
  add(name: string, ms: number): void;
  measure<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
}

/** Used where a caller passes no cache (prompt encoding has its own KV cache): never reads, never stores. */
const NO_CACHE = new RequestCache(undefined);

export interface Embeddings {
  /** [rows, dim], L2-normalized. */
  data: Float32Array;
  dim: number;
}

export interface TextEmbeddings extends Embeddings {
  /** Tokens per input including SOT/EOT, after truncation. */
  tokens: number[];
  /** Indices of inputs cut to the context length. */
  truncated: number[];
}

export async function embedTexts(
  models: ModelService,
  texts: readonly string[],
  precision: Precision,
  timing: Timing,
  cache: RequestCache = NO_CACHE,
): Promise<TextEmbeddings> {
  const m = await models.manifest();
  const dim = m.embedDim;
  const out = new Float32Array(texts.length * dim);
  const { keys, misses } = await lookupAll(cache, timing, texts, (t) => textCacheKey(m, precision, t), dim, out);
  // The tower loads (on a cold isolate) while the tokenizer loads and tokenizes.
  const runner = misses.length > 0 ? startLoad(models, 'text', precision) : undefined;
  const tokenizer = await timing.measure('fetch', () => models.tokenizer());
  const tokenized = await timing.measure('tokenize', () => texts.map((t) => tokenizer.tokenize(t)));
  if (runner) {
    // Only the tokens up to EOT: the causal text graph gives the same features as padding to 77, at a fraction of the cost.
    const { data, dims } = packIds(misses.map((i) => tokenized[i].ids));
    const tower = await timing.measure('fetch', () => runner);
    const rows = await timing.measure('infer', () => tower.run(TEXT_INPUT, data, dims));
    storeAll(cache, misses, keys, rows, dim, out);
  }
  return {
    data: l2NormalizeRows(out, dim),
    dim,
    tokens: tokenized.map((t) => t.ids.length),
    truncated: tokenized.flatMap((t, i) => (t.truncated ? [i] : [])),
  };
}

/** Starts loading a tower now, to overlap the request's own work; a failure surfaces where it is awaited. */
function startLoad(models: ModelService, tower: TowerName, precision: Precision): Promise<TowerExecutor> {
  const loading = models.tower(tower, precision);
  loading.catch(() => undefined);
  return loading;
}

/** Fills `out` with cached rows; returns every input's key and the indices still to compute. */
async function lookupAll<T>(
  cache: RequestCache,
  timing: Timing,
  inputs: readonly T[],
  keyOf: (input: T) => Promise<string>,
  dim: number,
  out: Float32Array,
): Promise<{ keys: string[]; misses: number[] }> {
  if (!cache.enabled) return { keys: [], misses: inputs.map((_, i) => i) };
  return timing.measure('cache', async () => {
    const keys = await Promise.all(inputs.map(keyOf));
    const found = await Promise.all(keys.map((k) => cache.lookup(k, dim)));
    const misses: number[] = [];
    found.forEach((row, i) => {
      if (row) out.set(row, i * dim);
      else misses.push(i);
    });
    return { keys, misses };
  });
}

/** Puts computed rows (in the order of `misses`) into `out` and the cache. */
function storeAll(
  cache: RequestCache,
  misses: readonly number[],
  keys: readonly string[],
  rows: Float32Array,
  dim: number,
  out: Float32Array,
): void {
  misses.forEach((i, r) => {
    const row = rows.slice(r * dim, (r + 1) * dim);
    out.set(row, i * dim);
    cache.store(keys[i], row);
  });
}

const tables = new WeakMap<object, Float32Array[]>();

export async function embedImages(
  models: ModelService,
  images: readonly Uint8Array[],
  precision: Precision,
  timing: Timing,
  options: PreprocessOptions = {},
  cache: RequestCache = NO_CACHE,
): Promise<Embeddings> {
  const manifest = await models.manifest();
  const cfg = manifest.preprocess;
  const dim = manifest.embedDim;
  let table = tables.get(cfg);
  if (!table) {
    table = normalizationTable(cfg);
    tables.set(cfg, table);
  }
  const out = new Float32Array(images.length * dim);
  const orientation = options.orientation ?? 'ignore';
  const { keys, misses } = await lookupAll(
    cache,
    timing,
    images,
    (b) => imageCacheKey(manifest, precision, b, orientation),
    dim,
    out,
  );
  // The tower loads (on a cold isolate) while the images decode.
  const runner = misses.length > 0 ? startLoad(models, 'image', precision) : undefined;
  const plane = 3 * cfg.size * cfg.size;
  // Decode everything first, so that a bad image fails the request before any inference is spent.
  const pixels = new Float32Array(plane * misses.length);
  for (const [k, i] of misses.entries()) {
    const r = await preprocessImage(images[i], cfg, pixels, k * plane, options, table);
    timing.add('decode', r.decodeMs);
    timing.add('preprocess', r.resizeMs);
  }
  if (runner) {
    const tower = await timing.measure('fetch', () => runner);
    const rows = new Float32Array(misses.length * dim);
    // One image per run: batching buys little on one CPU thread and multiplies activation memory.
    for (let k = 0; k < misses.length; k++) {
      const input = pixels.subarray(k * plane, (k + 1) * plane);
      rows.set(await timing.measure('infer', () => tower.run(IMAGE_INPUT, input, [1, 3, cfg.size, cfg.size])), k * dim);
    }
    storeAll(cache, misses, keys, rows, dim, out);
  }
  return { data: l2NormalizeRows(out, dim), dim };
}
