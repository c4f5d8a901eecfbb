/** POST /v1/preprocess: the image the model sees (the crop before normalization) as a PNG, with where it came from. */
import { Hono } from 'hono';
import { modelInputPng } from '../../model/pipelines/model-input.ts';
import type { AppEnv } from '../app-env.ts';
import { doc } from '../openapi.ts';
import { readImageUpload } from '../request-options.ts';
import type { ApiSchemas } from '../schemas.ts';
import { queryParams } from '../validate.ts';

/** The answer's headers: what a page needs to draw the crop on the original. */
export const MODEL_INPUT_HEADERS = {
  'x-original-size': 'WxH of the picture the resize started from (after the EXIF rotation, when one was applied)',
  'x-orientation': 'the EXIF orientation applied, 1 to 8 (1: none; only with orientation=exif)',
  'x-resize': 'WxH it was resized to (shortest side to the model size, PIL bicubic)',
  'x-crop-box': 'left,top,width,height of the crop, in the resized picture',
} as const;

export function preprocessRoutes(api: ApiSchemas) {
  return new Hono<AppEnv>().post(
    '/v1/preprocess',
    doc({
      summary: 'What the model sees: the resized, centre-cropped RGB image before normalization, as a PNG',
      tag: 'embeddings',
      body: {
        media: ['image/jpeg', 'image/png', 'image/webp', 'image/avif', 'multipart/form-data'],
        description: 'the same inputs as /v1/images/embeddings, with the same limits',
      },
      query: api.PreprocessQuery,
      ok: {
        media: 'image/png',
        description:
          'the model input before normalization (lossless: ToTensor and Normalize of these pixels are the tensor)',
        headers: MODEL_INPUT_HEADERS,
      },
      errors: [400, 401, 413, 415, 422, 429],
    }),
    queryParams(api.PreprocessQuery),
    async (c) => {
      const { config, model } = c.get('deps');
      const { image } = await readImageUpload(c.req.raw, config.maxBodyBytes);
      const { png, view } = await modelInputPng(model, image, {
        timing: c.get('timing'),
        orientation: c.req.valid('query').orientation,
        maxPixels: config.maxImagePixels,
        maxDecodeBytes: config.maxDecodeBytes,
      });
      const { left, top, size } = view.crop;
      return c.body(png as Uint8Array<ArrayBuffer>, 200, {
        'content-type': 'image/png',
        'x-original-size': `${view.width}x${view.height}`,
        'x-orientation': String(view.orientation),
        'x-resize': `${view.resized.width}x${view.resized.height}`,
        'x-crop-box': `${left},${top},${size},${size}`,
      });
    },
  );
}
