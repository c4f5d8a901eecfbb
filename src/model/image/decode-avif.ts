/**
 * AVIF decoding with libavif + dav1d compiled to wasm (what Pillow ≥ 11 reads AVIF with): 8-bit RGB(A) of the
 * primary image (an image sequence gives its first frame); alpha is dropped like every other format's.
 */
import decodeLibavif, { init } from '@jsquash/avif/decode.js';
import { EdgeClipError, isEdgeClipError } from '../../contracts/errors.ts';
import { type RgbImage, rgbaToRgb } from './rgb-image.ts';
import { WasmCodec } from './wasm-codec.ts';

export const avifCodec = new WasmCodec('AVIF', init);

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

export async function decodeAvif(b: Uint8Array): Promise<RgbImage> {
  const img = await avifCodec
    .run(() => decodeLibavif(b.slice().buffer, { bitDepth: 8 }))
    .catch((e: unknown) => {
      throw isEdgeClipError(e) ? e : bad(`corrupt AVIF: ${(e as Error).message}`);
    });
  if (!img) throw bad('corrupt AVIF: nothing decoded');
  return rgbaToRgb(img.data, img.width, img.height);
}

interface Box {
  type: string;
  /** Payload start and end (after the size/type header). */
  start: number;
  end: number;
}

/** ISO-BMFF boxes in [from, to), each bounded by its parent. */
function* boxes(b: Uint8Array, from: number, to: number): Generator<Box> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = from;
  while (p + 8 <= to) {
    let size = dv.getUint32(p);
    let header = 8;
    if (size === 1) {
      if (p + 16 > to) throw bad('truncated AVIF: box header cut');
      size = Number(dv.getBigUint64(p + 8));
      header = 16;
    } else if (size === 0) size = to - p;
    if (size < header || p + size > to) throw bad('truncated AVIF: a box runs past its container');
    yield { type: String.fromCharCode(b[p + 4], b[p + 5], b[p + 6], b[p + 7]), start: p + header, end: p + size };
    p += size;
  }
}

const child = (b: Uint8Array, parent: Box, type: string, skip = 0) => {
  for (const box of boxes(b, parent.start + skip, parent.end)) if (box.type === type) return box;
  return undefined;
};

/** The largest image spatial extent ('ispe') among the item properties: the primary image's size. */
export function avifSize(b: Uint8Array): [number, number] {
  const file: Box = { type: 'file', start: 0, end: b.length };
  // meta is a full box: 4 bytes of version and flags before its children.
  const meta = child(b, file, 'meta');
  const iprp = meta && child(b, meta, 'iprp', 4);
  const ipco = iprp && child(b, iprp, 'ipco');
  if (!ipco) throw bad('truncated AVIF: no image properties');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let best: [number, number] = [0, 0];
  for (const box of boxes(b, ipco.start, ipco.end)) {
    if (box.type !== 'ispe' || box.end - box.start < 12) continue;
    const size: [number, number] = [dv.getUint32(box.start + 4), dv.getUint32(box.start + 8)];
    if (size[0] * size[1] > best[0] * best[1]) best = size;
  }
  return best;
}
