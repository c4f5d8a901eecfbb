/**
 * One walk over a JPEG's markers, entropy-coded data included: the frame header, the number of scans and whether the
 * file ends properly. Every JPEG check (declared size before decoding, completeness, decoding work, EXIF) reads this.
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

const SOS = 0xda;
const EOI = 0xd9;
const isRestart = (m: number) => m >= 0xd0 && m <= 0xd7;

/** A marker and its payload (`at`, `length` bytes; 0 for standalone markers). The payload may run past a cut file. */
export interface JpegSegment {
  marker: number;
  at: number;
  length: number;
}

/**
 * The one walk over a JPEG's markers, in file order, up to and including EOI; each scan's entropy-coded data is
 * skipped. Ends early when the file is cut; throws where a marker should be and is not.
 */
export function* jpegSegments(b: Uint8Array): Generator<JpegSegment> {
  let p = 2;
  while (p + 1 < b.length) {
    if (b[p] !== 0xff) throw bad('corrupt JPEG: marker expected');
    const marker = b[p + 1];
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    if (marker === EOI || marker === 0x01 || isRestart(marker)) {
      yield { marker, at: p + 2, length: 0 };
      if (marker === EOI) return;
      p += 2;
      continue;
    }
    if (p + 4 > b.length) return;
    const len = (b[p + 2] << 8) | b[p + 3];
    if (len < 2) throw bad('corrupt JPEG: segment length below 2');
    yield { marker, at: p + 4, length: len - 2 };
    p += 2 + len;
    // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart marker.
    if (marker === SOS) while (p + 1 < b.length && !(b[p] === 0xff && b[p + 1] !== 0 && !isRestart(b[p + 1]))) p++;
  }
}

function walk(b: Uint8Array, frameOnly: boolean): JpegStructure {
  let frame: Omit<JpegStructure, 'scans'> | undefined;
  let scans = 0;
  for (const { marker, at } of jpegSegments(b)) {
    if (marker === EOI) {
      if (!frame) break;
      if (scans === 0) throw bad('truncated JPEG: no image data (SOS marker missing)');
      return { ...frame, scans };
    }
    if (isFrameMarker(marker)) {
      if (at + 6 > b.length) break;
      frame = {
        height: (b[at + 1] << 8) | b[at + 2],
        width: (b[at + 3] << 8) | b[at + 4],
        components: b[at + 5],
        progressive: marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce,
      };
      if (frameOnly) return { ...frame, scans: 0 };
    }
    if (marker === SOS) {
      if (!frame) throw bad('corrupt JPEG: scan before the frame header');
      scans++;
    }
  }
  if (!frame) throw bad('truncated JPEG: no frame header');
  if (scans === 0) throw bad('truncated JPEG: no image data (SOS marker missing)');
  throw bad('truncated JPEG: end-of-image marker missing');
}
