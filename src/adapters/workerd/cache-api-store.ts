/**
 * Embeddings in the Workers Cache API (per data centre, shared by the isolates there). Entries are the row's float32
 * bytes under a synthetic URL; the Cache API evicts as it likes, so a miss is always possible.
 */
import type { EmbeddingStore } from '../../model/ports.ts';

/** Keys become paths under a host nobody can request, so no client fetch can read or poison an entry. */
const url = (key: string) => `https://embedding-cache.edge-clip.invalid/${key}`;

export function cacheApiStore(cache: Cache, ttlSeconds: number): EmbeddingStore {
  return {
    async get(key) {
      const res = await cache.match(url(key));
      if (!res) return undefined;
      const bytes = await res.arrayBuffer();
      return bytes.byteLength % 4 === 0 ? new Float32Array(bytes) : undefined;
    },
    put(key, value) {
      const body = value.slice().buffer;
      return cache.put(
        url(key),
        new Response(body, {
          headers: { 'content-type': 'application/octet-stream', 'cache-control': `public, max-age=${ttlSeconds}` },
        }),
      );
    },
  };
}
