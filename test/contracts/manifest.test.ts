import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diskReader, loadOrt } from '../../src/adapters/node/ort-runtimes.ts';
import { MANIFEST_FILE, parseManifest, towerFiles } from '../../src/contracts/manifest.ts';
import { loadTowerSessions, verifiedRead } from '../../src/model/load-tower.ts';
import { TEST_CACHE, TINY_ST } from '../helpers/paths.ts';

const raw = () => JSON.parse(readFileSync(join(TINY_ST, MANIFEST_FILE), 'utf8'));

describe('manifest', () => {
  it('round-trips: every file it lists exists with the stated size and sha256', async () => {
    const manifest = parseManifest(raw());
    expect(parseManifest(JSON.parse(JSON.stringify(manifest)))).toEqual(manifest);
    const files = [
      manifest.tokenizer.vocab,
      ...(['image', 'text'] as const).flatMap((t) =>
        towerFiles(manifest, t, 'fp32').concat(towerFiles(manifest, t, 'int8')),
      ),
    ];
    expect(files.length).toBeGreaterThan(8);
    for (const f of files) await verifiedRead(diskReader(TINY_ST), f);
  });

  it('describes shards of bounded size that tile each external-data file', () => {
    const manifest = parseManifest(raw());
    const shards = manifest.towers.text.fp32!.segments[0].externalData.flatMap((e) => e.shards);
    expect(shards.length).toBeGreaterThan(1);
    for (const s of shards) expect(s.bytes).toBeLessThanOrEqual(256 * 1024);
    expect(manifest.preprocess).toMatchObject({ size: 64, interpolation: 'bicubic', resizeMode: 'shortest' });
    expect(manifest.source.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects a tampered shard before creating a session', async () => {
    const dir = join(TEST_CACHE, 'tampered');
    cpSync(TINY_ST, dir, { recursive: true });
    const manifest = parseManifest(raw());
    const shard = manifest.towers.image.fp32!.segments[0].externalData[0].shards[0];
    const bytes = readFileSync(join(dir, shard.file));
    bytes[100] ^= 0xff;
    writeFileSync(join(dir, shard.file), bytes);
    const ort = await loadOrt('node');
    await expect(loadTowerSessions(ort, manifest, 'image', 'fp32', diskReader(dir))).rejects.toMatchObject({
      code: 'SHARD_INTEGRITY',
    });
  });

  it.each([
    [{ schema: 'other' }, /schema/],
    [
      { tokenizer: { kind: 'clip-bpe', contextLength: 77, vocab: { file: '../x', bytes: 1, sha256: 'a'.repeat(64) } } },
      /relative path/,
    ],
    [{ weights: 'maybe' }, /weights/],
  ])('rejects an invalid manifest (%j)', (patch, message) => {
    expect(() => parseManifest({ ...raw(), ...patch })).toThrow(message);
  });

  it('checks the measured memory of segments and the budget they were cut under', () => {
    const withSegment = (patch: Record<string, unknown>, buildPatch: Record<string, unknown> = {}) => {
      const m = raw() as {
        towers: { text: { int8: Record<string, unknown> & { segments: Record<string, unknown>[] } } };
      };
      const build = m.towers.text.int8;
      Object.assign(build, buildPatch);
      Object.assign(build.segments[0], patch);
      return m;
    };
    const memory = { jsLoadBytes: 1, wasmAfterCreateBytes: 2, wasmAfterRunBytes: 3, jsRequestBytes: 4, batch: 4 };
    expect(() => parseManifest(withSegment({ memory }, { segmentBudget: 100 * 2 ** 20 }))).not.toThrow();
    expect(() => parseManifest(withSegment({ memory: { ...memory, batch: '4' } }))).toThrow(/memory is invalid/);
    expect(() => parseManifest(withSegment({}, { segmentBudget: '100' }))).toThrow(/segmentBudget must be a number/);
  });

  it('refuses external-data locations that are paths, not file names (tools write files by that name)', () => {
    for (const location of ['../../etc/passwd', 'sub/dir.bin', '/abs.bin', '..']) {
      const m = raw() as { towers: { text: { int8: { segments: { externalData: { location: string }[] }[] } } } };
      m.towers.text.int8.segments[0].externalData[0].location = location;
      expect(() => parseManifest(m), location).toThrow(/must be a file name/);
    }
  });
});
