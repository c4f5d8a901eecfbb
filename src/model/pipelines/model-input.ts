/**
 * What the model sees of an image: the S×S crop of OpenCLIP's eval transform, before normalization, as a PNG (jimp's
 * encoder), with where it came from (original size, EXIF orientation applied, resize, crop box).
 */

import type { ClipModel } from '../clip-model.ts';
import { rgbToPng } from '../image/encode-png.ts';
import { type Orientation, type PreprocessView, preprocessToRgb } from '../image/preprocess-image.ts';
import { NO_TIMING, type PipelineOptions } from './rows.ts';

export interface ModelInputOptions extends Pick<PipelineOptions, 'timing'> {
  orientation?: Orientation;
  maxPixels: number;
  maxDecodeBytes?: number;
}

export async function modelInputPng(
  model: ClipModel,
  bytes: Uint8Array,
  options: ModelInputOptions,
): Promise<{ png: Uint8Array; view: PreprocessView }> {
  const { preprocess } = await model.manifest();
  const timing = options.timing ?? NO_TIMING;
  const r = await preprocessToRgb(bytes, preprocess, { ...options, decoders: model.decoders });
  timing.add('decode', r.decodeMs);
  timing.add('preprocess', r.resizeMs);
  const png = await timing.measure('encode', () => rgbToPng(r.rgb, preprocess.size, preprocess.size));
  return { png, view: r.view };
}
