/**
 * WebP decoding with libwebp compiled to wasm, the library PIL uses: lossy (with libwebp's default "fancy" chroma
 * upsampling), lossless and alpha. An animation gives its first frame as PIL shows it: the frame decoded into its
 * place on a transparent canvas (a key frame is never blended), the rest of the canvas transparent black.
 */
import decodeLibwebp from '@jsquash/webp/decode.js';
import { EdgeClipError } from '../../contracts/errors.ts';
import { type RgbImage, rgbaImage } from './rgb-image.ts';
import type { WasmCodec } from './wasm-codec.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

interface Chunk {
  fourcc: string;
  /** Offset of the chunk header (fourcc) in the file. */
  at: number;
  size: number;
}

/** The RIFF chunks after "WEBP", bounds-checked: a chunk that claims more bytes than the file has is refused. */
function* chunks(b: Uint8Array, from: number, to: number): Generator<Chunk> {
  let p = from;
  while (p + 8 <= to) {
    const size = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
    if (p + 8 + size > to) throw bad('truncated WebP: a chunk runs past the end of the file');
    yield { fourcc: String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3]), at: p, size };
    p += 8 + size + (size & 1);
  }
}

const u24 = (b: Uint8Array, p: number) => b[p] | (b[p + 1] << 8) | (b[p + 2] << 16);

function riff(parts: Uint8Array[]): Uint8Array {
  const size = 4 + parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(8 + size);
  out.set([0x52, 0x49, 0x46, 0x46, size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, size >>> 24], 0);
  out.set([0x57, 0x45, 0x42, 0x50], 8);
  let p = 12;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/**
 * The first frame of an animation as a still WebP of its own, with where it goes on the canvas. The frame must lie on
 * the canvas (whose size the pixel limit checked), and its file always states the frame's size in a VP8X header:
 * libwebp refuses a still image whose bitstream is another size, so a frame cannot decode larger than it says.
 */
function firstFrame(
  b: Uint8Array,
  end: number,
  canvas: { width: number; height: number },
): { file: Uint8Array; x: number; y: number } {
  for (const c of chunks(b, 12, end)) {
    if (c.fourcc !== 'ANMF') continue;
    if (c.size < 16) throw bad('corrupt WebP: animation frame header cut');
    const h = c.at + 8;
    const [x, y, width, height] = [u24(b, h) * 2, u24(b, h + 3) * 2, u24(b, h + 6) + 1, u24(b, h + 9) + 1];
    if (x + width > canvas.width || y + height > canvas.height) throw bad('corrupt WebP: a frame outside the canvas');
    const data = b.subarray(h + 16, h + c.size);
    const alpha = [...chunks(data, 0, data.length)].some((f) => f.fourcc === 'ALPH') ? 0x10 : 0;
    const vp8x = new Uint8Array(18);
    vp8x.set([0x56, 0x50, 0x38, 0x58, 10, 0, 0, 0, alpha]);
    vp8x.set([(width - 1) & 0xff, ((width - 1) >> 8) & 0xff, (width - 1) >> 16], 12);
    vp8x.set([(height - 1) & 0xff, ((height - 1) >> 8) & 0xff, (height - 1) >> 16], 15);
    return { file: riff([vp8x, data]), x, y };
  }
  throw bad('corrupt WebP: an animation without frames');
}

export async function decodeWebp(b: Uint8Array, codec: WasmCodec, pixels: number): Promise<RgbImage> {
  if (b.length < 16) throw bad('truncated WebP');
  const end = Math.min(b.length, 8 + ((b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0));
  const head = chunks(b, 12, end).next().value;
  const animated = head?.fourcc === 'VP8X' && head.size >= 10 && (b[head.at + 8] & 0x02) !== 0;
  const decode = (file: Uint8Array) => codec.run(() => decodeLibwebp(file.slice().buffer), pixels);
  if (!animated || !head) {
    const img = await decode(b);
    return rgbaImage(img.data, img.width, img.height);
  }
  const width = u24(b, head.at + 12) + 1;
  const height = u24(b, head.at + 15) + 1;
  const { file, x, y } = firstFrame(b, end, { width, height });
  // Its VP8X header made libwebp hold the frame to the size firstFrame placed on the canvas.
  const frame = await decode(file);
  const data = new Uint8Array(width * height * 3);
  for (let row = 0; row < frame.height; row++) {
    for (let col = 0; col < frame.width; col++) {
      const s = (row * frame.width + col) * 4;
      const d = ((y + row) * width + x + col) * 3;
      data[d] = frame.data[s];
      data[d + 1] = frame.data[s + 1];
      data[d + 2] = frame.data[s + 2];
    }
  }
  return { width, height, channels: 3, data };
}
