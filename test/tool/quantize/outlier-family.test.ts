/**
 * int8 that holds on checkpoints it was not tuned on: every member of a family of outlier checkpoints (three kinds,
 * alone and mixed, across configs, seeds and sizes; test/helpers/outlier-family.ts) builds with the default command,
 * and its int8 towers stay within cosine 0.995 of its own fp32 towers on held-out inputs, in both runtimes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLocalModel, readManifest } from '../../../src/adapters/node/local-model.ts';
import { embedPixels } from '../../../src/model/pipelines/embed-images.ts';
import { embedTexts } from '../../../src/model/pipelines/embed-texts.ts';
import { runCli } from '../../helpers/cli.ts';
import { rowCosines } from '../../helpers/fixtures.ts';
import { FAMILY, heldOutImages, heldOutTexts, memberCheckpoint } from '../../helpers/outlier-family.ts';
import { TEST_CACHE } from '../../helpers/paths.ts';

/** One line per member for docs/PERFORMANCE.md, written to .cache/test/outlier-family.md. */
const table = new Map<string, string>();
afterAll(() => {
  const rows = FAMILY.flatMap((m) => (table.has(m.name) ? [table.get(m.name)] : []));
  writeFileSync(
    join(TEST_CACHE, 'outlier-family.md'),
    [
      '| member | text W×layers, image dims | tower | fp32 channels (linears) | fp32 linears | search spent | held-out min cos (node = web) |',
      '| --- | --- | --- | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
    ].join('\n'),
  );
});

describe.each(FAMILY.map((m) => [m.name, m] as const))('outlier family member %s', (name, member) => {
  const out = join(TEST_CACHE, 'models/family', name);

  it('builds with the default command and keeps every held-out row at cosine ≥ 0.995 in onnxruntime-node and -web', async () => {
    const res = await runCli(['build', '--checkpoint', await memberCheckpoint(member), '--out', out]);
    expect(res.stderr.split('\n').at(-2) ?? '').not.toMatch(/drifts from fp32/);
    expect(res.code).toBe(0);
    const manifest = readManifest(out);
    for (const tower of ['image', 'text'] as const) {
      const build = manifest.towers[tower].int8!;
      expect(build.drift!.minCos).toBeGreaterThanOrEqual(0.995);
      expect(build.int8Plan!.linears).toBeGreaterThan(0);
    }
    const texts = heldOutTexts();
    const images = heldOutImages();
    const worst = { image: 1, text: 1 };
    for (const runtime of ['node', 'web'] as const) {
      const model = await openLocalModel(out, { runtime });
      try {
        for (const tower of ['image', 'text'] as const) {
          const features = async (precision: 'fp32' | 'int8') =>
            tower === 'image'
              ? (await embedPixels(model, images.data, images.count, { precision })).data
              : (await embedTexts(model, texts, { precision })).data;
          const cos = rowCosines(await features('int8'), await features('fp32'), manifest.embedDim);
          expect(cos).toHaveLength(tower === 'image' ? images.count : texts.length);
          for (const [row, c] of cos.entries())
            expect(c, `${runtime} ${tower} row ${row}`).toBeGreaterThanOrEqual(0.995);
          worst[tower] = Math.min(worst[tower], ...cos);
        }
      } finally {
        await model.close();
      }
    }
    table.set(
      name,
      (['image', 'text'] as const)
        .map((tower) => {
          const p = manifest.towers[tower].int8!.int8Plan!;
          const shape =
            tower === 'text' ? `${member.text.width}×${member.text.layers}` : `[${member.vision.dims.join(',')}]`;
          return `| ${name} | ${shape} | ${tower} | ${p.fp32Channels} (${p.channelLinears}) | ${p.fp32Linears.length} | ${(p.spentBytes / 1024).toFixed(1)} KiB | ${worst[tower].toFixed(5)} |`;
        })
        .join('\n'),
    );
  });
});
