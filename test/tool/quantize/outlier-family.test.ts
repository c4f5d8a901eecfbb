/**
 * int8 that holds on checkpoints it was not tuned on: every member of a family of outlier checkpoints (three kinds,
 * alone and mixed, across configs, seeds and sizes; test/helpers/outlier-family.ts) builds with the default command,
 * and its int8 towers stay within cosine 0.995 of its own fp32 towers on held-out inputs, in both runtimes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRunner, loadTokenizer, readManifest } from '../../../src/adapters/node/local-build.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../../src/contracts/tensors.ts';
import { packIds } from '../../../src/model/text-batch.ts';
import { runCli } from '../../helpers/cli.ts';
import { rowCosines } from '../../helpers/fixtures.ts';
import { FAMILY, heldOutImages, heldOutTexts, IMAGE_SIZE, memberCheckpoint } from '../../helpers/outlier-family.ts';
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
    const tokenizer = await loadTokenizer(out, manifest);
    const texts = heldOutTexts();
    const ids = packIds(texts.map((t) => tokenizer.tokenize(t).ids));
    const images = heldOutImages();
    const worst = { image: 1, text: 1 };
    for (const runtime of ['node', 'web'] as const) {
      for (const tower of ['image', 'text'] as const) {
        const [input, data, dims] =
          tower === 'image'
            ? ([IMAGE_INPUT, images.data, [images.count, 3, IMAGE_SIZE, IMAGE_SIZE]] as const)
            : ([TEXT_INPUT, ids.data, ids.dims] as const);
        const fp32 = await loadRunner(out, manifest, tower, 'fp32', runtime);
        const int8 = await loadRunner(out, manifest, tower, 'int8', runtime);
        try {
          const cos = rowCosines(
            await int8.run(input, data, dims),
            await fp32.run(input, data, dims),
            manifest.embedDim,
          );
          expect(cos).toHaveLength(tower === 'image' ? images.count : texts.length);
          for (const [row, c] of cos.entries())
            expect(c, `${runtime} ${tower} row ${row}`).toBeGreaterThanOrEqual(0.995);
          worst[tower] = Math.min(worst[tower], ...cos);
        } finally {
          await Promise.all([fp32.release(), int8.release()]);
        }
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
