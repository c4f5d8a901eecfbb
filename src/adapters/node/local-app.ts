/**
 * The Worker's own app, served in this process from a build on disk (onnxruntime-node, label sets from the build's
 * `labelsets/*.ecls` in an in-memory store): what `edge-clip label --model` sends its requests to.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hono } from 'hono';
import type { AppEnv } from '../../app/app-env.ts';
import { createApp } from '../../app/create-app.ts';
import { decodeClassifier } from '../../contracts/classifier-blob.ts';
import { parseConfig } from '../../contracts/config.ts';
import { labelsetKey } from '../../contracts/kv-keys.ts';
import type { ModelManifest } from '../../contracts/manifest.ts';
import { ClassifierStore } from '../../model/classifier-store.ts';
import { EmbeddingCache, MemoryLru } from '../../model/embedding-cache.ts';
import type { KeyValueStore } from '../../model/ports.ts';
import { openLocalModel, readManifest } from './local-model.ts';

/** A KeyValueStore in a Map (one process; nothing persists, nothing expires). */
export function memoryKv(): KeyValueStore {
  const map = new Map<string, Uint8Array>();
  return {
    get: async (key) => map.get(key) ?? null,
    put: async (key, value) => {
      map.set(key, value);
    },
    delete: async (key) => {
      map.delete(key);
    },
    list: async (prefix) => [...map.keys()].filter((k) => k.startsWith(prefix)).sort(),
  };
}

/** Settings of the local app beyond MODEL_ID (the Worker's names, e.g. MAX_REQUEST_PROMPTS). */
export async function localApp(
  dir: string,
  settings: Record<string, string> = {},
  threads = 1,
): Promise<{ app: Hono<AppEnv>; manifest: ModelManifest }> {
  const manifest = readManifest(dir);
  const kv = memoryKv();
  const sets = join(dir, 'labelsets');
  // A full set (`prompts build`) wins over the quick one-template set `npm start` makes under the same name.
  const files = readdirSafe(sets)
    .filter((f) => f.endsWith('.ecls'))
    .sort((a, b) => Number(a.includes('.quick.')) - Number(b.includes('.quick.')));
  for (const file of files) {
    const blob = new Uint8Array(readFileSync(join(sets, file)));
    const { header } = decodeClassifier(blob);
    const key = labelsetKey(manifest.modelId, header.buildHash, header.precision, header.name);
    if (header.buildHash === manifest.buildHash && !(await kv.get(key))) await kv.put(key, blob);
  }
  const model = await openLocalModel(dir, { threads });
  const config = parseConfig({ ...settings, MODEL_ID: manifest.modelId });
  // Ad-hoc labels are the same prompts on every request of a run: computed once. Images are not kept (each differs).
  const prompts = new MemoryLru(Math.max(config.memoryCacheEntries, config.maxRequestPrompts));
  const app = createApp({
    config,
    model,
    classifiers: new ClassifierStore(kv),
    embeddingCache: new EmbeddingCache([{ store: prompts, uses: ['prompt'] }]),
    // Request logs would interleave with the CLI's progress bar.
    log: () => undefined,
  });
  return { app, manifest };
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
