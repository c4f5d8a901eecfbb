/**
 * Tiny image files built byte by byte: valid ones of known pixels, and the hostile ones that once hung, crashed or
 * ballooned the Worker (bombs, cycles, truncation). Pure functions of their arguments, usable in Node and in workerd.
 */
import { zlibSync } from 'fflate';

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** zlib stream of `bytes` zero bytes (about 1 KB per MiB), made in slices so that the test never holds them all. */
export async function zeroBomb(bytes: number): Promise<Uint8Array> {
  const stream = new CompressionStream('deflate');
  const writer = stream.writable.getWriter();
  const out = new Response(stream.readable).arrayBuffer();
  const slice = new Uint8Array(1 << 20);
  for (let done = 0; done < bytes; done += slice.length) await writer.write(slice);
  await writer.close();
  return new Uint8Array(await out);
}

/** An 8-bit RGB PNG of w×h pixels; `idat` replaces the image data, `extra` chunks go before it. */
export function png(
  w: number,
  h: number,
  opts: { rgb?: (x: number, y: number) => [number, number, number]; idat?: Uint8Array; extra?: Uint8Array[] } = {},
): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr.set([8, 2, 0, 0, 0], 8);
  let idat = opts.idat;
  if (!idat) {
    const raw = new Uint8Array(h * (1 + w * 3));
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) raw.set(opts.rgb?.(x, y) ?? [x * 40, y * 40, 128], y * (1 + w * 3) + 1 + x * 3);
    idat = zlibSync(raw);
  }
  return concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    ...(opts.extra ?? []),
    pngChunk('IDAT', idat),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** An iCCP chunk whose compressed profile inflates to `bytes`. */
export async function iccpBomb(bytes: number): Promise<Uint8Array> {
  return pngChunk('iCCP', concat([new TextEncoder().encode('bomb\0\0'), await zeroBomb(bytes)]));
}

/** A GIF89a: screen and one frame, 2-colour palette, image data given as raw sub-block bytes or LZW codes. */
export function gif(opts: {
  screen: [number, number];
  frame: [number, number, number, number];
  /** 9-bit LZW codes with min code size 8 (clear = 256, end = 257), written LSB first. */
  codes?: number[];
  data?: Uint8Array;
}): Uint8Array {
  const u16 = (v: number) => [v & 0xff, v >> 8];
  const [sw, sh] = opts.screen;
  const [left, top, w, h] = opts.frame;
  let data = opts.data;
  if (!data) {
    const bytes: number[] = [];
    let acc = 0;
    let bits = 0;
    for (const c of opts.codes ?? []) {
      acc |= c << bits;
      bits += 9;
      while (bits >= 8) {
        bytes.push(acc & 0xff);
        acc >>>= 8;
        bits -= 8;
      }
    }
    if (bits > 0) bytes.push(acc & 0xff);
    data = Uint8Array.from(bytes);
  }
  const blocks: number[] = [];
  for (let o = 0; o < data.length; o += 255) {
    const part = data.subarray(o, o + 255);
    blocks.push(part.length, ...part);
  }
  // A 256-entry global palette: index i is (i, 255 - i, 0).
  const palette: number[] = [];
  for (let i = 0; i < 256; i++) palette.push(i, 255 - i, 0);
  return Uint8Array.from([
    ...new TextEncoder().encode('GIF89a'),
    ...u16(sw),
    ...u16(sh),
    0xf7,
    0,
    0,
    ...palette,
    0x2c,
    ...u16(left),
    ...u16(top),
    ...u16(w),
    ...u16(h),
    0,
    8,
    ...blocks,
    0,
    0x3b,
  ]);
}

/** LZW codes that spell out `indices` literally (a clear code every 250 literals keeps the width at 9 bits). */
export function literalCodes(indices: number[]): number[] {
  const codes = [256];
  indices.forEach((v, i) => {
    if (i > 0 && i % 250 === 0) codes.push(256);
    codes.push(v);
  });
  codes.push(257);
  return codes;
}

