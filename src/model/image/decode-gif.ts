/**
 * The first frame of a GIF as PIL's convert('RGB') gives it (palette colours, transparency ignored), with bounded
 * work: the frame must lie inside the logical screen, LZW output stops at the frame's pixel count, every code-table
 * entry points to an older one (so expanding a code always ends), and a frame with fewer pixels than it declares is
 * refused rather than filled in. (omggif, used before, looped forever on a table entry that was its own prefix.)
 */
import { EdgeClipError } from '../../contracts/errors.ts';
import type { RgbImage } from './rgb-image.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

interface Cursor {
  b: Uint8Array;
  p: number;
}

function need(c: Cursor, n: number, what: string): void {
  if (c.p + n > c.b.length) throw bad(`truncated GIF: ${what} past the end of the file`);
}

function u16(c: Cursor): number {
  const v = c.b[c.p] | (c.b[c.p + 1] << 8);
  c.p += 2;
  return v;
}

/** A colour table of 2^(size+1) RGB entries. */
function colorTable(c: Cursor, flags: number): Uint8Array {
  const bytes = 3 << ((flags & 7) + 1);
  need(c, bytes, 'colour table');
  const table = c.b.subarray(c.p, c.p + bytes);
  c.p += bytes;
  return table;
}

/** Concatenated data sub-blocks (length byte, bytes; a zero length ends them). */
function subBlocks(c: Cursor): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (;;) {
    need(c, 1, 'data block');
    const n = c.b[c.p++];
    if (n === 0) return parts;
    need(c, n, 'data block');
    parts.push(c.b.subarray(c.p, c.p + n));
    c.p += n;
  }
}

/** Variable-width LZW as GIF uses it; writes at most `out.length` indices and returns how many it wrote. */
function lzw(parts: Uint8Array[], minCodeSize: number, out: Uint8Array): number {
  const clear = 1 << minCodeSize;
  const eoi = clear + 1;
  const prefix = new Uint16Array(4096);
  const suffix = new Uint8Array(4096);
  const stack = new Uint8Array(4097);
  let size = minCodeSize + 1;
  let next = eoi + 1;
  let prev = -1;
  let first = 0;
  let n = 0;
  let bits = 0;
  let acc = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      acc |= part[i] << bits;
      bits += 8;
      while (bits >= size) {
        const code = acc & ((1 << size) - 1);
        acc >>>= size;
        bits -= size;
        if (code === clear) {
          size = minCodeSize + 1;
          next = eoi + 1;
          prev = -1;
          continue;
        }
        if (code === eoi) return n;
        let top = 0;
        let c = code;
        if (prev === -1) {
          if (code >= clear) throw bad('corrupt GIF: LZW data starts with an undefined code');
        } else if (code === next) {
          stack[top++] = first;
          c = prev;
        } else if (code > next) {
          throw bad('corrupt GIF: LZW code not yet defined');
        }
        // prefix[k] < k for every entry, so this walk ends within 4096 steps.
        while (c > eoi) {
          stack[top++] = suffix[c];
          c = prefix[c];
        }
        stack[top++] = c;
        first = c;
        while (top > 0 && n < out.length) out[n++] = stack[--top];
        if (n === out.length) return n;
        if (prev !== -1 && next < 4096) {
          prefix[next] = prev;
          suffix[next] = first;
          next++;
          if (next === 1 << size && size < 12) size++;
        }
        prev = code;
      }
    }
  }
  return n;
}

/** Row order of an interlaced frame: every 8th row from 0, every 8th from 4, every 4th from 2, every 2nd from 1. */
function interlacedRows(height: number): Int32Array {
  const rows = new Int32Array(height);
  let i = 0;
  for (const [start, step] of [
    [0, 8],
    [4, 8],
    [2, 4],
    [1, 2],
  ])
    for (let y = start; y < height; y += step) rows[i++] = y;
  return rows;
}

export function decodeGif(b: Uint8Array): RgbImage {
  const c: Cursor = { b, p: 6 };
  need(c, 7, 'screen descriptor');
  const width = u16(c);
  const height = u16(c);
  const flags = b[c.p];
  c.p += 3;
  const global = flags & 0x80 ? colorTable(c, flags) : undefined;
  for (;;) {
    need(c, 1, 'block');
    const block = b[c.p++];
    if (block === 0x21) {
      need(c, 1, 'extension');
      c.p++;
      subBlocks(c);
    } else if (block === 0x2c) {
      need(c, 9, 'image descriptor');
      const left = u16(c);
      const top = u16(c);
      const w = u16(c);
      const h = u16(c);
      const imageFlags = b[c.p++];
      if (left + w > width || top + h > height)
        throw bad(`corrupt GIF: a ${w}×${h} frame at (${left},${top}) does not fit the ${width}×${height} screen`);
      const palette = imageFlags & 0x80 ? colorTable(c, imageFlags) : global;
      need(c, 1, 'LZW code size');
      const minCodeSize = b[c.p++];
      if (minCodeSize < 2 || minCodeSize > 8) throw bad(`corrupt GIF: LZW code size ${minCodeSize}`);
      const indices = new Uint8Array(w * h);
      const got = lzw(subBlocks(c), minCodeSize, indices);
      if (got < indices.length) throw bad(`truncated GIF: the first frame has ${got} of its ${indices.length} pixels`);
      return blit(indices, w, h, left, top, imageFlags & 0x40 ? interlacedRows(h) : undefined, palette, width, height);
    } else if (block === 0x3b) {
      throw bad('corrupt GIF: no image before the trailer');
    } else {
      throw bad(`corrupt GIF: unknown block 0x${block.toString(16)}`);
    }
  }
}

/** The frame on a black screen; indices past the palette are black too. */
function blit(
  indices: Uint8Array,
  w: number,
  h: number,
  left: number,
  top: number,
  rows: Int32Array | undefined,
  palette: Uint8Array | undefined,
  width: number,
  height: number,
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  const colors = palette ? palette.length / 3 : 0;
  for (let r = 0; r < h; r++) {
    const y = top + (rows ? rows[r] : r);
    let o = (y * width + left) * 3;
    for (let x = 0, i = r * w; x < w; x++, i++, o += 3) {
      const k = indices[i];
      if (palette && k < colors) {
        data[o] = palette[k * 3];
        data[o + 1] = palette[k * 3 + 1];
        data[o + 2] = palette[k * 3 + 2];
      }
    }
  }
  return { width, height, channels: 3, data };
}
