/**
 * Checks the first image of a TIFF before utif2 decodes it, and hands utif2 a file whose only IFD holds the baseline
 * tags of that image: no IFD chain or sub-IFDs to follow (a chain pointing back at itself ran utif2 out of memory),
 * every value and every strip or tile inside the file, sample sizes and tile sizes that fit the image, and compressed
 * strips that decompress to exactly what the image needs (no bombs, no made-up pixels from missing data).
 */
import UTIF from 'utif2';
import { EdgeClipError } from '../../contracts/errors.ts';
import { requireInflatedSize } from './bounded-inflate.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);
const unsupported = (message: string) => new EdgeClipError('UNSUPPORTED_MEDIA_TYPE', message);

/** Bytes per value of each TIFF field type (6.0 + BigTIFF-free extensions). */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8 };

/** The baseline tags of one image; everything else (EXIF, GPS, sub-IFDs, XMP, ICC, …) is dropped. */
const KEEP = new Set([256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 338, 339]);

/** No compression, LZW, Deflate (two codes), PackBits. */
const COMPRESSIONS = new Set([1, 5, 8, 32946, 32773]);

interface Entry {
  tag: number;
  type: number;
  count: number;
  /** The 12 bytes of the entry as stored. */
  raw: Uint8Array;
  values: number[];
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

export function checkedTiff(b: Uint8Array): Uint8Array {
  const le = b[0] === 0x49;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 8) throw bad('truncated TIFF');
  const ifd = dv.getUint32(4, le);
  if (ifd + 2 > b.length) throw bad('truncated TIFF: first IFD past the end of the file');
  const n = dv.getUint16(ifd, le);
  if (ifd + 2 + n * 12 > b.length) throw bad('truncated TIFF: IFD entries past the end of the file');
  const tags = new Map<number, Entry>();
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    const tag = dv.getUint16(e, le);
    if (!KEEP.has(tag)) continue;
    const type = dv.getUint16(e + 2, le);
    const count = dv.getUint32(e + 4, le);
    const size = TYPE_SIZE[type];
    if (!size || (type !== 3 && type !== 4 && type !== 1)) throw bad(`corrupt TIFF: tag ${tag} has field type ${type}`);
    const bytes = size * count;
    const at = bytes <= 4 ? e + 8 : dv.getUint32(e + 8, le);
    if (count === 0 || count > 1 << 20 || at + bytes > b.length)
      throw bad(`corrupt TIFF: tag ${tag} holds ${count} values past the end of the file`);
    const values: number[] = [];
    for (let k = 0; k < count; k++) {
      const o = at + k * size;
      values.push(size === 1 ? b[o] : size === 2 ? dv.getUint16(o, le) : dv.getUint32(o, le));
    }
    tags.set(tag, { tag, type, count, raw: b.subarray(e, e + 12), values });
  }
  const one = (tag: number, fallback?: number): number => {
    const v = tags.get(tag)?.values[0] ?? fallback;
    if (v === undefined) throw bad(`corrupt TIFF: tag ${tag} missing`);
    return v;
  };
  const width = one(256);
  const height = one(257);
  const spp = one(277, 1);
  const bps = tags.get(258)?.values ?? [1];
  const compression = one(259, 1);
  if (spp < 1 || spp > 8) throw bad(`corrupt TIFF: ${spp} samples per pixel`);
  if ((bps.length !== 1 && bps.length !== spp) || bps.some((v) => v !== bps[0] || ![1, 2, 4, 8, 16].includes(v)))
    throw unsupported(`TIFF bits per sample ${bps.slice(0, 8).join(',')} are not supported (1, 2, 4, 8 or 16)`);
  if (!COMPRESSIONS.has(compression))
    throw unsupported(`TIFF compression ${compression} is not supported (none, LZW, Deflate, PackBits)`);
  if (one(284, 1) !== 1) throw unsupported('planar TIFFs (PlanarConfiguration 2) are not supported');
  const bitsPerPixel = bps[0] * spp;

  // Strips or tiles: how many, and the bytes each must decode to.
  const tiled = tags.has(322);
  const blockW = tiled ? one(322) : width;
  const blockH = tiled ? one(323) : Math.min(one(278, height), height);
  if (blockW < 1 || blockH < 1 || (tiled && (blockW > align16(width) || blockH > align16(height))))
    throw bad(`corrupt TIFF: ${blockW}×${blockH} ${tiled ? 'tiles' : 'strips'} for a ${width}×${height} image`);
  const across = Math.ceil(width / blockW);
  const blocks = across * Math.ceil(height / blockH);
  const offsets = tags.get(tiled ? 324 : 273)?.values;
  const counts = tags.get(tiled ? 325 : 279)?.values;
  if (!offsets || !counts || offsets.length !== blocks || counts.length !== blocks)
    throw bad(`corrupt TIFF: ${blocks} ${tiled ? 'tiles' : 'strips'} needed, ${offsets?.length ?? 0} given`);
  const rowBytes = Math.ceil((blockW * bitsPerPixel) / 8);
  for (let i = 0; i < blocks; i++) {
    const rows = tiled ? blockH : Math.min(blockH, height - i * blockH);
    const expected = rowBytes * rows;
    const [off, len] = [offsets[i], counts[i]];
    if (off + len > b.length)
      throw bad(`truncated TIFF: ${tiled ? 'tile' : 'strip'} ${i} runs past the end of the file`);
    decodedSizeCheck(b.subarray(off, off + len), compression, expected, `TIFF ${tiled ? 'tile' : 'strip'} ${i}`);
  }
  return withSingleIfd(b, [...tags.values()], le);
}

