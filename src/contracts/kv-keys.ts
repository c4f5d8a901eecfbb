/**
 * KV keys of label sets. Every key carries the build hash, so data computed with one build is never mixed into
 * another, and the model id so a stale set (another build of the same model) can be found and reported. Cached
 * prompt embeddings are the embedding cache's (src/model/embedding-cache.ts, `emb/...`).
 */
import type { Precision } from './manifest.ts';

export const labelsetPrefix = (modelId: string): string => `labelset/${modelId}/`;

export const labelsetKey = (modelId: string, buildHash: string, precision: Precision, name: string): string =>
  `${labelsetPrefix(modelId)}${buildHash}/${precision}/${name}`;

/** Parses a label-set key back into its parts (undefined for foreign keys). */
export function parseLabelsetKey(
  key: string,
): { modelId: string; buildHash: string; precision: Precision; name: string } | undefined {
  const m = /^labelset\/([^/]+)\/([^/]+)\/(fp32|int8)\/([^/]+)$/.exec(key);
  return m ? { modelId: m[1], buildHash: m[2], precision: m[3] as Precision, name: m[4] } : undefined;
}
