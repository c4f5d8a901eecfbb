import { describe, expect, it } from 'vitest';
import { classifierOf } from '../../src/contracts/classifier-blob.ts';
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import { ClassifierStore, DECODED_TTL_MS } from '../../src/model/classifier-store.ts';
import type { KeyValueStore } from '../../src/model/ports.ts';

const good = () =>
  classifierOf(
    { modelId: 'm', buildHash: 'h', embedDim: 4 },
    { name: 'pets', labels: ['cat', 'dog'], templates: ['a {c}'] },
    'int8',
    'float32',
    new Float32Array(8).fill(0.5),
  );

describe('stored label sets', () => {
  it('a store refuses rows of another width than the build embeds in (they would score NaN)', async () => {
    const kv: KeyValueStore = {
      get: async () => null,
      put: async () => undefined,
      delete: async () => undefined,
      list: async () => [],
    };
    const store = new ClassifierStore(kv);
    const manifest = { modelId: 'm', buildHash: 'h', embedDim: 8 } as ModelManifest;
    await expect(store.put(manifest, good())).rejects.toThrow(/rows of 4 values, but m embeds in 8/);
  });
});

describe('stored label sets across isolates', () => {
  it('a set deleted or replaced through another isolate is seen here within DECODED_TTL_MS', async () => {
    const data = new Map<string, Uint8Array>();
    const kv: KeyValueStore = {
      get: async (k) => data.get(k) ?? null,
      put: async (k, v) => {
        data.set(k, v);
      },
      delete: async (k) => {
        data.delete(k);
      },
      list: async (prefix) => [...data.keys()].filter((k) => k.startsWith(prefix)),
    };
    let now = 0;
    const here = new ClassifierStore(kv, () => now);
    const elsewhere = new ClassifierStore(kv, () => now);
    const manifest = { modelId: 'm', buildHash: 'h', embedDim: 4 } as ModelManifest;
    await here.put(manifest, good());
    expect((await here.get(manifest, 'pets', 'int8')).header.labels).toEqual(['cat', 'dog']);
    expect(await elsewhere.delete(manifest, 'pets')).toBe(1);
    // Within the minute KV itself may still show it; after it, this isolate sees the delete too.
    now += DECODED_TTL_MS - 1;
    await expect(here.get(manifest, 'pets', 'int8')).resolves.toBeDefined();
    now += 2;
    await expect(here.get(manifest, 'pets', 'int8')).rejects.toThrow(/does not exist/);
  });
});

describe('unknown label-set names', () => {
  it('cost one KV listing a minute per isolate, not one per request (anyone can ask for any name)', async () => {
    let lists = 0;
    const kv: KeyValueStore = {
      get: async () => null,
      put: async () => undefined,
      delete: async () => undefined,
      list: async () => {
        lists++;
        return [];
      },
    };
    let now = 0;
    const store = new ClassifierStore(kv, () => now);
    const manifest = { modelId: 'm', buildHash: 'h', embedDim: 4 } as ModelManifest;
    for (const name of ['a', 'b', 'c', 'd'])
      await expect(store.get(manifest, name, 'int8')).rejects.toThrow(/does not exist/);
    expect(lists).toBe(1);
    now += DECODED_TTL_MS;
    await expect(store.get(manifest, 'e', 'int8')).rejects.toThrow(/does not exist/);
    expect(lists).toBe(2);
  });
});
