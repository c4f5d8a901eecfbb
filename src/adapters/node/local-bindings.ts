/** The R2/KV bindings of wrangler.toml through wrangler's platform proxy: the storage `wrangler dev` uses locally. */
import type { KVNamespace, R2Bucket } from '@cloudflare/workers-types';
import { getPlatformProxy } from 'wrangler';

export interface LocalBindings {
  MODELS: R2Bucket;
  PROMPTS: KVNamespace;
}

/** `persistTo` defaults to wrangler's own folder (.wrangler/state), where `wrangler dev` finds the data. */
export async function withLocalBindings<T>(fn: (env: LocalBindings) => Promise<T>, persistTo?: string): Promise<T> {
  const proxy = await getPlatformProxy<LocalBindings>({
    configPath: 'wrangler.toml',
    persist: persistTo ? { path: persistTo } : true,
  });
  try {
    return await fn(proxy.env);
  } finally {
    await proxy.dispose();
  }
}

/** A plain ArrayBuffer copy: the proxy's serializer refuses Node Buffers that view a shared pool. */
export function plainBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
