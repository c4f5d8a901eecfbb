/** What every pipeline shares: its result type, cache lookups and stores row by row, starting a tower's load early. */
import type { Precision, TowerName } from '../../contracts/manifest.ts';
import type { ClipModel } from '../clip-model.ts';
import type { CacheUse, RequestCache } from '../embedding-cache.ts';
import type { Timing, Tower } from '../ports.ts';

export interface Embeddings {
  /** [rows, dim]: L2-normalized, or the tower's raw output when asked for. */
  data: Float32Array;
  dim: number;
  /** Rows computed by the tower (the rest came from the cache). */
  computed: number;
}

/** Options every pipeline takes. */
export interface PipelineOptions {
  precision: Precision;
  /** Phase timings (Server-Timing); none when absent. */
  timing?: Timing;
  /** The request's cache; none when absent. */
  cache?: RequestCache;
  /** The tower's raw output, without L2 normalization (conformance checks). */
  raw?: boolean;
  /** Checked between tower runs: a request whose client has gone stops there. */
  signal?: AbortSignal;
}

export const NO_TIMING: Timing = { add: () => undefined, measure: (_name, fn) => Promise.resolve(fn()) };

/** Fills `out` with cached rows; returns every input's key and the indices still to compute. */
export async function cachedRows(
  cache: RequestCache | undefined,
  timing: Timing,
  use: CacheUse,
  count: number,
  keyOf: (index: number) => Promise<string>,
  dim: number,
  out: Float32Array,
): Promise<{ keys: string[]; misses: number[] }> {
  if (!cache?.enabled) return { keys: [], misses: [...Array(count).keys()] };
  return timing.measure('cache', async () => {
    const keys = await Promise.all(Array.from({ length: count }, (_, i) => keyOf(i)));
    const found = await Promise.all(keys.map((k) => cache.lookup(k, use, dim)));
    const misses: number[] = [];
    for (const [i, row] of found.entries()) {
      if (row) out.set(row, i * dim);
      else misses.push(i);
    }
    return { keys, misses };
  });
}

/** Puts computed rows (in the order of `indices`) into `out` and the cache. */
export function storeRows(
  cache: RequestCache | undefined,
  use: CacheUse,
  indices: readonly number[],
  keys: readonly string[],
  rows: Float32Array,
  dim: number,
  out: Float32Array,
): void {
  for (const [r, i] of indices.entries()) {
    const row = rows.slice(r * dim, (r + 1) * dim);
    out.set(row, i * dim);
    if (keys[i]) cache?.store(keys[i], use, row);
  }
}

/** Starts loading a tower now, to overlap the request's own work; a failure surfaces where it is awaited. */
export function startLoad(model: ClipModel, tower: TowerName, precision: Precision): Promise<Tower> {
  const loading = model.tower(tower, precision);
  loading.catch(() => undefined);
  return loading;
}
