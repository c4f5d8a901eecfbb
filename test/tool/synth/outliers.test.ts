import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../../tool/checkpoint/load-checkpoint.ts';
import { parseOutlierSpec } from '../../../tool/synth/outliers.ts';
import { runCli } from '../../helpers/cli.ts';
import { TEST_CACHE, TINY } from '../../helpers/paths.ts';

const ratio = (a: Float32Array, b: Float32Array) => Array.from(a, (v, i) => v / b[i]);

describe('edge-clip synth --outliers', () => {
  it('parses kind=FACTORxCOUNT lists and refuses anything else', () => {
    expect(parseOutlierSpec('gain=16x4,hidden=5.3x2,residual=100x2,everywhere')).toEqual({
      gain: { factor: 16, count: 4 },
      hidden: { factor: 5.3, count: 2 },
      residual: { factor: 100, count: 2 },
      gainEverywhere: true,
    });
    for (const bad of ['gain=16', 'spikes=3x2', 'gain=0x2', 'hidden=2x0'])
      expect(() => parseOutlierSpec(bad)).toThrow(/outlier spec/);
  });

  it('puts each kind where trained towers carry it, and leaves every other weight as the plain seed has it', async () => {
    const config = join(TINY, 'open_clip_config.json');
    const plainDir = join(TEST_CACHE, 'synth-outliers/plain');
    const dir = join(TEST_CACHE, 'synth-outliers/mixed');
    expect((await runCli(['synth', '--config', config, '--seed', '3', '--out', plainDir])).code).toBe(0);
    const res = await runCli([
      'synth',
      ...['--config', config, '--seed', '3', '--out', dir],
      ...['--outliers', 'gain=20x2,hidden=6x3,residual=50x2'],
    ]);
    expect(res.code).toBe(0);
    const plain = loadCheckpoint(plainDir).checkpoint;
    const { checkpoint: mixed } = loadCheckpoint(dir);
    try {
      const changed = [...mixed.entries.keys()].filter((n) => {
        const before = plain.read(n);
        return !mixed.read(n).every((v, i) => v === before[i]);
      });
      const layerNorms = changed.filter((n) => /ln_\d\.weight|blocks\.\d+\.norm\.weight/.test(n));
      const hidden = changed.filter((n) => /(c_fc|mlp\.fc1)\.(weight|bias)/.test(n));
      const residual = changed.filter((n) => /(out_proj|c_proj|fc2)\.bias/.test(n));
      expect(changed.sort()).toEqual([...layerNorms, ...hidden, ...residual].sort());
      // gain: the same 2 channels ×20 in every text LayerNorm; 2 per stage in the ConvNeXt blocks.
      const lnRatio = ratio(
        mixed.read('transformer.resblocks.1.ln_2.weight'),
        plain.read('transformer.resblocks.1.ln_2.weight'),
      );
      const gained = lnRatio.flatMap((r, i) => (Math.abs(r - 20) < 1e-4 ? [i] : []));
      expect(gained).toHaveLength(2);
      const ln1 = ratio(
        mixed.read('transformer.resblocks.0.ln_1.weight'),
        plain.read('transformer.resblocks.0.ln_1.weight'),
      );
      expect(gained.every((i) => Math.abs(ln1[i] - 20) < 1e-4)).toBe(true);
      // hidden: 3 units per MLP fire 6× (their rows and biases).
      const fcBias = ratio(mixed.read('visual.head.mlp.fc1.bias'), plain.read('visual.head.mlp.fc1.bias'));
      expect(fcBias.filter((r) => Math.abs(r - 6) < 1e-4)).toHaveLength(3);
      // residual: what the first text block's attention adds, the last block's MLP takes away again.
      const delta = (name: string) => {
        const before = plain.read(name);
        return Array.from(mixed.read(name), (v, i) => v - before[i]);
      };
      const added = delta('transformer.resblocks.0.attn.out_proj.bias');
      const removed = delta('transformer.resblocks.1.mlp.c_proj.bias');
      expect(added.filter((d) => Math.abs(d) > 0.5)).toHaveLength(2);
      for (const [i, d] of added.entries()) expect(removed[i]).toBeCloseTo(-d, 5);
      // In a ConvNeXt stage, the block output (bias × layer scale) moves the stream by the stated size and back.
      const s2 = 'visual.trunk.stages.2.blocks';
      const shift = (b: number) => {
        const gamma = mixed.read(`${s2}.${b}.gamma`);
        return delta(`${s2}.${b}.mlp.fc2.bias`).map((d, i) => d * gamma[i]);
      };
      const up = shift(0);
      expect(up.filter((d) => Math.abs(Math.abs(d) - 50) < 1e-3)).toHaveLength(2);
      for (const [i, d] of shift(1).entries()) expect(d).toBeCloseTo(-up[i], 3);
    } finally {
      plain.close();
      mixed.close();
    }
  });
});