/** Each compressed block must yield the bytes its rows need: fewer is truncation, far more a bomb. */
function decodedSizeCheck(block: Uint8Array, compression: number, expected: number, what: string): void {
  if (compression === 1) {
    if (block.length < expected) throw bad(`truncated ${what}: ${block.length} of ${expected} bytes`);
  } else if (compression === 8 || compression === 32946) {
    requireInflatedSize([block], expected, 'zlib', what);
  } else if (compression === 5) {
    const got = lzwDecodedSize(block, expected, what);
    if (got < expected) throw bad(`truncated ${what}: decodes to ${got} of ${expected} bytes`);
  } else {
    // utif2's PackBits stops at the end of its input and returns where its output ended.
    const decoders = UTIF.decode as unknown as Record<
      string,
      (data: Uint8Array, off: number, len: number, tgt: Uint8Array, toff: number) => number
    >;
    const got = decoders._decodePackBits(block, 0, block.length, new Uint8Array(expected), 0);
    if (got < expected) throw bad(`truncated ${what}: decodes to ${got} of ${expected} bytes`);
  }
}

/**
 * Walks TIFF LZW codes (MSB first, clear 256, end 257, "early change" widths) and returns the decoded length. Codes
 * that reach past the next table entry are refused: utif2's decoder would link an entry to itself on them and loop.
 */
function lzwDecodedSize(block: Uint8Array, expected: number, what: string): number {
  const length = new Uint32Array(4096);
  let width = 9;
  let next = 258;
  let prev = -1;
  let total = 0;
  let bit = 0;
  const bits = block.length * 8;
  while (bit + width <= bits && total < expected) {
    let code = 0;
    for (let k = 0; k < width; k++, bit++) code = (code << 1) | ((block[bit >> 3] >> (7 - (bit & 7))) & 1);
    if (code === 256) {
      width = 9;
      next = 258;
      prev = -1;
      continue;
    }
    if (code === 257) break;
    if (prev === -1) {
      if (code > 255) throw bad(`corrupt ${what}: LZW data starts with an undefined code`);
      total += 1;
      prev = code;
      continue;
    }
    if (code > next) throw bad(`corrupt ${what}: LZW code ${code} before it is defined`);
    if (next < 4096) {
      length[next] = (prev < 256 ? 1 : length[prev]) + 1;
      next++;
      if (next + 1 === 1 << width && width < 12) width++;
    }
    total += code < 256 ? 1 : length[code];
    prev = code;
  }
  return total;
}

/** The original bytes with a new first IFD appended: the kept entries, sorted, and no next IFD. */
function withSingleIfd(b: Uint8Array, entries: Entry[], le: boolean): Uint8Array {
  entries.sort((x, y) => x.tag - y.tag);
  const at = b.length + (b.length & 1);
  const out = new Uint8Array(at + 2 + entries.length * 12 + 4);
  out.set(b);
  const dv = new DataView(out.buffer);
  dv.setUint32(4, at, le);
  dv.setUint16(at, entries.length, le);
  entries.forEach((e, i) => {
    out.set(e.raw, at + 2 + i * 12);
  });
  dv.setUint32(at + 2 + entries.length * 12, 0, le);
  return out;
}
