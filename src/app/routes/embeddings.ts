/** POST /v1/embeddings (OpenAI-compatible, text or data-URI images) and POST /v1/images/embeddings (raw or multipart). */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { encodeBase64 } from '../../contracts/base64.ts';
import { EdgeClipError } from '../../contracts/errors.ts';
import type { Precision } from '../../contracts/manifest.ts';
import { type Embeddings, embedImages, embedTexts } from '../../model/embed.ts';
import type { AppEnv } from '../app-env.ts';
import { readJson } from '../request-body.ts';
import {
  checkModel,
  checkText,
  decodeDataUri,
  invalid,
  readImageUpload,
  resolveOrientation,
  resolvePrecision,
  withFallback,
} from '../request-options.ts';

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

export const embeddingsRoutes = new Hono<AppEnv>()
  .post('/v1/embeddings', async (c) => {
    const { config, models } = c.get('deps');
    const body = await readJson(c.req.raw, config.maxBodyBytes);
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (!Array.isArray(inputs) || inputs.length === 0)
      throw invalid('input must be a string or a non-empty array of strings');
    if (inputs.length > config.maxInputs)
      throw new EdgeClipError(
        'PAYLOAD_TOO_LARGE',
        `at most ${config.maxInputs} inputs per request (got ${inputs.length})`,
      );
    if (!inputs.every((s) => typeof s === 'string')) throw invalid('every input must be a string');
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') throw invalid('encoding_format must be "float" or "base64"');
    const modality = body.modality ?? 'text';
    if (modality !== 'text' && modality !== 'image') throw invalid('modality must be "text" or "image"');
    const model = await checkModel(c, body.model);
    const timing = c.get('timing');

    if (modality === 'image') {
      const precision = await resolvePrecision(c, 'image', body.precision);
      const images = (inputs as string[]).map((s, i) => decodeDataUri(s, `input[${i}]`));
      const options = { orientation: resolveOrientation(body.orientation), maxPixels: config.maxImagePixels };
      const run = await withFallback(c, precision, body.fallback, (p) =>
        embedImages(models, images, p, timing, options, c.get('cache')),
      );
      return respond(c, model, run, format, { images: images.length, prompt_tokens: 0, total_tokens: 0 });
    }
    const precision = await resolvePrecision(c, 'text', body.precision);
    (inputs as string[]).forEach((s, i) => {
      checkText(s, config.maxTextChars, `input[${i}]`);
    });
    const run = await withFallback(c, precision, body.fallback, (p) =>
      embedTexts(models, inputs as string[], p, timing, c.get('cache')),
    );
    const tokens = run.result.tokens.reduce((a, b) => a + b, 0);
    return respond(c, model, run, format, {
      prompt_tokens: tokens,
      total_tokens: tokens,
      truncated_inputs: run.result.truncated,
    });
  })
  .post('/v1/images/embeddings', async (c) => {
    const { config, models } = c.get('deps');
    const { image } = await readImageUpload(c.req.raw, config.maxBodyBytes);
    const model = await checkModel(c, c.req.query('model'));
    const precision = await resolvePrecision(c, 'image', undefined);
    const format = c.req.query('encoding_format') ?? 'float';
    if (format !== 'float' && format !== 'base64') throw invalid('encoding_format must be "float" or "base64"');
    const options = { orientation: resolveOrientation(c.req.query('orientation')), maxPixels: config.maxImagePixels };
    const run = await withFallback(c, precision, c.req.query('fallback'), (p) =>
      embedImages(models, [image], p, c.get('timing'), options, c.get('cache')),
    );
    return respond(c, model, run, format, { images: 1 });
  });
