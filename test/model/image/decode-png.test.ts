import { decode as fastPng } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { EdgeClipError } from '../../../src/contracts/errors.ts';
import { decodePng } from '../../../src/model/image/decode-png.ts';
import { Rng } from '../../../tool/synth/synth-checkpoint.ts';
import { packedRgb } from '../../helpers/packed-rgb.ts';
import { pngCase, pngFamily } from '../../helpers/png-family.ts';

describe('decodePng: PIL convert("RGB") of every PNG layout', () => {
  const family = [...pngFamily(1, 3), ...pngFamily(2, 3), ...pngFamily(3, 3)];

  it('the generated files are what they claim: fast-png reads the samples they were written from', () => {
    for (const c of family.filter((f) => f.depth >= 8)) {
      const png = fastPng(c.bytes);
      expect([png.width, png.height, png.depth], c.name).toEqual([c.width, c.height, c.depth]);
      expect(Array.from(png.data), c.name).toEqual(Array.from(c.samples));
    }
  });

  it('decodes every colour type, depth, filter and interlace to the RGB PIL gives', async () => {
    // 15 colour type × depth layouts, interlaced or not, 3 sizes, 3 seeds.
    expect(family.length).toBe(15 * 2 * 3 * 3);
    for (const c of family) expect(packedRgb(await decodePng(c.bytes)), c.name).toEqual(c.rgb);
  });

  it('reads image data cut into thousands of IDAT chunks, some empty, as one stream', async () => {
    const c = pngCase(new Rng(6), { colorType: 6, depth: 8, interlaced: true }, { parts: 5000 });
    expect(packedRgb(await decodePng(c.bytes))).toEqual(c.rgb);
  });

  it('refuses a row filter type past 4 and a palette image without PLTE, as a client error (422)', async () => {
    const rng = new Rng(5);
    const refused = async (bytes: Uint8Array) => {
      try {
        await decodePng(bytes);
      } catch (e) {
        return e instanceof EdgeClipError && e.code === 'UNPROCESSABLE_IMAGE' ? e.message : `other: ${e}`;
      }
      return 'decoded';
    };
    for (const interlaced of [false, true]) {
      const layout = { colorType: 2, depth: 8, interlaced };
      expect(await refused(pngCase(rng, layout, { filter: 5 }).bytes)).toMatch(/row filter type 5/);
      expect(await refused(pngCase(rng, layout, { filter: 4 }).bytes)).toBe('decoded');
      expect(await refused(pngCase(rng, { ...layout, colorType: 3 }, { noPalette: true }).bytes)).toMatch(
        /without PLTE/,
      );
    }
  });
});
