import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeImageDecoders } from '../../../src/adapters/node/image-wasm-node.ts';
import { isEdgeClipError } from '../../../src/contracts/errors.ts';
import { decodeImage } from '../../../src/model/image/decode-image.ts';
import { probeImage } from '../../../src/model/image/probe-image.ts';
import { gif, type HostileCase, hostileCases, literalCodes, rgbTiff } from '../../helpers/crafted-images.ts';
import { packedRgb } from '../../helpers/packed-rgb.ts';
import { PREPROCESS } from '../../helpers/paths.ts';

const decoders = nodeImageDecoders();
const decode = async (bytes: Uint8Array) => {
  const img = await decodeImage(bytes, probeImage(bytes), 40e6, decoders);
  return { ...img, data: packedRgb(img) };
};

/** The HTTP status a decode ends in: 200, or the client error it throws (anything else fails the test). */
async function statusOf(bytes: Uint8Array): Promise<{ status: number; message?: string }> {
  try {
    await decode(bytes);
    return { status: 200 };
  } catch (e) {
    if (!isEdgeClipError(e)) throw e;
    return { status: e.status, message: e.message };
  }
}

let cases: HostileCase[];
beforeAll(async () => {
  cases = await hostileCases();
});

describe('hostile images are refused quickly, or decoded correctly, never run away', () => {
  it('answers every crafted case within its bounds', async () => {
    for (const c of cases) {
      const t0 = performance.now();
      const r = await statusOf(c.body);
      expect({ name: c.name, status: r.status }).toEqual({ name: c.name, status: expect.toBeOneOf(c.status) });
      if (c.message) expect(r.message, c.name).toMatch(c.message);
      expect(performance.now() - t0, c.name).toBeLessThan(2000);
    }
  });

  it('a TIFF with a cyclic IFD chain still gives its first image, pixel for pixel', async () => {
    const cyclic = cases.find((c) => c.name.includes('IFD chain'));
    expect((await decode(cyclic!.body)).data).toEqual(new Uint8Array(48).fill(7));
    const plain = rgbTiff(3, 2);
    expect((await decode(plain)).data).toEqual(new Uint8Array(18).map((_, i) => (i * 37) & 0xff));
  });

  it('decodes a GIF frame inside its screen on black, indices through the palette', async () => {
    const img = await decode(gif({ screen: [3, 2], frame: [1, 0, 2, 2], codes: literalCodes([0, 255, 10, 20]) }));
    expect(Array.from(img.data)).toEqual([0, 0, 0, 0, 255, 0, 255, 0, 0, 0, 0, 0, 10, 245, 0, 20, 235, 0]);
  });

  it('keeps decoding JPEGs correctly after hundreds of corrupt ones', async () => {
    const good = new Uint8Array(readFileSync(join(PREPROCESS, 'grace_hopper.jpg')));
    const before = (await decode(good)).data;
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const corrupt = good.slice();
      // Garbage in the entropy-coded data and tables, keeping the markers that the structure check reads.
      for (let k = 0; k < 40; k++) corrupt[600 + ((i * 7919 + k * 104729) % (good.length - 700))] ^= 0x5a;
      const r = await statusOf(corrupt);
      expect(r.status).toBeOneOf([200, 422]);
      if (r.status === 422) refused++;
    }
    expect(refused).toBeGreaterThan(0);
    expect((await decode(good)).data).toEqual(before);
  });
});
