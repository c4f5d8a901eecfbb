/** POST /v1/embeddings (OpenAI-compatible, text or data-URI images) and POST /v1/images/embeddings (raw or multipart). */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { encodeBase64 } from '../../contracts/base64.ts';
import type { Precision } from '../../contracts/manifest.ts';
import { embedImages } from '../../model/pipelines/embed-images.ts';
import { embedTexts } from '../../model/pipelines/embed-texts.ts';
import type { Embeddings } from '../../model/pipelines/rows.ts';
import type { AppEnv } from '../app-env.ts';
import { doc } from '../openapi.ts';
import { checkModel, imageInputs, invalid, precisionFor, readImageUpload, withFallback } from '../request-options.ts';
import type { ApiSchemas } from '../schemas.ts';
import { jsonBody, queryParams } from '../validate.ts';

function respond(
  c: Context<AppEnv>,
  model: string,
  run: { result: Embeddings; precision: Precision; degraded: boolean },
  format: 'float' | 'base64',
  usage: Record<string, unknown>,
) {
  const { result: emb, precision, degraded } = run;
  const data = [];
  for (let i = 0; i < emb.data.length / emb.dim; i++) {
    const row = emb.data.subarray(i * emb.dim, (i + 1) * emb.dim);
    const embedding =
      format === 'base64' ? encodeBase64(new Uint8Array(row.buffer, row.byteOffset, row.byteLength)) : Array.from(row);
    data.push({ object: 'embedding', index: i, embedding });
  }
  c.header('x-precision', precision);
  return c.json({ object: 'list', data, model, precision, ...(degraded ? { degraded } : {}), usage });
}

/** What an embedding request can be refused with: bad options, unknown model, limits, media, decoding, unavailable. */
// 401 and 429 when API keys and rate limits are on; 502 and 504 from image URLs.
const ERRORS = [400, 401, 404, 413, 415, 422, 429, 502, 503, 504];

export function embeddingsRoutes(api: ApiSchemas) {
  const answers = { tag: 'embeddings', ok: api.EmbeddingsResponse, errors: ERRORS } as const;
  return new Hono<AppEnv>()
    .post(
      '/v1/embeddings',
      doc({
        summary: 'Text or image embeddings (OpenAI-compatible); images as data:image/...;base64, URIs or https:// URLs',
        body: { json: api.EmbeddingsRequest },
        ...answers,
      }),
      jsonBody(api.EmbeddingsRequest),
      async (c) => {
        const { config, model } = c.get('deps');
        const body = c.req.valid('json');
        const inputs = typeof body.input === 'string' ? [body.input] : body.input;
        const format = body.encoding_format ?? 'float';
        const modelId = await checkModel(c, body.model);
        const { embedDim } = await model.manifest();
        if (body.dimensions !== undefined && body.dimensions !== embedDim)
          throw invalid(
            `dimensions must be ${embedDim}: this model's embeddings are not trained to be cut to ${body.dimensions} (leave it out, or truncate and renormalize yourself)`,
          );
        const common = { timing: c.get('timing'), cache: c.get('cache'), signal: c.get('signal') };
        if (body.modality === 'image') {
          const precision = await precisionFor(c, 'image', body.precision);
          const images = await imageInputs(c, inputs, 'input');
          const options = {
            ...common,
            orientation: body.orientation,
            maxPixels: config.maxImagePixels,
            maxDecodeBytes: config.maxDecodeBytes,
          };
          const run = await withFallback(c, precision, body.fallback, (p) =>
            embedImages(model, images, { ...options, precision: p }),
          );
          return respond(c, modelId, run, format, { images: images.length, prompt_tokens: 0, total_tokens: 0 });
        }
        const precision = await precisionFor(c, 'text', body.precision);
        const run = await withFallback(c, precision, body.fallback, (p) =>
          embedTexts(model, inputs, { ...common, precision: p }),
        );
        const tokens = run.result.tokens.reduce((a, b) => a + b, 0);
        return respond(c, modelId, run, format, {
          prompt_tokens: tokens,
          total_tokens: tokens,
          truncated_inputs: run.result.truncated,
        });
      },
    )
    .post(
      '/v1/images/embeddings',
      doc({
        summary: 'The embedding of one image sent raw (image/*) or as the multipart field "image"',
        body: {
          media: ['image/jpeg', 'image/png', 'image/webp', 'image/avif', 'multipart/form-data'],
          description:
            'JPEG, PNG, GIF, BMP, TIFF, WebP or AVIF; at most MAX_BODY_BYTES, MAX_IMAGE_PIXELS and the decode memory MAX_DECODE_BYTES allows',
        },
        query: api.ImageQuery,
        ...answers,
      }),
      queryParams(api.ImageQuery),
      async (c) => {
        const { config, model } = c.get('deps');
        const query = c.req.valid('query');
        const { image } = await readImageUpload(c.req.raw, config.maxBodyBytes);
        const modelId = await checkModel(c, query.model);
        const precision = await precisionFor(c, 'image', query.precision);
        const options = {
          timing: c.get('timing'),
          cache: c.get('cache'),
          signal: c.get('signal'),
          orientation: query.orientation,
          maxPixels: config.maxImagePixels,
          maxDecodeBytes: config.maxDecodeBytes,
        };
        const run = await withFallback(c, precision, query.fallback, (p) =>
          embedImages(model, [image], { ...options, precision: p }),
        );
        return respond(c, modelId, run, query.encoding_format ?? 'float', { images: 1 });
      },
    );
}
