/** The decoded picture every decoder produces: 8-bit RGB, interleaved, row-major (PIL's mode "RGB"). */
export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 bytes. */
  data: Uint8Array;
}

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'bmp' | 'tiff' | 'webp';
