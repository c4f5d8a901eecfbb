import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { loadCheckpoint } from '../../../tool/checkpoint/load-checkpoint.ts';
import { stateDictSpec } from '../../../tool/checkpoint/openclip-config.ts';
import { runCli } from '../../helpers/cli.ts';
import { TEST_CACHE, TINY, VOCAB } from '../../helpers/paths.ts';
import { openTowers } from '../../helpers/towers.ts';

describe('edge-clip synth', () => {
  it('writes a seeded random checkpoint in the OpenCLIP layout that builds and is labelled random', async () => {
    const dir = join(TEST_CACHE, 'synth-tiny');
    const out = join(TEST_CACHE, 'models/synth-tiny');
    rmSync(dir, { recursive: true, force: true });
    const res = await runCli(['synth', '--config', join(TINY, 'open_clip_config.json'), '--seed', '7', '--out', dir]);
    expect(res.code).toBe(0);
    const loaded = loadCheckpoint(dir);
    const tiny = loadCheckpoint(TINY);
    // Same tensor names, order and shapes as the reference checkpoint.
    expect([...loaded.checkpoint.entries.values()].map((e) => [e.name, e.shape])).toEqual(
      [...tiny.checkpoint.entries.values()].map((e) => [e.name, e.shape]),
    );
    expect(stateDictSpec(loaded.arch).length).toBe(96);
    const first = loaded.checkpoint.read('visual.head.mlp.fc1.weight');
    loaded.checkpoint.close();
    tiny.checkpoint.close();
    const again = join(TEST_CACHE, 'synth-tiny-2');
    await runCli(['synth', '--config', join(TINY, 'open_clip_config.json'), '--seed', '7', '--out', again]);
    const second = loadCheckpoint(again);
    expect(second.checkpoint.read('visual.head.mlp.fc1.weight')).toEqual(first);
    second.checkpoint.close();

    expect((await runCli(['build', '--checkpoint', dir, '--out', out, '--vocab', VOCAB])).code).toBe(0);
    const manifest = readManifest(out);
    expect(manifest.weights).toBe('random');
    const towers = await openTowers(out, 'web');
    const feats = await towers.run('text', 'int8', BigInt64Array.from([49406n, 320n, 49407n]), [1, 3]);
    await towers.close();
    expect(feats.length).toBe(24);
    expect(feats.every(Number.isFinite)).toBe(true);
  });

  it('knows the full convnext_large_d_320 architecture (543 tensors, 351.8 M parameters)', async () => {
    const { BUILTIN_CONFIGS, parseArch } = await import('../../../tool/checkpoint/openclip-config.ts');
    const spec = stateDictSpec(parseArch(BUILTIN_CONFIGS.convnext_large_d_320, 'builtin'));
    expect(spec.length).toBe(543);
    const params = spec.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
    expect(params / 1e6).toBeCloseTo(351.8, 0);
  });
});
