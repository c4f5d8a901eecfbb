/** EXIF Orientation (tag 0x0112) of a JPEG, and applying it (PIL's ImageOps.exif_transpose). */
import { jpegSegments } from './jpeg-structure.ts';
import type { RgbImage } from './rgb-image.ts';

/** 1..8, or 1 when the JPEG has no EXIF orientation (or no readable one). */
export function readJpegOrientation(b: Uint8Array): number {
  try {
    for (const { marker, at } of jpegSegments(b)) {
      if (marker === 0xda) break;
      // APP1 "Exif\0\0" followed by a TIFF header.
      if (marker === 0xe1 && b[at] === 0x45 && b[at + 1] === 0x78 && b[at + 2] === 0x69 && b[at + 3] === 0x66)
        return tiffOrientation(b, at + 6);
    }
  } catch {
    // A marker walk that fails here has no orientation to give; decoding reports the damage.
  }
  return 1;
}

function tiffOrientation(b: Uint8Array, t: number): number {
  if (t + 8 > b.length) return 1;
  const le = b[t] === 0x49;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ifd = t + dv.getUint32(t + 4, le);
  if (ifd + 2 > b.length) return 1;
  const n = dv.getUint16(ifd, le);
  for (let i = 0; i < n && ifd + 2 + i * 12 + 10 <= b.length; i++) {
    const e = ifd + 2 + i * 12;
    if (dv.getUint16(e, le) === 0x0112) {
      const v = dv.getUint16(e + 8, le);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** Returns the image as it should be displayed for `orientation` (a new image unless orientation is 1). */
export function applyOrientation(img: RgbImage, orientation: number): RgbImage {
  if (orientation <= 1 || orientation > 8) return img;
  const { width: w, height: h, data, channels } = img;
  const swap = orientation >= 5;
  const W = swap ? h : w;
  const H = swap ? w : h;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      // (sx, sy): the stored pixel shown at display position (x, y).
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2:
          sx = w - 1 - x;
          sy = y;
          break;
        case 3:
          sx = w - 1 - x;
          sy = h - 1 - y;
          break;
        case 4:
          sx = x;
          sy = h - 1 - y;
          break;
        case 5:
          sx = y;
          sy = x;
          break;
        case 6:
          sx = y;
          sy = h - 1 - x;
          break;
        case 7:
          sx = w - 1 - y;
          sy = h - 1 - x;
          break;
        default:
          sx = w - 1 - y;
          sy = x;
          break;
      }
      const s = (sy * w + sx) * channels;
      const d = (y * W + x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width: W, height: H, channels: 3, data: out };
}