type TiffEntry = [tag: number, type: 3 | 4, values: number[]];

/** A little-endian TIFF: `data` blobs first (their offsets passed to `entries`), then one IFD. */
export function tiff(data: Uint8Array[], entries: (offsets: number[]) => TiffEntry[], nextIfd?: 'self'): Uint8Array {
  const offsets: number[] = [];
  let o = 8;
  for (const d of data) {
    offsets.push(o);
    o += d.length + (d.length & 1);
  }
  const list = entries(offsets).sort((a, b) => a[0] - b[0]);
  // Values that do not fit in 4 bytes go after the IFD.
  const ifd = o;
  let extra = ifd + 2 + list.length * 12 + 4;
  const out = new Uint8Array(
    extra +
      list.reduce(
        (n, [, type, v]) => n + (v.length * (type === 3 ? 2 : 4) > 4 ? v.length * (type === 3 ? 2 : 4) : 0),
        0,
      ),
  );
  const dv = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  dv.setUint32(4, ifd, true);
  data.forEach((d, i) => {
    out.set(d, offsets[i]);
  });
  dv.setUint16(ifd, list.length, true);
  list.forEach(([tag, type, values], i) => {
    const e = ifd + 2 + i * 12;
    const size = type === 3 ? 2 : 4;
    dv.setUint16(e, tag, true);
    dv.setUint16(e + 2, type, true);
    dv.setUint32(e + 4, values.length, true);
    let at = e + 8;
    if (values.length * size > 4) {
      dv.setUint32(e + 8, extra, true);
      at = extra;
      extra += values.length * size;
    }
    values.forEach((v, k) => {
      if (size === 2) dv.setUint16(at + k * 2, v, true);
      else dv.setUint32(at + k * 4, v, true);
    });
  });
  dv.setUint32(ifd + 2 + list.length * 12, nextIfd === 'self' ? ifd : 0, true);
  return out;
}

/** Baseline tags of a w×h 8-bit RGB image in one strip at `offset`. */
export function rgbStripTags(w: number, h: number, offset: number, bytes: number, compression = 1): TiffEntry[] {
  return [
    [256, 3, [w]],
    [257, 3, [h]],
    [258, 3, [8, 8, 8]],
    [259, 3, [compression]],
    [262, 3, [2]],
    [273, 4, [offset]],
    [277, 3, [3]],
    [278, 3, [h]],
    [279, 4, [bytes]],
  ];
}

/** A w×h 8-bit RGB TIFF with known pixels, uncompressed. */
export function rgbTiff(w: number, h: number): Uint8Array {
  const pixels = new Uint8Array(w * h * 3).map((_, i) => (i * 37) & 0xff);
  return tiff([pixels], ([off]) => rgbStripTags(w, h, off, pixels.length));
}

/** A progressive JPEG frame header of w×h with `scans` empty scans: tiny file, huge decoding work. */
export function jpegWithScans(w: number, h: number, scans: number): Uint8Array {
  const sof = [0xff, 0xc2, 0, 17, 8, h >> 8, h & 0xff, w >> 8, w & 0xff, 3, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0];
  const sos = [0xff, 0xda, 0, 12, 3, 1, 0, 2, 0, 3, 0, 0, 63, 0];
  const body: number[] = [0xff, 0xd8, ...sof];
  for (let i = 0; i < scans; i++) body.push(...sos);
  body.push(0xff, 0xd9);
  return Uint8Array.from(body);
}

/** Sets the value count of `tag` in the first IFD of a little-endian TIFF. */
export function withTiffCount(b: Uint8Array, tag: number, count: number): Uint8Array {
  const out = b.slice();
  const dv = new DataView(out.buffer);
  const ifd = dv.getUint32(4, true);
  for (let i = 0; i < dv.getUint16(ifd, true); i++)
    if (dv.getUint16(ifd + 2 + i * 12, true) === tag) dv.setUint32(ifd + 2 + i * 12 + 4, count, true);
  return out;
}

