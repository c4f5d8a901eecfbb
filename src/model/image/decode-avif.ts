/**
 * AVIF decoding with libavif compiled to wasm (the library Pillow ≥ 11 reads AVIF with; here with libaom as its AV1
 * decoder): 8-bit RGB of the primary image, alpha dropped like every other format's. Before anything is decoded,
 * `avifSize` finds the size the decoder will allocate for — the largest of the images' `ispe`, a grid's output size,
 * and every AV1 sequence header in the items' data — so that the pixel limit applies to what is really decoded.
 */
import decodeLibavif from '@jsquash/avif/decode.js';
import { EdgeClipError } from '../../contracts/errors.ts';
import { type RgbImage, rgbaImage } from './rgb-image.ts';
import type { WasmCodec } from './wasm-codec.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

export async function decodeAvif(b: Uint8Array, codec: WasmCodec, pixels: number): Promise<RgbImage> {
  const img = await codec.run(() => decodeLibavif(b.slice().buffer, { bitDepth: 8 }), pixels);
  if (!img) throw bad('corrupt AVIF: nothing decoded');
  return rgbaImage(img.data, img.width, img.height);
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

const child = (b: Uint8Array, from: number, to: number, type: string) => {
  for (const box of boxes(b, from, to)) if (box.type === type) return box;
  return undefined;
};

/** Big-endian reader over a box payload; reading past its end is a 422, not a wrong number. */
function reader(b: Uint8Array, box: Box) {
  let p = box.start;
  const uint = (n: number): number => {
    if (p + n > box.end) throw bad(`corrupt AVIF: '${box.type}' box cut`);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + b[p + i];
    p += n;
    return v;
  };
  return { uint, at: () => p };
}

/** Items of the image ('iinf'): their ids and 4CC types ('av01' coded images, 'grid', 'Exif', …). */
function itemTypes(b: Uint8Array, iinf: Box): Map<number, string> {
  const r = reader(b, iinf);
  const version = r.uint(4) >>> 24;
  r.uint(version === 0 ? 2 : 4);
  const types = new Map<number, string>();
  for (const infe of boxes(b, r.at(), iinf.end)) {
    if (infe.type !== 'infe') continue;
    const e = reader(b, infe);
    const v = e.uint(4) >>> 24;
    // Versions 0 and 1 have no item type: not AVIF images.
    if (v < 2) continue;
    const id = e.uint(v === 2 ? 2 : 4);
    e.uint(2);
    const t = e.uint(4);
    types.set(id, String.fromCharCode(t >>> 24, (t >> 16) & 255, (t >> 8) & 255, t & 255));
  }
  return types;
}

/** At most this many items and extents: real files have a handful (a grid: one item per tile). */
const MAX_ITEMS = 4096;
const MAX_EXTENTS = 8192;

/** Each item's data as byte ranges of the file ('iloc'; construction method 1 points into 'idat'). */
function itemLocations(b: Uint8Array, iloc: Box, idat: Box | undefined): Map<number, [number, number][]> {
  const r = reader(b, iloc);
  const version = r.uint(4) >>> 24;
  const sizes = r.uint(2);
  const [offsetSize, lengthSize, baseSize] = [sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15];
  const indexSize = version === 1 || version === 2 ? sizes & 15 : 0;
  const count = r.uint(version === 2 ? 4 : 2);
  if (count > MAX_ITEMS) throw bad(`unsupported AVIF: ${count} items`);
  const locations = new Map<number, [number, number][]>();
  let extentsSeen = 0;
  for (let i = 0; i < count; i++) {
    const id = r.uint(version === 2 ? 4 : 2);
    const method = version === 1 || version === 2 ? r.uint(2) & 15 : 0;
    r.uint(2);
    const base = r.uint(baseSize);
    const extents = r.uint(2);
    extentsSeen += extents;
    if (extentsSeen > MAX_EXTENTS) throw bad('unsupported AVIF: too many item extents');
    const [from, to] = method === 0 ? [0, b.length] : method === 1 && idat ? [idat.start, idat.end] : [0, -1];
    const ranges: [number, number][] = [];
    for (let e = 0; e < extents; e++) {
      r.uint(indexSize);
      const offset = r.uint(offsetSize);
      const length = r.uint(lengthSize);
      const start = from + base + offset;
      const end = length === 0 ? to : start + length;
      if (to < 0 || start > to || end > to || end < start) throw bad('corrupt AVIF: item data outside the file');
      ranges.push([start, end]);
    }
    locations.set(id, ranges);
  }
  return locations;
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
 * The largest frame any AV1 sequence header in a run of OBUs allows (max_frame_width/height): the decoder takes every
 * sequence header it meets, so all of them count, wherever they are among the other OBUs.
 */
function av1MaxFrames(data: Uint8Array): [number, number][] {
  const frames: [number, number][] = [];
  let p = 0;
  while (p < data.length) {
    const header = data[p];
    let q = p + 1 + ((header >> 2) & 1);
    let size = data.length - q;
    if (header & 2) {
      size = 0;
      for (let shift = 0; ; shift += 7) {
        if (q >= data.length || shift > 49) throw bad('corrupt AVIF: AV1 data cut');
        const byte = data[q++];
        size += (byte & 0x7f) * 2 ** shift;
        if (!(byte & 0x80)) break;
      }
    }
    if (q + size > data.length) throw bad('corrupt AVIF: AV1 data cut');
    if (((header >> 3) & 0xf) === 1) frames.push(sequenceHeaderSize(bits(data, q, q + size)));
    p = q + size;
  }
  return frames;
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
        // num_ticks_per_picture_minus_1, uvlc(): 32 leading zeros mean the largest value, with no bits after them.
        let zeros = 0;
        while (zeros < 32 && !read(1)) zeros++;
        if (zeros < 32) read(zeros);
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

/** A grid's output size (ISO/IEC 23008-12 ImageGrid): what libavif allocates the whole picture at. */
function gridSize(data: Uint8Array): [number, number] {
  if (data.length < 8) throw bad('corrupt AVIF: grid description cut');
  const wide = (data[1] & 1) === 1;
  const n = wide ? 4 : 2;
  if (data.length < 4 + 2 * n) throw bad('corrupt AVIF: grid description cut');
  const at = (p: number) => data.subarray(p, p + n).reduce((v, x) => v * 256 + x, 0);
  return [at(4), at(4 + n)];
}

const join = (b: Uint8Array, ranges: [number, number][]): Uint8Array => {
  if (ranges.length === 1) return b.subarray(ranges[0][0], ranges[0][1]);
  const out = new Uint8Array(ranges.reduce((a, [s, e]) => a + e - s, 0));
  let p = 0;
  for (const [s, e] of ranges) {
    out.set(b.subarray(s, e), p);
    p += e - s;
  }
  return out;
};

/**
 * The size to check against the pixel limit (see the module comment). A coded image item ('av01') must carry a
 * sequence header, and none may allow a frame larger than the images say; image sequences (tracks, which libavif
 * would decode instead) are refused.
 */
export function avifSize(b: Uint8Array): [number, number] {
  if (child(b, 0, b.length, 'moov'))
    throw new EdgeClipError('UNSUPPORTED_MEDIA_TYPE', 'AVIF image sequences are not supported');
  const meta = child(b, 0, b.length, 'meta');
  if (!meta) throw bad('truncated AVIF: no meta box');
  // meta is a full box: 4 bytes of version and flags before its children.
  const inMeta = (type: string) => child(b, meta.start + 4, meta.end, type);
  const iprp = inMeta('iprp');
  const ipco = iprp && child(b, iprp.start, iprp.end, 'ipco');
  const iinf = inMeta('iinf');
  const iloc = inMeta('iloc');
  if (!ipco || !iinf || !iloc) throw bad('truncated AVIF: no image properties, items or item locations');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let best: [number, number] = [0, 0];
  const consider = (size: [number, number]) => {
    if (size[0] * size[1] > best[0] * best[1]) best = size;
  };
  for (const box of boxes(b, ipco.start, ipco.end)) {
    if (box.type === 'ispe' && box.end - box.start >= 12)
      consider([dv.getUint32(box.start + 4), dv.getUint32(box.start + 8)]);
  }
  const types = itemTypes(b, iinf);
  const locations = itemLocations(b, iloc, inMeta('idat'));
  const frames: [number, number][] = [];
  let walked = 0;
  const seen = new Set<string>();
  for (const [id, type] of types) {
    const ranges = locations.get(id);
    if (type === 'grid' && ranges) consider(gridSize(join(b, ranges)));
    if (type !== 'av01') continue;
    if (!ranges) throw bad(`corrupt AVIF: no data for image item ${id}`);
    const key = ranges.map((r) => r.join('-')).join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    const data = join(b, ranges);
    walked += data.length;
    if (walked > 4 * b.length) throw bad('unsupported AVIF: its items share too much data');
    const found = av1MaxFrames(data);
    if (found.length === 0) throw bad(`corrupt AVIF: image item ${id} has no AV1 sequence header`);
    frames.push(...found);
  }
  if (seen.size === 0) throw bad('corrupt AVIF: no AV1 image item');
  for (const [w, h] of frames) {
    if (w > best[0] || h > best[1])
      throw bad(`corrupt AVIF: its AV1 stream allows ${w}×${h} frames, the image says ${best[0]}×${best[1]}`);
  }
  return best;
}
