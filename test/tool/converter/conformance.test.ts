import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { packIds } from '../../../src/model/text-batch.ts';
import { runCli } from '../../helpers/cli.ts';
import { type Expected, expectedOf, fixtureImages, maxAbsDiff, rowCosines } from '../../helpers/fixtures.ts';
import { OUTLIERS, OUTLIERS_ST, PREPROCESS, TEST_CACHE, TINY, TINY_PT, TINY_ST } from '../../helpers/paths.ts';
import { openTowers, type Towers } from '../../helpers/towers.ts';

const trimmedOf = (expected: Expected) => expected.text_tokens.map((ids) => ids.slice(0, ids.indexOf(49407) + 1));

async function features(towers: Towers, fixture: string, precision: 'fp32' | 'int8') {
  const trimmed = trimmedOf(expectedOf(fixture));
  const img = await towers.run('image', precision, fixtureImages(fixture), [3, 3, 64, 64]);
  const short = packIds(trimmed);
  const padded = packIds(trimmed, 77);
  const txt = await towers.run('text', precision, short.data, short.dims);
  const txtPadded = await towers.run('text', precision, padded.data, padded.dims);
  return { img, txt, txtPadded };
}

describe.each([
  ['tiny', 'safetensors', TINY_ST, TINY],
  ['tiny', 'pytorch .bin', TINY_PT, TINY],
  ['outliers (channel outliers like trained weights)', 'safetensors', OUTLIERS_ST, OUTLIERS],
])('%s fixture built from %s', (_name, _format, dir, fixture) => {
  const expected = expectedOf(fixture);
  const trimmed = trimmedOf(expected);
  describe.each(['node', 'web'] as const)('in onnxruntime-%s', (runtime) => {
    let towers: Towers;
    beforeAll(async () => {
      towers = await openTowers(dir, runtime);
    });
    afterAll(() => towers.close());

    it('fp32 features are within 1e-4 of the reference and int8 keeps cosine ≥ 0.995 per row', async () => {
      const fp32 = await features(towers, fixture, 'fp32');
      expect(maxAbsDiff(fp32.img, expected.image_features.flat())).toBeLessThan(1e-4);
      expect(maxAbsDiff(fp32.txt, expected.text_features.flat())).toBeLessThan(1e-4);
      const int8 = await features(towers, fixture, 'int8');
      const cosines = [...rowCosines(int8.img, fp32.img, 24), ...rowCosines(int8.txt, fp32.txt, 24)];
      expect(cosines).toHaveLength(3 + expected.texts.length);
      for (const c of cosines) expect(c).toBeGreaterThanOrEqual(0.995);
    });

    it('int8 features of an input do not depend on the rest of its batch (per-row activation scales)', async () => {
      const batch = packIds(trimmed);
      const all = await towers.run('text', 'int8', batch.data, batch.dims);
      const one = packIds([trimmed[0]]);
      const alone = await towers.run('text', 'int8', one.data, one.dims);
      expect(maxAbsDiff(alone, all.subarray(0, 24))).toBeLessThan(1e-5);
      const imgs = fixtureImages(fixture);
      const allImg = await towers.run('image', 'int8', imgs, [3, 3, 64, 64]);
      const oneImg = await towers.run('image', 'int8', imgs.slice(2 * 3 * 64 * 64), [1, 3, 64, 64]);
      expect(maxAbsDiff(oneImg, allImg.subarray(48))).toBeLessThan(1e-5);
    });

    it('text features are the same on 77 padded tokens as on the tokens up to EOT', async () => {
      for (const precision of ['fp32', 'int8'] as const) {
        const { txt, txtPadded } = await features(towers, fixture, precision);
        expect(maxAbsDiff(txt, txtPadded)).toBeLessThan(1e-5);
      }
    });
  });
});

describe('int8 drift report', () => {
  it('every build records int8-vs-fp32 cosines on its calibration inputs, at least the default threshold', () => {
    for (const dir of [TINY_ST, OUTLIERS_ST]) {
      const m = readManifest(dir);
      expect(m.towers.image.int8?.drift).toMatchObject({ rows: 16, calibration: 'built-in' });
      expect(m.towers.text.int8?.drift).toMatchObject({ calibration: 'built-in' });
      expect(m.towers.text.int8!.drift!.rows).toBeGreaterThanOrEqual(150);
      for (const t of ['image', 'text'] as const) {
        const d = m.towers[t].int8!.drift!;
        expect(d.minCos).toBeGreaterThanOrEqual(0.995);
        expect(d.meanCos).toBeGreaterThanOrEqual(d.minCos);
      }
    }
  });

  it("plans outlier channels from activations: the fixture's ×40 LayerNorm channels go fp32, random weights need no search", () => {
    const outliers = readManifest(OUTLIERS_ST);
    const tiny = readManifest(TINY_ST);
    for (const t of ['image', 'text'] as const) {
      expect(outliers.towers[t].int8!.int8Plan!.fp32Channels).toBeGreaterThanOrEqual(4);
      expect(tiny.towers[t].int8!.int8Plan!).toMatchObject({ searchRounds: 0, spentBytes: 0, fp32Linears: [] });
    }
    // Both towers' graphs carry fp32 side products for those channels.
    const fp32Side = (dir: string, tower: string) =>
      readFileSync(join(dir, `${tower}.int8.onnx`)).includes(Buffer.from('weight_fp32_rows'));
    expect(fp32Side(OUTLIERS_ST, 'text')).toBe(true);
    expect(fp32Side(OUTLIERS_ST, 'image')).toBe(true);
  });

  it('a build whose int8 drifts below --min-int8-cos fails with one clear line and writes nothing', async () => {
    const out = join(TEST_CACHE, 'models/too-strict');
    rmSync(out, { recursive: true, force: true });
    const res = await runCli(['build', '--checkpoint', OUTLIERS, '--out', out, '--min-int8-cos', '0.9999999']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n').at(-1)).toMatch(
      /^edge-clip build: the int8 (image|text) tower drifts from fp32: cosine 0\.\d+ on its worst calibration row is below --min-int8-cos 0\.9999999 after spending \d+\.\d % more weight bytes \(the budget is 15 %\); nothing was written/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('takes calibration inputs from a JSONL file', async () => {
    const file = join(TEST_CACHE, 'calibration.jsonl');
    writeFileSync(
      file,
      `${JSON.stringify({ text: 'a photo of a cat' })}\n${JSON.stringify({ image: join(PREPROCESS, 'chelsea.png') })}\n`,
    );
    const out = join(TEST_CACHE, 'models/calibrated');
    const res = await runCli(['build', '--checkpoint', TINY, '--out', out, '--calibration', file]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).int8Drift).toMatchObject({
      image: { rows: 1, calibration: file },
      text: { rows: 1, calibration: file },
    });
  });
});