export interface HostileCase {
  name: string;
  body: Uint8Array;
  /** The statuses a correct server may answer with (a 200 only where the file is a valid image after all). */
  status: number[];
  message?: RegExp;
}

/** Every input that once hung, killed or ballooned the Worker, rebuilt from scratch. */
export async function hostileCases(bombBytes = 256 << 20): Promise<HostileCase[]> {
  const rgb4 = new Uint8Array(4 * 4 * 3).fill(7);
  return [
    {
      name: 'a TIFF whose IFD chain points back at itself',
      body: tiff([rgb4], ([o]) => rgbStripTags(4, 4, o, rgb4.length), 'self'),
      status: [200],
    },
    {
      name: 'a GIF whose LZW codes reach past the table',
      body: gif({ screen: [4, 4], frame: [0, 0, 4, 4], codes: [256, 1, 259, 260, 261, 262, 257] }),
      status: [422],
      message: /LZW code not yet defined/,
    },
    {
      name: 'a GIF with a 16×16 screen and a 65535×65535 frame',
      body: gif({ screen: [16, 16], frame: [0, 0, 65535, 65535], codes: literalCodes([1, 2, 3]) }),
      status: [422],
      message: /does not fit the 16×16 screen/,
    },
    {
      name: 'a truncated GIF (100 of 1,200 pixels)',
      body: gif({ screen: [40, 30], frame: [0, 0, 40, 30], codes: literalCodes(new Array(100).fill(3)) }),
      status: [422],
      message: /truncated GIF: the first frame has 100 of its 1200 pixels/,
    },
    {
      name: 'a 1×1 PNG whose image data inflates to a bomb',
      body: png(1, 1, { idat: await zeroBomb(bombBytes) }),
      status: [422],
      message: /decompression bomb/,
    },
    {
      name: 'a PNG with an iCCP chunk that inflates to a bomb',
      body: png(4, 4, { extra: [await iccpBomb(bombBytes)] }),
      status: [200],
    },
    {
      name: 'a truncated PNG (image data cut short)',
      body: png(40, 30, { idat: zlibSync(new Uint8Array(30 * (1 + 40 * 3))).subarray(0, 20) }),
      status: [422],
      message: /truncated PNG/,
    },
    {
      name: 'a TIFF whose deflate strip is a bomb',
      body: await (async () => {
        const strip = await zeroBomb(bombBytes);
        return tiff([strip], ([o]) => rgbStripTags(4, 4, o, strip.length, 8));
      })(),
      status: [422],
      message: /decompression bomb/,
    },
    {
      name: 'a 1×1 TIFF with 12000×12000 tiles',
      body: tiff([new Uint8Array(16)], ([o]) => [
        ...rgbStripTags(1, 1, o, 16).filter(([t]) => t !== 273 && t !== 278 && t !== 279),
        [322, 3, [12000]],
        [323, 3, [12000]],
        [324, 4, [o]],
        [325, 4, [16]],
      ]),
      status: [422],
      message: /12000×12000 tiles for a 1×1 image/,
    },
    {
      name: 'a TIFF with a BitsPerSample count of 2³¹−1',
      body: withTiffCount(rgbTiff(4, 4), 258, 0x7fffffff),
      status: [422],
      message: /tag 258 holds 2147483647 values/,
    },
    {
      name: 'a TIFF whose strip lies past the end of the file',
      body: tiff([rgb4], () => rgbStripTags(4, 4, 100_000, rgb4.length)),
      status: [422],
      message: /strip 0 runs past the end of the file/,
    },
    {
      name: 'a TIFF whose strip is short',
      body: tiff([rgb4.subarray(0, 20)], ([o]) => rgbStripTags(4, 4, o, 20)),
      status: [422],
      message: /truncated TIFF strip 0: 20 of 48 bytes/,
    },
    {
      name: 'a 1500×1500 progressive JPEG with 2,000 empty scans',
      body: jpegWithScans(1500, 1500, 2000),
      status: [422],
      message: /2000 scans over 1500×1500 pixels/,
    },
  ];
}
