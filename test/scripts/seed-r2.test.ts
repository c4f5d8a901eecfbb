import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seedR2 } from '../../scripts/seed-r2.ts';
import { plainBuffer, withLocalBindings } from '../../src/adapters/node/local-bindings.ts';
import { readManifest } from '../../src/adapters/node/local-model.ts';
import { sha256Hex } from '../../src/contracts/sha256.ts';
import { TEST_CACHE, TINY_ST } from '../helpers/paths.ts';

const STATE = join(TEST_CACHE, 'r2-state');

describe('seeding local R2', () => {
  it('verifies stored bytes against the manifest and uploads again only what is cut or corrupted', async () => {
    const quiet = () => {};
    await seedR2(TINY_ST, ['int8'], quiet, STATE);
    const again = await seedR2(TINY_ST, ['int8'], quiet, STATE);
    expect(again.uploaded).toBe(0);

    const shard = readManifest(TINY_ST).towers.text.int8!.segments[0].externalData[0].shards[0];
    const key = `tiny-st/${shard.file}`;
    // Same size and stored metadata, different bytes: what a check of metadata alone would miss.
    await withLocalBindings(async ({ MODELS }) => {
      const obj = await MODELS.get(key);
      const bytes = new Uint8Array(await obj!.arrayBuffer());
      bytes[7] ^= 0xff;
      await MODELS.put(key, plainBuffer(bytes), { customMetadata: obj!.customMetadata });
      await MODELS.put('tiny-st/bpe_simple_vocab_16e6.txt.gz', plainBuffer(new Uint8Array(10)));
    }, STATE);
    const lines: string[] = [];
    const repaired = await seedR2(TINY_ST, ['int8'], (l) => lines.push(l), STATE);
    expect(repaired.uploaded).toBe(2);
    expect(lines.join('\n')).toContain(`R2 ${key} differs from the build`);
    const stored = await withLocalBindings(
      async ({ MODELS }) => new Uint8Array(await (await MODELS.get(key))!.arrayBuffer()),
      STATE,
    );
    expect(await sha256Hex(stored)).toBe(shard.sha256);
  });
});
