/**
 * One walk over a JPEG's markers, entropy-coded data included: the frame header, the number of scans and whether the
 * file ends properly. Every JPEG check (declared size before decoding, completeness, decoding work) reads this.
 */
import { EdgeClipError } from '../../contracts/errors.ts';

export interface JpegStructure {
  width: number;
  height: number;
  components: number;
  progressive: boolean;
  /** Start-of-scan markers: each one is a pass of the decoder over the whole image. */
  scans: number;
}

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

/** SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size. */
const isFrameMarker = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** Reads the frame header only (what the size probe needs): stops at the first SOF. */
export function jpegFrame(b: Uint8Array): JpegStructure {
  return walk(b, true);
}

/** The whole structure; refuses a file whose image data or end-of-image marker is missing (truncated). */
export function jpegStructure(b: Uint8Array): JpegStructure {
  return walk(b, false);
}

function walk(b: Uint8Array, frameOnly: boolean): JpegStructure {
  let frame: Omit<JpegStructure, 'scans'> | undefined;
  let scans = 0;
  let p = 2;
  while (p + 1 < b.length) {
    if (b[p] !== 0xff) throw bad('corrupt JPEG: marker expected');
    const marker = b[p + 1];
    if (marker === 0xff) {
      p++;
      continue;
    }
    if (marker === 0xd9) {
      if (!frame) break;
      if (scans === 0) throw bad('truncated JPEG: no image data (SOS marker missing)');
      return { ...frame, scans };
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2;
      continue;
    }
    if (p + 4 > b.length) break;
    const len = (b[p + 2] << 8) | b[p + 3];
    if (len < 2) throw bad('corrupt JPEG: segment length below 2');
    if (isFrameMarker(marker)) {
      if (p + 10 > b.length) break;
      frame = {
        height: (b[p + 5] << 8) | b[p + 6],
        width: (b[p + 7] << 8) | b[p + 8],
        components: b[p + 9],
        progressive: marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce,
      };
      if (frameOnly) return { ...frame, scans: 0 };
    }
    p += 2 + len;
    if (marker === 0xda) {
      if (!frame) throw bad('corrupt JPEG: scan before the frame header');
      scans++;
      // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart marker.
      while (p + 1 < b.length && !(b[p] === 0xff && b[p + 1] !== 0 && (b[p + 1] < 0xd0 || b[p + 1] > 0xd7))) p++;
    }
  }
  if (!frame) throw bad('truncated JPEG: no frame header');
  if (scans === 0) throw bad('truncated JPEG: no image data (SOS marker missing)');
  throw bad('truncated JPEG: end-of-image marker missing');
}
