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

/** Boxes whose payload holds boxes, and the bytes before their first child (full-box header, sample entry). */
const CONTAINERS: Record<string, number> = {
  moov: 0,
  trak: 0,
  mdia: 0,
  minf: 0,
  stbl: 0,
  stsd: 8,
  av01: 78,
  meta: 4,
  iprp: 0,
  ipco: 0,
};

/** Every box of `type` in the tree, items (meta) and tracks (moov) alike. */
function* find(b: Uint8Array, from: number, to: number, type: string): Generator<Box> {
  for (const box of boxes(b, from, to)) {
    if (box.type === type) yield box;
    const skip = CONTAINERS[box.type];
    if (skip !== undefined && box.start + skip <= box.end) yield* find(b, box.start + skip, box.end, type);
  }
}

/** MSB-first bit reader over an AV1 OBU payload. */
function bits(b: Uint8Array, from: number, to: number) {
  let pos = from * 8;
  const read = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, pos++) {
      if (pos >= to * 8) throw bad('corrupt AVIF: sequence header cut');
      v = v * 2 + ((b[pos >> 3] >> (7 - (pos & 7))) & 1);
    }
    return v;
  };
  return read;
}

/**
 * The largest frame an AV1 sequence header allows (max_frame_width/height), from a run of OBUs (an av1C box's
 * configOBUs, or the start of an item's data): what the decoder allocates for, whatever the container says.
 * Undefined when the run does not start with a sequence header (a grid item's data, an empty av1C).
 */
function av1MaxFrame(b: Uint8Array, from: number, to: number): [number, number] | undefined {
  let p = from;
  while (p < to) {
    const header = b[p];
    const type = (header >> 3) & 0xf;
    let q = p + 1 + ((header >> 2) & 1);
    let size = to - q;
    if (header & 2) {
      size = 0;
      for (let shift = 0; q < to && shift < 56; shift += 7) {
        const byte = b[q++];
        size += (byte & 0x7f) * 2 ** shift;
        if (!(byte & 0x80)) break;
      }
    }
    if (type === 1) return sequenceHeaderSize(bits(b, q, Math.min(to, q + size)));
    // Only a temporal delimiter may come before the sequence header.
    if (type !== 2) return undefined;
    p = q + size;
  }
  return undefined;
}

/** Where each item's data starts and ends in the file ('iloc', items stored in the file itself). */
function* itemData(b: Uint8Array, iloc: Box): Generator<[number, number]> {
  let p = iloc.start;
  const need = (n: number) => {
    if (p + n > iloc.end) throw bad('corrupt AVIF: item locations cut');
  };
  const uint = (n: number): number => {
    need(n);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + b[p + i];
    p += n;
    return v;
  };
  const version = uint(4) >>> 24;
  const sizes = uint(2);
  const [offsetSize, lengthSize, baseSize] = [sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15];
  const indexSize = version === 1 || version === 2 ? sizes & 15 : 0;
  const count = version === 2 ? uint(4) : uint(2);
  for (let i = 0; i < count; i++) {
    uint(version === 2 ? 4 : 2);
    const method = version === 1 || version === 2 ? uint(2) & 15 : 0;
    uint(2);
    const base = uint(baseSize);
    const extents = uint(2);
    for (let e = 0; e < extents; e++) {
      uint(indexSize);
      const offset = uint(offsetSize);
      const length = uint(lengthSize);
      // Only the first extent begins with the sequence header; construction methods other than 0 are not file bytes.
      if (e === 0 && method === 0) {
        const start = base + offset;
        const end = length === 0 ? b.length : start + length;
        if (start >= b.length || end > b.length) throw bad('truncated AVIF: item data past the end of the file');
        yield [start, end];
      }
    }
  }
}

function sequenceHeaderSize(read: (n: number) => number): [number, number] {
  read(3); // seq_profile
  read(1); // still_picture
  if (read(1))
    read(5); // reduced_still_picture_header: seq_level_idx[0]
  else {
    let decoderModel = false;
    let bufferDelayBits = 0;
    if (read(1)) {
      // timing_info
      read(32);
      read(32);
      if (read(1)) {
        let zeros = 0;
        while (!read(1)) if (++zeros > 32) throw bad('corrupt AVIF: bad sequence header');
        read(zeros);
      }
      decoderModel = read(1) === 1;
      if (decoderModel) {
        bufferDelayBits = read(5) + 1;
        read(32);
        read(5);
        read(5);
      }
    }
    const initialDisplayDelay = read(1) === 1;
    const operatingPoints = read(5) + 1;
    for (let i = 0; i < operatingPoints; i++) {
      read(12);
      if (read(5) > 7) read(1);
      if (decoderModel && read(1)) {
        read(bufferDelayBits);
        read(bufferDelayBits);
        read(1);
      }
      if (initialDisplayDelay && read(1)) read(4);
    }
  }
  const widthBits = read(4) + 1;
  const heightBits = read(4) + 1;
  return [read(widthBits) + 1, read(heightBits) + 1];
}

const child = (b: Uint8Array, parent: Box, type: string, skip = 0) => {
  for (const box of boxes(b, parent.start + skip, parent.end)) if (box.type === type) return box;
  return undefined;
};

/**
 * The size to check against the pixel limit: the primary image's ('ispe', the largest among the item properties),
 * refused when any AV1 configuration in the file (items or tracks) allows a larger frame than that.
 */
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
  // Image sequences decode from tracks whose samples this check does not read.
  if (child(b, file, 'moov'))
    throw new EdgeClipError('UNSUPPORTED_MEDIA_TYPE', 'AVIF image sequences are not supported');
  const iloc = child(b, meta, 'iloc', 4);
  const frames = [
    ...[...find(b, 0, b.length, 'av1C')].map((c) => av1MaxFrame(b, c.start + 4, c.end)),
    ...(iloc ? [...itemData(b, iloc)].map(([start, end]) => av1MaxFrame(b, start, end)) : []),
  ].filter((f) => f !== undefined);
  if (frames.length === 0) throw bad('corrupt AVIF: no AV1 sequence header');
  for (const [w, h] of frames) {
    if (w > best[0] || h > best[1])
      throw bad(`corrupt AVIF: its AV1 stream allows ${w}×${h} frames, the image says ${best[0]}×${best[1]}`);
  }
  return best;
}
