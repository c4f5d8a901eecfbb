/** KeyValueStore over a Workers KV binding. */
import type { KeyValueStore } from '../../model/ports.ts';

export function kvStore(kv: KVNamespace): KeyValueStore {
  return {
    async get(key) {
      const v = await kv.get(key, 'arrayBuffer');
      return v ? new Uint8Array(v) : null;
    },
    put: (key, value, ttlSeconds) => kv.put(key, value, ttlSeconds ? { expirationTtl: ttlSeconds } : undefined),
    delete: (key) => kv.delete(key),
    async list(prefix) {
      const keys: string[] = [];
      let cursor: string | undefined;
      do {
        const page: KVNamespaceListResult<unknown, string> = await kv.list({ prefix, cursor });
        keys.push(...page.keys.map((k) => k.name));
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      return keys;
    },
  };
}
